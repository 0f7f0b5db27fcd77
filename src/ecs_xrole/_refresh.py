"""RefreshingCredentials: credentials that keep themselves fresh, for every thread and after fork.

A botocore ``RefreshableCredentials`` (so it plugs into any botocore or boto3 code) that
refreshes off the callers' path (on the :mod:`ecs_xrole._scheduler`), with windows scaled to
the lifetime and jittered (:func:`refresh_windows`), serving the credentials in hand while a
refresh fails (static stability), one refresh at a time, fork-safe. It exists because
botocore's fixed 15/10-minute windows refresh 15-minute credentials on every call, on the
caller's thread. State is swapped as one immutable snapshot; every public method may be
called from any thread. See docs/design.md, "How credentials are refreshed" and "After fork".
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

from . import _observe
from ._credentials import TemporaryCredentials
from ._redaction import remember_for
from ._scheduler import Scheduler, default_scheduler
from ._status import _ALL, _SEQ, Clock, CredentialsStatus, State, _iso, _utc, error_code
from .errors import CredentialsUnavailableError, Error, forget_locals

logger = logging.getLogger("ecs_xrole.refresh")


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


class RefreshingCredentials(RefreshableCredentials):
    """botocore credentials that refresh themselves through ``fetch``.

    ``fetch`` is called with no arguments and returns
    :class:`~ecs_xrole._credentials.TemporaryCredentials`; it raises
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
            if _observe.observers:
                _observe.observed(self, time.perf_counter() - started, exc)
            raise
        took = time.perf_counter() - started
        if _observe.observers:
            _observe.observed(self, took, None)
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

    def retry_if_unusable(self) -> bool:
        """Plan a background attempt now if the credentials in hand are past use (none, or
        inside the mandatory margin) and the last attempt is over ``retry_interval`` old; say
        whether it did. A caller's request would refresh then; this is that rule for one who
        must not wait (a health probe): no I/O, no lock of this object, never blocks.

        Without it a role that failed while nobody asks for it waits out its backoff (up to
        five minutes) after the cause is fixed, and its health check fails all that time.
        """
        now = self._clock()
        snap = self._snapshot
        if snap is not None and now < snap.mandatory_at:
            return False
        last = self._last_attempt
        if last is not None and now - last < self._retry_interval:
            return False
        self._scheduler.schedule(self, now)
        return True

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
