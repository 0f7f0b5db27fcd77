"""Credentials that keep themselves fresh in the background, for every thread and after fork.

:class:`RefreshingCredentials` is a botocore ``RefreshableCredentials``, so it plugs into any
botocore or boto3 code, but it refreshes differently from botocore:

* **Off the callers' path.** A process-wide :class:`Scheduler` refreshes each credentials
  object shortly before its advisory window, on a small pool of daemon threads, so one stuck
  refresh does not hold up the others. A caller only waits for the network
  when the credentials in hand are inside the short *mandatory* margin (or there are none yet).
* **Windows scaled to the lifetime, with jitter** (:func:`refresh_windows`): 900-second
  credentials are refreshed once, about five minutes before expiry, not on every call as
  botocore's fixed 15/10-minute windows do.
* **Static stability.** When a background refresh fails while the credentials in hand are valid,
  they keep being served; one warning is logged per failed attempt (with its error code and the
  time of the next attempt) and the refresh is retried with jittered exponential backoff. Only
  inside the mandatory margin does a caller get
  :class:`~ecs_xrole.errors.CredentialsUnavailableError`, saying what failed and since when.
* **One refresh at a time** per credentials object, however many threads or sessions share it.
* **Fork-safe.** In a child made by ``os.fork`` every lock is replaced and the refresher thread
  restarts on demand, so gunicorn ``--preload`` and ``multiprocessing`` with fork keep working.

* **Tells what it does.** One INFO record on the ``ecs_xrole.refresh`` logger per successful
  load or refresh (role ARN, new expiry, time taken, attempt), one WARNING per failed attempt
  while the credentials in hand are still served (error type and code, next attempt; INFO when
  the caller gets the error itself), none of them with a secret; nothing at logging's default
  WARNING level while refreshes succeed. :func:`credentials_status` reports every object's
  state for a health endpoint.

Thread-safety contract: every public method may be called from any thread. State is swapped as
one immutable snapshot, so a reader never sees a key from one set and a token from another.
"""

from __future__ import annotations

import atexit
import collections
import heapq
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

from .credentials import TemporaryCredentials
from .errors import CredentialsUnavailableError, Error, forget_locals
from .redaction import remember_for

