"""The answer of ``GET /healthz`` on the endpoint of ``serve`` and ``exec``.

What state the served roles are in, as an HTTP status and a JSON body: ``200 ok``, ``200
degraded`` (refreshes fail, the credentials in hand are still valid: keep the task) or ``503
failing`` (nothing valid to serve: replace it), so that an orchestrator's health check can
tell static stability from an outage. Pure and light: the states come from each role's own
:meth:`~ecs_xrole._refresh.RefreshingCredentials.status`, no I/O, no boto3, and nothing here
holds a secret. See docs/design.md, "The credentials server".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._status import CredentialsStatus

#: The path the endpoint answers probes on, without the token.
HEALTH_PATH = "/healthz"

#: An HTTP status and the JSON body.
HealthAnswer = tuple[int, dict[str, Any]]

# A role in one of these states has nothing valid to serve: the probe fails.
_NOTHING_VALID = frozenset({"failing", "pending"})


class _HasStatus(Protocol):
    def status(self) -> CredentialsStatus: ...

    def retry_if_unusable(self) -> bool: ...


def _iso(moment: Any) -> str | None:
    return None if moment is None else str(moment.isoformat()).replace("+00:00", "Z")


def role_health(path: str, status: CredentialsStatus) -> dict[str, Any]:
    """One role's entry in the body: its path, role ARN, state, the seconds its credentials
    have left (whole, never negative; ``None`` without an expiry or before the first load),
    their expiry, the last refresh, since when refreshes fail and the last error (its type,
    code and time; ``None`` when there was none). No secret."""
    state = status.state
    expires_in = status.expires_in
    if expires_in is not None and expires_in <= 0 and state != "pending":
        state = "failing"  # expired credentials are nothing valid to serve, whatever came first
    last_error = None
    if status.last_error is not None:
        last_error = {
            "type": status.last_error,
            "code": status.last_error_code,
            "at": _iso(status.last_error_at),
        }
    return {
        "path": path,
        "role_arn": status.role_arn,
        "state": state,
        "expires_in": None if expires_in is None else max(0, int(expires_in)),
        "expiry": _iso(status.expiry),
        "last_refresh": _iso(status.last_refresh),
        "failing_since": _iso(status.failing_since),
        "last_error": last_error,
    }


def health_answer(roles: Iterable[tuple[str, CredentialsStatus]]) -> HealthAnswer:
    """The answer for the served roles, as (path, status) pairs in the order served.

    ``503`` and ``"failing"`` when any role has nothing valid to serve (refreshes failed and
    callers get the error, its credentials expired, or it has not loaded yet: ``pending``);
    else ``200`` and ``"degraded"`` when any role's refreshes fail while its credentials are
    still served; else ``200`` and ``"ok"`` (no role at all included). Pure.
    """
    entries = [role_health(path, status) for path, status in roles]
    states = {entry["state"] for entry in entries}
    if states & _NOTHING_VALID:
        return 503, {"status": "failing", "roles": entries}
    if "degraded" in states:
        return 200, {"status": "degraded", "roles": entries}
    return 200, {"status": "ok", "roles": entries}


def health_source(credentials: Mapping[str, _HasStatus]) -> Callable[[], HealthAnswer]:
    """The server's ``health`` callable for ``credentials`` (path -> the refreshing
    credentials served there): each call reads their statuses as they stand (never waits,
    not even for a refresh in progress) and returns :func:`health_answer`'s answer. A probe
    that finds a role with nothing valid also plans its next attempt now (at most one per
    ``retry_interval``, as a caller's request would), so that a sidecar nobody asks recovers
    at the first probe after the cause is fixed, not after its backoff."""
    served = dict(credentials)

    def answer() -> HealthAnswer:
        status, body = health_answer((path, creds.status()) for path, creds in served.items())
        if status == 503:
            for entry in body["roles"]:
                if entry["state"] in _NOTHING_VALID:
                    served[entry["path"]].retry_if_unusable()
        return status, body

    return answer
