"""What a credentials object reports about itself: CredentialsStatus and error codes.

:func:`credentials_status` lists every live object's state (role, expiry, last refresh and
its error type and code), built from names, times and codes only, so that a health endpoint
or a log line can show it without a secret.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._refresh import RefreshingCredentials


Clock = Callable[[], float]

_ALL: weakref.WeakSet[RefreshingCredentials] = weakref.WeakSet()

_SEQ = itertools.count()  # creation order, for credentials_status()


def credentials_status() -> tuple[CredentialsStatus, ...]:
    """The status of every refreshing credentials object alive in this process, oldest first.

    These are the shared objects: one per option set made by :func:`ecs_xrole.get_credentials`,
    :func:`~ecs_xrole.get_session`, :func:`~ecs_xrole.get_client` and :mod:`ecs_xrole.aio`
    (the same objects), and the task role's own, one per endpoint, that they assume from
    (``method`` ``ecs-xrole-container``); plus any :class:`RefreshingCredentials` an
    application made itself. No I/O, no lock held while a refresh runs, no secret: cheap
    enough for every request of a health endpoint. See :class:`CredentialsStatus`.
    """
    while True:
        try:  # another thread may make credentials meanwhile: the set changes size
            found = sorted(_ALL, key=lambda credentials: credentials._seq)
            break
        except RuntimeError:  # pragma: no cover - a rare race
            continue
    return tuple(credentials.status() for credentials in found)


def _utc(timestamp: float | None) -> datetime | None:
    if timestamp is None or timestamp == float("inf"):
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def error_code(exc: BaseException) -> str | None:
    """The machine-readable code of a refresh failure, never a secret.

    The STS error code of an :class:`~ecs_xrole.errors.AssumeRoleError` (``AccessDenied``,
    ``Throttling``...), the endpoint's own error code of an
    :class:`~ecs_xrole.errors.EndpointRequestError`, else its HTTP status (``"500"``); for an
    error wrapping another (``CredentialsUnavailableError``), the code of its cause. ``None``
    when no answer came (a timeout, a refused connection).
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        code = getattr(seen, "code", None)
        if isinstance(code, str) and code:
            return code
        status = getattr(seen, "status", None)
        if isinstance(status, int):
            return str(status)
        seen = seen.__cause__
    return None


#: What :attr:`CredentialsStatus.state` can be.
State = Literal["ok", "degraded", "failing", "pending"]


@dataclass(frozen=True)
class CredentialsStatus:
    """What one :class:`RefreshingCredentials` object is doing, for a health endpoint.

    A snapshot taken by :func:`credentials_status` (or :meth:`RefreshingCredentials.status`);
    it holds no secret: no key, session token, endpoint token or credentials ID. Times are
    timezone-aware UTC.

    ``state`` is ``"ok"`` (credentials in hand, refreshes succeed), ``"degraded"`` (refreshes
    fail but the credentials in hand are still served: static stability, no caller sees an
    error yet), ``"failing"`` (refreshes fail and callers get the error: nothing loaded yet,
    or inside the mandatory margin before expiry) or ``"pending"`` (nothing asked for yet).

    ``description`` names the object as log lines do (``role arn:...``, ``task role
    credentials from http://...``); ``method`` is its botocore credentials method:
    ``ecs-xrole-assume-role`` for a destination role's, ``ecs-xrole-container`` for the task
    role's. ``role_arn`` and ``account_id`` are those of the credentials in hand (for a role
    not loaded yet, the role being assumed, when known). ``expiry`` and ``expires_in``
    (seconds, at the time of the snapshot) are those of the credentials in hand;
    ``last_refresh`` is when they arrived, ``next_refresh`` when the next background attempt
    is planned and ``failing_since`` when the current streak of failures began (``None``
    while refreshes succeed).

    ``last_error`` (the exception's type name, such as ``AssumeRoleDeniedError``),
    ``last_error_code`` (STS's error code, such as ``AccessDenied`` or ``Throttling``; the
    endpoint's error code, else its HTTP status such as ``"503"``; ``None`` when no answer
    came) and ``last_error_at`` describe the most recent failed attempt, and are kept after a
    later success (compare ``last_error_at`` with ``last_refresh``, or look at ``state``).
    ``refreshes`` and ``failures`` count the successful and the failed attempts since the
    object was made, the first load included; ``consecutive_failures`` counts the failures
    since the last success.
    """

    description: str
    method: str
    role_arn: str | None
    account_id: str | None
    state: State
    expiry: datetime | None
    expires_in: float | None
    last_refresh: datetime | None
    next_refresh: datetime | None
    failing_since: datetime | None
    last_error: str | None
    last_error_code: str | None
    last_error_at: datetime | None
    refreshes: int
    failures: int
    consecutive_failures: int

    def as_dict(self) -> dict[str, str | int | float | None]:
        """The fields as a JSON-ready dict: times as ISO 8601 strings (``...Z``),
        ``expires_in`` rounded to whole seconds."""
        return {
            "description": self.description,
            "method": self.method,
            "role_arn": self.role_arn,
            "account_id": self.account_id,
            "state": self.state,
            "expiry": _iso(self.expiry),
            "expires_in": None if self.expires_in is None else round(self.expires_in),
            "last_refresh": _iso(self.last_refresh),
            "next_refresh": _iso(self.next_refresh),
            "failing_since": _iso(self.failing_since),
            "last_error": self.last_error,
            "last_error_code": self.last_error_code,
            "last_error_at": _iso(self.last_error_at),
            "refreshes": self.refreshes,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
        }