__all__ = [
    "CredentialsStatus",
    "RefreshWindows",
    "RefreshingCredentials",
    "Scheduler",
    "credentials_status",
    "default_scheduler",
    "observe_fetches",
    "refresh_windows",
    "stop_default_scheduler",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class RefreshWindows:
    """Seconds before expiry at which to refresh: ``advisory`` (in the background) and
    ``mandatory`` (callers wait for fresh credentials)."""

    advisory: float
    mandatory: float


def refresh_windows(lifetime: float) -> RefreshWindows:
    """Refresh windows for credentials that live ``lifetime`` seconds.

    Advisory: 5 minutes for lifetimes up to 20 minutes, 15 under 90 minutes, 60 beyond, never
    more than half the lifetime. Mandatory: one minute, never more than a tenth of the lifetime.
    """
    lifetime = max(lifetime, 0.0)
    if lifetime <= 20 * 60:
        advisory = 5 * 60.0
    elif lifetime < 90 * 60:
        advisory = 15 * 60.0
    else:
        advisory = 60 * 60.0
    mandatory = min(60.0, lifetime / 10)
    return RefreshWindows(advisory=max(min(advisory, lifetime / 2), mandatory), mandatory=mandatory)


@dataclass(frozen=True)
class _Snapshot:
    credentials: TemporaryCredentials
    frozen: ReadOnlyCredentials
    refresh_at: float  # when the background refresh is due (jittered)
    mandatory_at: float  # from here on, callers wait for a refresh
    expires_at: float  # math.inf for credentials that do not expire


def _snapshot(credentials: TemporaryCredentials, now: float, rng: random.Random) -> _Snapshot:
    frozen = ReadOnlyCredentials(
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        credentials.account_id,
    )
    if credentials.expiration is None:
        inf = float("inf")
        return _Snapshot(credentials, frozen, inf, inf, inf)
    expires_at = credentials.expiration.timestamp()
    windows = refresh_windows(expires_at - now)
    # Jitter spreads the refreshes of many processes started together (a service scaling out).
    refresh_at = expires_at - windows.advisory - rng.uniform(0, windows.advisory / 5)
    mandatory_at = expires_at - windows.mandatory
    # Credentials handed back unchanged (the ECS agent rotates on its own schedule) must not
    # make the refresher spin: leave a gap before the next attempt.
    gap = max(0.5, min(60.0, (mandatory_at - now) / 4))
    return _Snapshot(credentials, frozen, max(refresh_at, now + gap), mandatory_at, expires_at)


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


class RefreshingCredentials(RefreshableCredentials):
    """botocore credentials that refresh themselves through ``fetch``.

    ``fetch`` is called with no arguments and returns
    :class:`~ecs_xrole.credentials.TemporaryCredentials`; it raises
    :class:`~ecs_xrole.errors.Error` subclasses. Nothing is fetched until the first call to
    :meth:`get_frozen_credentials` (or a property), which does the I/O and raises ``fetch``'s
    error unchanged. Later refreshes happen on the :class:`Scheduler` thread.

    ``description`` names the credentials in log lines and errors (never a secret);
    ``role_arn``, when given, is the role these credentials are for, reported by
    :meth:`status` before the first load succeeds (afterwards the credentials' own).
    ``clock`` returns the current time in epoch seconds (tests inject a fake one, with a
    :class:`Scheduler` that has no thread). ``retry_interval``: after a failed blocking
    refresh, callers get the same error without a new attempt for this many seconds, so a
    dead endpoint is not hammered by every thread.
    """

    def __init__(
        self,
        fetch: Callable[[], TemporaryCredentials],
        *,
        method: str,
        description: str,
        clock: Clock = time.time,
        scheduler: Scheduler | None = None,
        retry_interval: float = 1.0,
        rng: random.Random | None = None,
        role_arn: str | None = None,
    ) -> None:
        # botocore's state is unused here (the snapshot holds it); placeholders satisfy __init__.
        # botocore keeps refresh_using on the instance: through a weak reference, so that no
        # reference cycle keeps dropped credentials (and their background refreshes) alive
        # until the cyclic garbage collector runs.
        this = weakref.ref(self)

        def refresh_using() -> dict[str, str | None]:
            credentials = this()
            if credentials is None:  # pragma: no cover - unreachable while botocore holds us
                raise CredentialsUnavailableError("the credentials object is gone")
            return credentials._botocore_metadata()

        super().__init__(
            access_key="",
            secret_key="",
            token="",
            expiry_time=datetime.fromtimestamp(0, timezone.utc),
            refresh_using=refresh_using,
            method=method,
        )
        self._fetch = fetch
        self.description = description
        self._clock = clock
        self._scheduler = scheduler if scheduler is not None else default_scheduler()
        self._retry_interval = retry_interval
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._failing_since: float | None = None
        self._failures = 0
        self._last_error: BaseException | None = None
        self._last_attempt: float | None = None
        self._role_arn = role_arn
        # What status() reports: totals since creation and the most recent failure.
        self._refreshes = 0
        self._failures_total = 0
        self._last_refresh: float | None = None
        self._last_failure: tuple[str, str | None, float] | None = None
        self._seq = next(_SEQ)
        # The due time of this object's live entry in the scheduler (None: none pending).
        self.scheduled_at: float | None = None
        _ALL.add(self)

    def __repr__(self) -> str:
        snap = self._snapshot
        if snap is None:
            state = "not loaded"
        elif snap.expires_at == float("inf"):
            state = "no expiry"
        else:
            state = f"expires {_utc(snap.expires_at)}"
        return f"<RefreshingCredentials {self.description}: {state}>"

    # -- what callers use -------------------------------------------------------------------

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """Return a consistent (access key, secret key, token, account ID) tuple.

        Does no I/O while the credentials in hand are outside the mandatory margin; past the
        advisory time it asks the scheduler to refresh in the background and returns at once.
        Blocks for a refresh only when there are no credentials yet or they are inside the
        mandatory margin. Raises ``fetch``'s error on the first load and
        :class:`CredentialsUnavailableError` when a mandatory refresh fails.
        """
        frozen = self.frozen_if_fresh()
        if frozen is not None:
            return frozen
        return self._refresh_blocking(force=False).frozen

    def frozen_if_fresh(self) -> ReadOnlyCredentials | None:
        """The credentials in hand if nobody has to wait for them, else ``None``.

        Never does I/O nor waits for a refresh (for callers that must not block, such as an
        event loop): ``None`` means there are none yet or they are inside the mandatory margin,
        and :meth:`get_frozen_credentials` would fetch. Past the advisory time it asks the
        scheduler to refresh in the background, as :meth:`get_frozen_credentials` does.
        """
        snap = self._snapshot
        if snap is None:
            return None
        now = self._clock()
        if now >= snap.mandatory_at:
            return None
        if now >= snap.refresh_at:
            self._scheduler.nudge(self, now)
        return snap.frozen

    @property
    def current(self) -> TemporaryCredentials | None:
        """The credentials in hand (no I/O, no refresh), or ``None`` before the first load."""
        snap = self._snapshot
        return snap.credentials if snap else None

    @property
    def expiry(self) -> datetime | None:
        """When the credentials in hand expire (UTC), or ``None`` if unknown or never."""
        snap = self._snapshot
        return _utc(snap.expires_at) if snap else None

    @property
    def failing_since(self) -> datetime | None:
        """When refreshing started failing, or ``None`` while refreshes succeed."""
        return _utc(self._failing_since)

    def status(self) -> CredentialsStatus:
        """What these credentials are doing (no I/O, no secret); see :class:`CredentialsStatus`.

        Never waits, not even for a refresh in progress: it reads the state as it stands.
        """
        now = self._clock()
        snap = self._snapshot
        failing_since = self._failing_since
        failure = self._last_failure
        current = snap.credentials if snap is not None else None
        state: State
        if failing_since is None:
            state = "ok" if snap is not None else "pending"
        elif snap is not None and now < snap.mandatory_at:
            state = "degraded"
        else:
            state = "failing"
        expires_at = snap.expires_at if snap is not None else None
        scheduled = self.scheduled_at
        return CredentialsStatus(
            description=self.description,
            method=self.method,
            role_arn=(current.role_arn if current else None) or self._role_arn,
            account_id=current.account_id if current else None,
            state=state,
            expiry=_utc(expires_at),
            expires_in=(
                None if expires_at is None or expires_at == float("inf") else expires_at - now
            ),
            last_refresh=_utc(self._last_refresh),
            next_refresh=_utc(scheduled),
            failing_since=_utc(failing_since),
            last_error=failure[0] if failure else None,
            last_error_code=failure[1] if failure else None,
            last_error_at=_utc(failure[2]) if failure else None,
            refreshes=self._refreshes,
            failures=self._failures_total,
            consecutive_failures=self._failures,
        )

    def force_refresh(self) -> TemporaryCredentials:
        """Fetch new credentials now, on this thread (used after STS says ``ExpiredToken``).

        Raises ``fetch``'s error.
        """
        return self._refresh_blocking(force=True).credentials

    # botocore's properties refresh one field at a time; here they read one snapshot. They are
    # read-only: the snapshot is the only state.
    @property
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @access_key.setter
    def access_key(self, value: str) -> None:
        raise AttributeError("RefreshingCredentials are read-only")

    @property
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        raise AttributeError("RefreshingCredentials are read-only")

    @property
    def token(self) -> str:
        return str(self.get_frozen_credentials().token)

    @token.setter
    def token(self, value: str) -> None:
        raise AttributeError("RefreshingCredentials are read-only")

    @property  # type: ignore[override]
    def account_id(self) -> str | None:
        value = self.get_frozen_credentials().account_id
        return None if value is None else str(value)

    @account_id.setter
    def account_id(self, value: str | None) -> None:
        raise AttributeError("RefreshingCredentials are read-only")

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        """botocore's question: do the credentials expire within ``refresh_in`` seconds?

        Without ``refresh_in``, whether the mandatory margin has been reached.
        """
        snap = self._snapshot
        if snap is None:
            return True
        now = self._clock()
        if refresh_in is None:
            return now >= snap.mandatory_at
        return snap.expires_at - now < refresh_in

    # -- refreshing ---------------------------------------------------------------------------

    def _botocore_metadata(self) -> dict[str, str | None]:
        # Only reached if botocore's own refresh path is invoked on this object.
        creds = self.force_refresh()
        return {
            "access_key": creds.access_key_id,
            "secret_key": creds.secret_access_key,
            "token": creds.session_token,
            "expiry_time": creds.expiration.isoformat() if creds.expiration else None,
            "account_id": creds.account_id,
        }

    def _refresh_blocking(self, *, force: bool) -> _Snapshot:
        with self._lock:
            now = self._clock()
            snap = self._snapshot
            if snap is not None and now < snap.mandatory_at and not force:
                return snap  # another thread refreshed while we waited for the lock
            if (
                not force
                and self._last_error is not None
                and self._last_attempt is not None
                and now - self._last_attempt < self._retry_interval
            ):
                if snap is None:
                    raise self._last_error
                raise self._unavailable_error(snap, self._last_error)
            try:
                return self._refresh_locked(now)
            except Error as exc:
                forget_locals(exc)  # a fetch's frames held its token and answer
                self._record_failure(exc, now)
                self._warn_failure(exc, self._clock() + self._retry_interval, planned=False)
                if snap is None or force:
                    raise
                raise self._unavailable_error(snap, exc) from exc

    def _refresh_locked(self, now: float) -> _Snapshot:
        """Fetch and install new credentials. Caller holds ``self._lock``."""
        self._last_attempt = now
        attempt = self._failures + 1
        started = time.perf_counter()
        try:
            credentials = self._fetch()
        except BaseException as exc:
            if _observers:
                _observed(self, time.perf_counter() - started, exc)
            raise
        took = time.perf_counter() - started
        if _observers:
            _observed(self, took, None)
        now = self._clock()
        snap = _snapshot(credentials, now, self._rng)
        if snap.expires_at <= now:
            raise CredentialsUnavailableError(
                f"{self.description}: the refreshed credentials expired at "
                f"{_utc(snap.expires_at)}, before they arrived",
                fix="check the clock of this host and of the credentials source",
                expires_at=_utc(snap.expires_at),
            )
        remember_for(self, (credentials.secret_access_key, credentials.session_token))
        first = self._snapshot is None
        self._snapshot = snap
        self._refreshes += 1
        self._last_refresh = now
        role_arn = credentials.role_arn or self._role_arn
        expiry = _utc(snap.expires_at)
        # One record per successful fetch, at INFO: silent at logging's default level.
        # The role is named once: destination descriptions already hold it.
        role = f", role {role_arn}" if role_arn and role_arn not in self.description else ""
        logger.info(
            "%s: %s%s, new expiry %s, took %.3f s, attempt %d",
            self.description,
            "loaded" if first else "refreshed",
            role,
            _iso(expiry) or "never",
            took,
            attempt,
            extra={
                "role_arn": role_arn,
                "expiry": expiry,
                "duration": took,
                "attempt": attempt,
            },
        )
        if self._failing_since is not None:
            logger.warning(
                "%s: refreshed again after failing since %s",
                self.description,
                _utc(self._failing_since),
            )
        self._failing_since = None
        self._failures = 0
        self._last_error = None
        if snap.refresh_at != float("inf"):
            self._scheduler.schedule(self, snap.refresh_at)
        return snap

    def _record_failure(self, exc: BaseException, now: float) -> None:
        # Callers within retry_interval of this failure's *end* get it without a new attempt,
        # including those that queued on the lock while a slow background attempt ran.
        self._last_attempt = self._clock()
        self._last_error = exc
        self._failures += 1
        self._failures_total += 1
        self._last_failure = (type(exc).__name__, error_code(exc), self._last_attempt)
        if self._failing_since is None:
            self._failing_since = now

    def _warn_failure(self, exc: BaseException, next_attempt: float, *, planned: bool) -> None:
        """One record per failed attempt: what failed, with which code, and when the next
        attempt is (``planned``: in the background at that time; else by the next caller,
        not before it). A WARNING while the failure is absorbed (the credentials in hand are
        still served); INFO when callers get the error itself (a first load, or past the
        mandatory margin), which reports it: a CLI's stderr would otherwise say it twice."""
        snap = self._snapshot
        code = error_code(exc)
        level = logging.INFO
        if snap is None:
            serving = "no credentials to serve yet"
        elif self._clock() < snap.mandatory_at:
            valid = _iso(_utc(snap.expires_at))
            serving = f"still serving the current credentials, valid until {valid}"
            level = logging.WARNING
        else:
            serving = (
                f"callers get an error: the credentials in hand expire at "
                f"{_iso(_utc(snap.expires_at))}"
            )
        when = _utc(next_attempt)
        if planned:
            upcoming = (
                f"next attempt at {_iso(when)} (in {max(0.0, next_attempt - self._clock()):.1f} s)"
            )
        else:
            upcoming = f"next attempt at the next call, not before {_iso(when)}"
        current = snap.credentials if snap is not None else None
        # The fix is said once per streak of failures; later attempts say only what failed.
        told = exc if self._failures == 1 else getattr(exc, "what", exc)
        logger.log(
            level,
            "%s: %s attempt %d failed (%s, code %s): %s; %s; %s",
            self.description,
            "refresh" if snap is not None else "first load",
            self._failures,
            type(exc).__name__,
            code or "none",
            told,
            serving,
            upcoming,
            extra={
                "role_arn": (current.role_arn if current else None)
                or self._role_arn
                or getattr(exc, "role_arn", None),
                "error_type": type(exc).__name__,
                "error_code": code,
                "attempt": self._failures,
                "next_attempt": when,
            },
        )

    def _unavailable_error(
        self, snap: _Snapshot | None, cause: BaseException
    ) -> CredentialsUnavailableError:
        since = _utc(self._failing_since)
        expires = _utc(snap.expires_at) if snap else None
        state = (
            "have expired"
            if snap is not None and self._clock() >= snap.expires_at
            else ("expire soon")
        )
        error = CredentialsUnavailableError(
            f"{self.description}: could not refresh credentials (failing since "
            f"{since.isoformat() if since else 'now'}); the credentials in hand {state}"
            f"{' at ' + expires.isoformat() if expires else ''}. Last error: "
            f"{getattr(cause, 'what', cause)}",
            fix=getattr(cause, "fix", None) or "check the credentials source and retry",
            failing_since=since,
            expires_at=expires,
        )
        error.__cause__ = cause
        return error

    def refresh_in_background(self) -> None:
        """Run one scheduled refresh (called by the :class:`Scheduler`; never raises)."""
        if not self._lock.acquire(blocking=False):
            # A caller is refreshing right now; look again shortly.
            self._scheduler.schedule(self, self._clock() + 1.0)
            return
        try:
            now = self._clock()
            snap = self._snapshot
            if snap is not None and now < snap.refresh_at:
                self._scheduler.schedule(self, snap.refresh_at)
                return
            try:
                self._refresh_locked(now)
            except Exception as exc:
                self._record_failure(exc, now)
                # Count the backoff from the failure's end: the fetch may have taken seconds.
                ended = self._clock()
                next_attempt = ended + self._backoff(ended)
                self._scheduler.schedule(self, next_attempt)
                self._warn_failure(exc, next_attempt, planned=True)
        finally:
            self._lock.release()

    def _backoff(self, now: float) -> float:
        """Jittered exponential backoff, kept short enough to retry before the mandatory margin."""
        snap = self._snapshot
        cap = 300.0
        if snap is not None and now < snap.mandatory_at:
            cap = min(cap, max(0.5, (snap.mandatory_at - now) / 3))
        base: float = min(cap, 0.5 * 2.0 ** min(self._failures, 16))
        return base * self._rng.uniform(0.5, 1.0)

    def _after_fork(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here; and
        # forked workers must not all draw the same jitter (random reseeds only its global).
        self._lock = threading.Lock()
        self._rng.seed()


class Scheduler:
    """Plans background refreshes and runs each at its due time, on a small pool of threads.

    One daemon thread keeps the plan (a heap of due times) and hands each due refresh to a
    worker; up to ``max_workers`` daemon workers run them, so a refresh stuck on a slow
    endpoint or STS never delays another credentials object's refresh (while fewer than
    ``max_workers`` are stuck). Workers are started when needed and end after ``idle_timeout``
    seconds without work. Cheap when idle: the planning thread sleeps until the earliest due
    refresh.

    The plan holds weak references, so credentials nobody uses any more are not kept alive,
    and it stays proportional to the credentials planned: entries superseded by a new plan or
    left by dropped credentials are purged once they make up half of it.

    ``clock`` and ``start_thread`` exist for tests: with ``start_thread=False`` nothing runs
    until :meth:`run_pending` is called, which runs the due refreshes on the calling thread.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        start_thread: bool = True,
        max_workers: int = 4,
        idle_timeout: float = 60.0,
    ) -> None:
        self._clock = clock
        self._start_thread = start_thread
        self._max_workers = max_workers
        self._idle_timeout = idle_timeout
        self._new_locks()
        self._heap: list[tuple[float, int, weakref.ref[RefreshingCredentials]]] = []
        self._purge_above = _MIN_PURGE
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._ready: collections.deque[RefreshingCredentials] = collections.deque()
        self._workers = 0
        self._worker_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self._idle = 0
        self._stopped = False

    def _new_locks(self) -> None:
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the planning thread waits on it
        self._work = threading.Condition(lock)  # idle workers wait on it

    def schedule(self, credentials: RefreshingCredentials, when: float) -> None:
        """Refresh ``credentials`` at ``when`` (replacing any earlier plan for them)."""
        with self._cond:
            credentials.scheduled_at = when
            heapq.heappush(self._heap, (when, next(self._seq), weakref.ref(credentials)))
            if len(self._heap) > self._purge_above:
                self._purge()
            self._ensure_thread()
            self._cond.notify()

    def _purge(self) -> None:
        """Drop superseded and orphaned entries. Caller holds the lock. Amortised O(1) per
        :meth:`schedule`: the next purge waits until the plan has doubled again."""
        kept: dict[int, tuple[float, int, weakref.ref[RefreshingCredentials]]] = {}
        for entry in self._heap:
            credentials = entry[2]()
            if credentials is not None and credentials.scheduled_at == entry[0]:
                kept.setdefault(id(credentials), entry)
        self._heap = list(kept.values())
        heapq.heapify(self._heap)
        self._purge_above = max(_MIN_PURGE, 2 * len(self._heap))

    @property
    def queued(self) -> int:
        """How many entries the plan holds (live plans plus not yet purged stale ones)."""
        with self._cond:
            return len(self._heap)

    def nudge(self, credentials: RefreshingCredentials, now: float) -> None:
        """A caller saw the refresh overdue: make sure it is planned and a thread will run it.

        Cheap when it is (the common case): no lock is taken.
        """
        thread = self._thread
        running = (thread is not None and thread.is_alive()) or not self._start_thread
        if running and credentials.scheduled_at is not None:
            return
        # Not planned, or planned in a parent process whose thread did not survive the fork.
        self.schedule(credentials, now)

    def run_pending(self) -> int:
        """Run every refresh that is due now, on this thread; return how many ran."""
        ran = 0
        while True:
            with self._cond:
                if not self._heap or self._heap[0][0] > self._clock():
                    return ran
                credentials = self._claim(heapq.heappop(self._heap))
            if credentials is not None:
                _refresh(credentials)
                ran += 1

    def _claim(
        self, entry: tuple[float, int, weakref.ref[RefreshingCredentials]]
    ) -> RefreshingCredentials | None:
        """The credentials an entry that fell due refreshes, or ``None`` when they are gone or
        the entry was superseded by a later plan. Caller holds the lock."""
        when, _, ref = entry
        credentials = ref()
        if credentials is None or credentials.scheduled_at != when:
            return None
        credentials.scheduled_at = None
        return credentials

    def _ensure_thread(self) -> None:
        # Caller holds the lock.
        if not self._start_thread or self._stopped:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._plan, name="ecs-xrole-refresher", daemon=True
            )
            self._thread.start()

    def _plan(self) -> None:
        """The planning thread: hand each due refresh to a worker."""
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - self._clock()
                    if delay <= 0:
                        break
                    self._cond.wait(timeout=min(delay, 3600.0))
                credentials = self._claim(heapq.heappop(self._heap))
                if credentials is None:
                    continue
                self._ready.append(credentials)
                if self._idle > len(self._ready) - 1:
                    self._work.notify()
                elif self._workers < self._max_workers:
                    self._workers += 1
                    worker = threading.Thread(
                        target=self._serve, name="ecs-xrole-refresh-worker", daemon=True
                    )
                    self._worker_threads.add(worker)
                    worker.start()
                # else: every worker is busy; the first one free takes it

    def _serve(self) -> None:
        """A worker: run ready refreshes until idle for ``idle_timeout`` seconds."""
        while True:
            with self._work:
                self._idle += 1
                while not self._ready and not self._stopped:
                    if not self._work.wait(timeout=self._idle_timeout) and not self._ready:
                        break
                self._idle -= 1
                if self._stopped or not self._ready:
                    self._workers -= 1
                    return
                credentials = self._ready.popleft()
            _refresh(credentials)
            del credentials  # not kept alive by an idle worker

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the planning thread and the workers (each finishes a refresh in progress
        first), waiting up to ``timeout`` seconds for them all. Idempotent."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            self._work.notify_all()
            threads = [self._thread, *self._worker_threads]
        end = time.monotonic() + timeout
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, end - time.monotonic()))

    @property
    def thread_alive(self) -> bool:
        """Whether the planning thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _after_fork(self) -> None:
        # No thread survived the fork and the lock may be held; keep the plan, put refreshes
        # that were handed to a worker back into it, and let the next schedule or nudge
        # start the threads again.
        self._new_locks()
        self._thread = None
        self._workers = self._idle = 0
        self._worker_threads = weakref.WeakSet()
        now = self._clock()
        while self._ready:
            credentials = self._ready.popleft()
            credentials.scheduled_at = now
            heapq.heappush(self._heap, (now, next(self._seq), weakref.ref(credentials)))


_MIN_PURGE = 64


def _refresh(credentials: RefreshingCredentials) -> None:
    try:
        credentials.refresh_in_background()
    except Exception:  # pragma: no cover - refresh_in_background already catches
        logger.exception("background refresh of %s crashed", credentials.description)


#: Called after every fetch attempt of every :class:`RefreshingCredentials` (on the thread that
#: made it, holding that object's lock): ``(credentials, seconds, error or None)``. Empty unless
#: ``serve --metrics`` / ``exec --metrics`` run (:mod:`ecs_xrole.metrics`).
FetchObserver = Callable[[RefreshingCredentials, float, "BaseException | None"], None]
_observers: tuple[FetchObserver, ...] = ()
_observers_lock = threading.Lock()


def observe_fetches(observer: FetchObserver) -> Callable[[], None]:
    """Call ``observer`` after every fetch attempt (success or failure) of every refreshing
    credentials object in this process; return the function that stops it.

    The seam through which :mod:`ecs_xrole.metrics` times AssumeRole: nothing is patched, and
    with no observer a fetch pays one truthiness test. ``observer`` must be quick and must not
    raise (an exception is logged at DEBUG and dropped) nor call back into the object.
    """
    global _observers
    with _observers_lock:
        _observers = (*_observers, observer)

    def stop() -> None:
        global _observers
        with _observers_lock:
            _observers = tuple(o for o in _observers if o is not observer)

    return stop


def _observed(
    credentials: RefreshingCredentials, seconds: float, error: BaseException | None
) -> None:
    for observer in _observers:
        try:
            observer(credentials, seconds, error)
        except Exception:  # an observer never breaks a refresh
            logger.debug("a fetch observer failed", exc_info=False)


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


_default: Scheduler | None = None
_default_lock = threading.Lock()


def default_scheduler() -> Scheduler:
    """The process-wide scheduler shared by every :class:`RefreshingCredentials`."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Scheduler()
    return _default


def stop_default_scheduler(timeout: float = 5.0) -> None:
    """Stop the process-wide scheduler's thread and forget the scheduler (for tests).

    Waits up to ``timeout`` seconds for a refresh in progress. Credentials made before keep
    serving what they hold and refresh when a caller needs it, but never again in the
    background; credentials made after get a new scheduler. Test suites call this between
    tests so that no background refresh of one test runs during another.
    """
    global _default
    with _default_lock:
        scheduler, _default = _default, None
    if scheduler is not None:
        scheduler.stop(timeout)


def _after_fork_in_child() -> None:
    global _default_lock, _observers_lock
    _default_lock = threading.Lock()
    _observers_lock = threading.Lock()
    if _default is not None:
        _default._after_fork()
    for credentials in list(_ALL):
        credentials._after_fork()


def _stop_at_exit() -> None:
    # No refresh should start while the interpreter is shutting down.
    if _default is not None:
        _default.stop(timeout=1.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_stop_at_exit)
