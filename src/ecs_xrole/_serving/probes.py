"""The two paths the credentials server answers without the token: health probes and scrapes.

``GET /healthz`` (:mod:`.health`) and ``GET /metrics`` (:mod:`.metrics`) each draw from a rate
budget of their own and take no body; a probe is answered by the reading loop, a scrape by a
worker. A mixin of :class:`~ecs_xrole._serving.server.CredentialsServer`, kept apart so that
the server module holds the loop and the credential paths. See docs/design.md, "The
credentials server".
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from .wire import RateLimiter, _answer_and_close, _Refusal

if TYPE_CHECKING:
    from .metrics import Metrics
    from .server import Health, _Pending

log = logging.getLogger("ecs_xrole.server")


class _TokenlessPaths:
    """What :class:`~ecs_xrole._serving.server.CredentialsServer` answers without the token."""

    _health: Health | None
    _probes: RateLimiter
    _metrics: Metrics | None
    _scrapes: RateLimiter | None

    if TYPE_CHECKING:

        def _counted(self, shown: tuple[str, str], status: int) -> None: ...

        def _log(self, pending: _Pending, shown: tuple[str, str], status: int) -> None: ...

    def _probe(
        self,
        pending: _Pending,
        method: str,
        headers: list[tuple[str, str]],
        shown: tuple[str, str],
    ) -> None:
        """``GET /healthz``: no token asked (an ``Authorization`` header is ignored), its own
        rate budget; answered here, in the reading loop, by one non-blocking send (the health
        callable never waits). Raises :class:`_Refusal`."""
        assert self._health is not None
        self._admit(self._probes, method, headers)
        try:
            status, body = self._health()
        except Exception:  # never a traceback: say that it failed, and answer so
            log.warning("credentials endpoint: the health status could not be made")
            raise _Refusal(500, "the health status could not be made") from None
        self._counted(shown, status)
        _answer_and_close(pending.conn, status, body, {}, wait=False)
        self._log(pending, shown, status)

    @staticmethod
    def _admit(budget: RateLimiter, method: str, headers: list[tuple[str, str]]) -> None:
        """What a path without the token admits (``/healthz``, ``/metrics``): a request within
        its own rate ``budget``, GET only, no body. Raises :class:`_Refusal` (429, 405, 400)."""
        wait = budget.take()
        if wait:
            raise _Refusal(429, "too many requests", {"Retry-After": str(max(1, math.ceil(wait)))})
        if method != "GET":
            raise _Refusal(405, "only GET is allowed", {"Allow": "GET"})
        for name, value in headers:
            if name == "transfer-encoding" or (name == "content-length" and value != "0"):
                raise _Refusal(400, "a GET request carries no body")

    def _answer_scrape(self, pending: _Pending, shown: tuple[str, str]) -> None:
        """A worker: the metrics' text (no I/O while making it), then close."""
        assert self._metrics is not None
        body = self._metrics.render()
        self._counted(shown, 200)  # after the text: a scrape shows in the next one
        _answer_and_close(
            pending.conn, 200, body, {}, wait=True, content_type=self._metrics.content_type
        )
        self._log(pending, shown, 200)
