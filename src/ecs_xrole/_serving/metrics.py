"""Prometheus metrics of the credentials endpoint: ``GET /metrics`` under ``--metrics``.

Requests answered, refreshes, AssumeRole durations, the task role's fetches and the seconds
until each role's credentials expire, in the Prometheus text format 0.0.4; no label or value
is ever a secret. A writer of our own rather than prometheus-client (a dependency the core
does not take, 10 ms to import, a global registry). Counts come through seams
(:meth:`Metrics.answered`, :func:`ecs_xrole._observe.observe_fetches`, the live credentials'
status): nothing is patched or counted twice. Imported only with ``--metrics``. See
docs/design.md, "The credentials server".
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable

from .._observe import observe_fetches
from .._refresh import RefreshingCredentials
from .._status import credentials_status
from .health import HEALTH_PATH

#: The answer's ``Content-Type`` (the text exposition format, version 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Where the endpoint answers with the metrics.
PATH = "/metrics"
#: Scrapes a second, and the burst above it: a budget of their own, apart from the SDKs' (and
#: from clients with a wrong token), so that neither can use up the other's.
SCRAPE_RATE = 2.0
SCRAPE_BURST = 10
#: Upper bounds (seconds) of the AssumeRole duration histogram's buckets; the last finite one
#: is the wall-clock bound of one AssumeRole (:data:`ecs_xrole._assume.STS_DEADLINE`).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)

_OTHER = "other"  # the path label of a request for no known path (never the client's text)
_ASSUME_METHOD = "ecs-xrole-assume-role"
_CONTAINER_METHOD = "ecs-xrole-container"


def escape_label_value(value: str) -> str:
    """A label value as the text format writes it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Histogram:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)  # per bucket; the last is +Inf
        self.count = 0
        self.sum = 0.0


class Metrics:
    """The counts behind ``GET /metrics`` and the writer of its text.

    Make one, call :meth:`observe_fetches` before the roles are loaded (so that their first
    AssumeRole is timed), :meth:`add_role` for each path served, pass it to
    :class:`~ecs_xrole._serving.server.CredentialsServer` (``metrics=``), and :meth:`close`
    at the end.

    Lock contract: one lock guards the request counts and the histograms. It is held only to
    add one observation or to copy them for a scrape: never while formatting, calling a
    credentials object or taking another lock, so the server's hot path waits at most for
    another thread's dictionary update. Everything else is read at scrape time without a lock,
    from the credentials objects' lock-free status snapshots.
    """

    path = PATH
    content_type = CONTENT_TYPE
    rate = SCRAPE_RATE
    burst = SCRAPE_BURST

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = {}
        self._durations: dict[tuple[str, str], _Histogram] = {}
        self._roles: dict[str, tuple[str, RefreshingCredentials]] = {}
        self._paths: frozenset[str] = frozenset({PATH, HEALTH_PATH})
        self._stop: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"Metrics(paths={sorted(self._paths)})"

    # -- what is counted ------------------------------------------------------------------------

    def add_role(self, path: str, role_arn: str, credentials: RefreshingCredentials) -> None:
        """Report ``credentials`` (served at ``path``): refreshes and seconds until expiry.
        Call it before the server starts (the roles are read without the lock)."""
        self._roles[path] = (role_arn, credentials)
        self._paths = frozenset({PATH, HEALTH_PATH, *self._roles})

    def observe_fetches(self) -> None:
        """Time every AssumeRole of this process from now on (idempotent)."""
        if self._stop is None:
            self._stop = observe_fetches(self._fetched)

    def close(self) -> None:
        """Stop timing AssumeRole (idempotent)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def answered(self, path: str, status: int) -> None:
        """Count one answer of the endpoint (called by the server for every request it answers:
        the hot path, one dictionary update under the lock). A path that is not a role's,
        :data:`PATH` or ``/healthz`` is counted as ``other``."""
        key = (path if path in self._paths else _OTHER, status)
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1

    def _fetched(
        self, credentials: RefreshingCredentials, seconds: float, error: BaseException | None
    ) -> None:
        if credentials.method != _ASSUME_METHOD:
            return
        role = credentials.status().role_arn or "unknown"
        key = (role, "success" if error is None else "failure")
        index = bisect.bisect_left(DURATION_BUCKETS, seconds)
        with self._lock:
            histogram = self._durations.get(key)
            if histogram is None:
                histogram = self._durations[key] = _Histogram()
            histogram.buckets[index] += 1
            histogram.count += 1
            histogram.sum += seconds

    # -- the text ---------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The metrics in the text exposition format 0.0.4 (UTF-8). No I/O, no secret."""
        with self._lock:
            requests = sorted(self._requests.items())
            durations = [
                (key, list(h.buckets), h.count, h.sum) for key, h in sorted(self._durations.items())
            ]
        lines: list[str] = []

        def family(name: str, kind: str, text: str) -> None:
            lines.append(f"# HELP {name} {_escape_help(text)}")
            lines.append(f"# TYPE {name} {kind}")

        def sample(name: str, value: float, **labels: str) -> None:
            lines.append(f"{name}{_labels(**labels) if labels else ''} {_number(value)}")

        family(
            "ecs_xrole_requests_total",
            "counter",
            "Requests the credentials endpoint answered, by path (a role's, /metrics, /healthz, "
            "or other) and HTTP status code.",
        )
        for (path, code), count in requests:
            sample("ecs_xrole_requests_total", count, path=path, code=str(code))

        roles = sorted(self._roles.items())
        statuses = [(path, arn, credentials.status()) for path, (arn, credentials) in roles]
        family(
            "ecs_xrole_refreshes_total",
            "counter",
            "Attempts to load or refresh each role's credentials, by result (the first load "
            "included).",
        )
        for path, arn, status in statuses:
            sample(
                "ecs_xrole_refreshes_total",
                status.refreshes,
                path=path,
                role_arn=arn,
                result="success",
            )
            sample(
                "ecs_xrole_refreshes_total",
                status.failures,
                path=path,
                role_arn=arn,
                result="failure",
            )

        name = "ecs_xrole_assume_role_duration_seconds"
        family(name, "histogram", "Seconds each AssumeRole attempt took, by role and result.")
        for (arn, result), buckets, count, total in durations:
            cumulative = 0
            for bound, in_bucket in zip((*DURATION_BUCKETS, math.inf), buckets, strict=True):
                cumulative += in_bucket
                sample(f"{name}_bucket", cumulative, role_arn=arn, result=result, le=_number(bound))
            sample(f"{name}_sum", total, role_arn=arn, result=result)
            sample(f"{name}_count", count, role_arn=arn, result=result)

        fetched = {"success": 0, "failure": 0}
        for status in credentials_status():
            if status.method == _CONTAINER_METHOD:
                fetched["success"] += status.refreshes
                fetched["failure"] += status.failures
        family(
            "ecs_xrole_task_role_fetches_total",
            "counter",
            "Fetches of the task role's credentials from the container endpoint, by result.",
        )
        for result, count in fetched.items():
            sample("ecs_xrole_task_role_fetches_total", count, result=result)

        family(
            "ecs_xrole_credentials_expires_in_seconds",
            "gauge",
            "Seconds until the credentials in hand for each role expire (negative: expired).",
        )
        for path, arn, status in statuses:
            if status.expires_in is not None:
                sample(
                    "ecs_xrole_credentials_expires_in_seconds",
                    round(status.expires_in, 3),
                    path=path,
                    role_arn=arn,
                )
        return ("\n".join(lines) + "\n").encode("utf-8")
