"""The refresh engine: windows, background refresh, static stability, one refresh at a time, fork.

Most tests drive a fake clock and a scheduler without a thread, so time-dependent behaviour is
exact and instant; a few use the real refresher thread with lifetimes of a few seconds.
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import secrets
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecs_xrole import _scheduler as scheduler_module
from ecs_xrole import _status as status_module
from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._refresh import RefreshingCredentials, refresh_windows
from ecs_xrole._scheduler import Scheduler
from ecs_xrole.errors import CredentialsUnavailableError, EndpointRequestError

START = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Source:
    """A credentials source that counts fetches and can be made to fail."""

    def __init__(self, clock: Callable[[], float], lifetime: float = 900.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.threads: list[str] = []
        self.fail: Exception | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> TemporaryCredentials:
        with self.lock:
            self.calls += 1
            n = self.calls
        self.threads.append(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return TemporaryCredentials(
            access_key_id=f"ASIA{n:016d}",
            secret_access_key=secrets.token_hex(20),
            session_token=secrets.token_hex(40),
            expiration=datetime.fromtimestamp(self.clock() + self.lifetime, timezone.utc),
        )


def make(
    lifetime: float = 900.0, rng: random.Random | None = None
) -> tuple[FakeClock, Source, Scheduler, RefreshingCredentials]:
    clock = FakeClock()
    source = Source(clock, lifetime)
    scheduler = Scheduler(clock=clock, start_thread=False)
    creds = RefreshingCredentials(
        source, method="test", description="test credentials", clock=clock, scheduler=scheduler,
        rng=rng,
    )  # fmt: skip
    return clock, source, scheduler, creds


class NoJitter(random.Random):
    """Always the top of the range: the plain schedule, without jitter."""

    def uniform(self, a: float, b: float) -> float:
        return b


def live(lifetime: float = 900.0) -> tuple[Scheduler, Source, RefreshingCredentials]:
    """Credentials on a scheduler of their own, with its real threads and the real clock."""
    scheduler = Scheduler()
    source = Source(time.time, lifetime)
    creds = RefreshingCredentials(source, method="test", description="live", scheduler=scheduler)
    return scheduler, source, creds


def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def endpoint_down() -> EndpointRequestError:
    return EndpointRequestError(
        "GET http://127.0.0.1:1/creds failed: connection refused", fix="start the endpoint"
    )


@pytest.mark.parametrize(
    ("lifetime", "advisory", "mandatory"),
    [(900, 300, 60), (3600, 900, 60), (6 * 3600, 3600, 60), (10, 5, 1), (1200, 300, 60)],
)
def test_windows_scale_with_lifetime(lifetime: float, advisory: float, mandatory: float) -> None:
    windows = refresh_windows(lifetime)
    assert (windows.advisory, windows.mandatory) == (advisory, mandatory)


def test_nothing_is_fetched_until_first_use() -> None:
    _, source, _, creds = make()
    assert source.calls == 0
    assert creds.current is None
    creds.get_frozen_credentials()
    assert source.calls == 1


def test_hundred_calls_on_900_second_credentials_make_one_fetch() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    for _ in range(100):
        creds.get_frozen_credentials()
        clock.advance(5)  # 500 s in all: still before the advisory window
        scheduler.run_pending()
    assert source.calls == 1


def test_refresh_happens_in_background_not_on_the_callers_path() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    first = creds.get_frozen_credentials()
    clock.advance(900 - 240)  # inside the advisory window, outside the mandatory margin
    # The caller is served the credentials in hand at once...
    assert creds.get_frozen_credentials() == first
    assert source.calls == 1
    # ...and the refresher does the fetch.
    assert scheduler.run_pending() == 1
    assert source.calls == 2
    second = creds.get_frozen_credentials()
    assert second != first
    assert creds.expiry == datetime.fromtimestamp(clock() + 900, timezone.utc)


def test_static_stability_serves_valid_credentials_and_warns_per_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    first = creds.get_frozen_credentials()
    source.fail = endpoint_down()
    caplog.set_level(logging.DEBUG, logger="ecs_xrole.refresh")
    served = 0
    # Walk from the advisory window to the mandatory margin, calling all the way.
    while clock() < START + 900 - 61:
        assert creds.get_frozen_credentials() == first
        served += 1
        scheduler.run_pending()
        clock.advance(1)
    assert served > 200
    assert source.calls > 2  # retried with backoff
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # One per failed attempt (every attempt after the first load failed), each numbered.
    assert [getattr(r, "attempt", None) for r in warnings] == list(range(1, source.calls))
    assert all("still serving the current credentials" in r.getMessage() for r in warnings)
    assert creds.failing_since is not None
    # Inside the mandatory margin the caller is told what failed and since when.
    clock.advance(2)
    with pytest.raises(CredentialsUnavailableError) as info:
        creds.get_frozen_credentials()
    text = str(info.value)
    assert "failing since" in text
    assert "connection refused" in text
    assert info.value.failing_since == creds.failing_since
    # The source comes back: the next call recovers without restarting anything.
    source.fail = None
    clock.advance(1.5)  # past the retry interval
    recovered = creds.get_frozen_credentials()
    assert recovered != first
    assert creds.failing_since is None


def test_failed_blocking_refresh_is_not_retried_by_every_caller() -> None:
    clock, source, _, creds = make(lifetime=900)
    source.fail = endpoint_down()
    with pytest.raises(EndpointRequestError):
        creds.get_frozen_credentials()
    for _ in range(10):
        with pytest.raises(EndpointRequestError):
            creds.get_frozen_credentials()
    assert source.calls == 1
    clock.advance(1.1)
    with pytest.raises(EndpointRequestError):
        creds.get_frozen_credentials()
    assert source.calls == 2


def test_first_load_raises_the_sources_own_error() -> None:
    _, source, _, creds = make()
    source.fail = endpoint_down()
    with pytest.raises(EndpointRequestError, match="connection refused"):
        creds.get_frozen_credentials()


def test_credentials_expired_on_arrival_are_refused() -> None:
    _, _, _, creds = make(lifetime=-5)
    with pytest.raises(CredentialsUnavailableError) as info:
        creds.get_frozen_credentials()
    assert str(info.value) == (
        "test credentials: the refreshed credentials expired at "
        f"{datetime.fromtimestamp(START - 5, timezone.utc)}, before they arrived. Fix: check the "
        "clock of this host and of the credentials source"
    )


def test_32_threads_share_one_fetch() -> None:
    _, source, _, creds = make()
    source.delay = 0.05  # widen the race window
    barrier = threading.Barrier(32)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(30):
            results.append(creds.get_frozen_credentials())

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert source.calls == 1
    assert len(results) == 960
    assert len(set(results)) == 1


def test_force_refresh_fetches_now() -> None:
    _, source, _, creds = make()
    first = creds.get_frozen_credentials()
    creds.force_refresh()
    assert source.calls == 2
    assert creds.get_frozen_credentials() != first


def test_botocore_properties_read_one_snapshot() -> None:
    _, _, _, creds = make()
    frozen = creds.get_frozen_credentials()
    assert (creds.access_key, creds.secret_key, creds.token) == frozen[:3]
    assert creds.refresh_needed() is False
    assert creds.refresh_needed(refresh_in=3600) is True
    with pytest.raises(AttributeError):
        creds.access_key = "AKIAEXAMPLE"


def test_repr_hides_secrets() -> None:
    _, _, _, creds = make()
    frozen = creds.get_frozen_credentials()
    text = repr(creds) + str(creds) + repr(creds.current)
    assert frozen.secret_key not in text
    assert frozen.token not in text
    assert frozen.access_key not in text


def test_real_refresher_thread_refreshes_short_lived_credentials() -> None:
    source = Source(time.time, lifetime=3.0)
    creds = RefreshingCredentials(source, method="test", description="short-lived")
    first = creds.get_frozen_credentials()
    deadline = time.monotonic() + 5
    # The source counts a call when it starts; the new credentials are in hand a moment later.
    while time.monotonic() < deadline:
        current = creds.get_frozen_credentials()
        assert current is not None
        if source.calls >= 2 and current != first:
            break
        time.sleep(0.05)
    assert source.calls >= 2
    assert creds.get_frozen_credentials() != first
    # Only the first load ran on the caller's thread; refreshes ran on the refresh workers.
    assert source.threads[0] == threading.current_thread().name
    assert set(source.threads[1:]) == {"ecs-xrole-refresh-worker"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_with_a_lock_held_in_the_parent_still_refreshes() -> None:
    source = Source(time.time, lifetime=900)
    creds = RefreshingCredentials(source, method="test", description="forked")
    creds.get_frozen_credentials()
    # Fork while another thread holds the credentials' lock, as a refresh in progress would.
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with creds._lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            creds.force_refresh()
            creds.get_frozen_credentials()
            code = 0 if source.calls == 2 else 3
        finally:
            os._exit(code)
    release.set()
    holder.join()
    deadline = time.monotonic() + 8
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child deadlocked")
    assert os.waitstatus_to_exitcode(status) == 0


def test_timedelta_helpers_are_consistent() -> None:
    # expiry is exposed as an aware UTC datetime
    _, _, _, creds = make()
    creds.get_frozen_credentials()
    assert creds.expiry is not None
    assert creds.expiry.tzinfo is not None
    assert creds.expiry - datetime.fromtimestamp(START, timezone.utc) == timedelta(seconds=900)


def test_scheduler_thread_is_a_daemon_and_stops_cleanly() -> None:
    scheduler, source, creds = live(lifetime=900)
    creds.get_frozen_credentials()  # plans a refresh: the thread starts and sleeps until then
    assert scheduler.thread_alive
    assert scheduler._thread is not None
    assert scheduler._thread.daemon
    scheduler.stop()
    assert not scheduler.thread_alive
    assert source.calls == 1


def test_dropped_credentials_are_freed_at_once_and_stop_refreshing() -> None:
    import gc
    import weakref

    clock, source, scheduler, creds = make()
    creds.get_frozen_credentials()  # loaded, and a background refresh is planned
    ref = weakref.ref(creds)
    gc.disable()
    try:
        del creds
        assert ref() is None  # no reference cycle: freed without the cyclic collector
    finally:
        gc.enable()
    clock.advance(900)
    assert scheduler.run_pending() == 0
    assert source.calls == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_children_draw_different_jitter() -> None:
    creds = RefreshingCredentials(Source(time.time), method="test", description="jitter")
    readers = []
    for _ in range(2):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: report its first draw
            os.write(write_fd, repr(creds._rng.random()).encode())
            os._exit(0)
        os.close(write_fd)
        os.waitpid(pid, 0)
        readers.append(os.read(read_fd, 100))
        os.close(read_fd)
    assert readers[0] != readers[1]


# -- the background refresher's own paths (issue 14) ------------------------------------------


def test_the_background_refresh_yields_to_a_callers_refresh_and_comes_back() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    clock.advance(900 - 240)  # the background refresh is due
    with creds._lock:  # a caller is refreshing right now (force_refresh holds this lock)
        assert scheduler.run_pending() == 1
        assert source.calls == 1  # it did not fetch beside the caller
    assert creds.scheduled_at == clock() + 1.0  # it looks again a second later
    assert scheduler.run_pending() == 0
    clock.advance(1.0)
    assert scheduler.run_pending() == 1
    assert source.calls == 2


def test_a_background_refresh_that_is_not_yet_due_is_replanned_not_run() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    due = creds.scheduled_at
    assert due is not None
    scheduler.schedule(creds, clock())  # an early wake-up (a nudge from a forked parent...)
    assert scheduler.run_pending() == 1
    assert source.calls == 1
    assert creds.scheduled_at == due


def _fail_in_background(
    clock: FakeClock, scheduler: Scheduler, creds: RefreshingCredentials
) -> float:
    """Run the next planned background refresh; return how long until the one after."""
    assert creds.scheduled_at is not None
    clock.now = max(clock.now, creds.scheduled_at)
    assert scheduler.run_pending() == 1
    assert creds.scheduled_at is not None
    return creds.scheduled_at - clock()


def test_a_success_resets_the_backoff_and_the_failure_streak() -> None:
    clock, source, scheduler, creds = make(lifetime=3600)
    creds.get_frozen_credentials()
    source.fail = endpoint_down()
    delays = [_fail_in_background(clock, scheduler, creds) for _ in range(4)]
    assert delays[-1] > 2.0  # 0.5 * 2**4, jittered down to at most half: backing off
    assert creds.failing_since is not None
    source.fail = None
    _fail_in_background(clock, scheduler, creds)  # succeeds
    assert creds.failing_since is None
    clock.advance(3600 - 900 - 120)  # the next advisory window
    source.fail = endpoint_down()
    # The first failure of a new streak retries within a second again.
    assert _fail_in_background(clock, scheduler, creds) <= 1.0


def test_background_retries_stay_ahead_of_the_mandatory_margin() -> None:
    clock, source, scheduler, creds = make(lifetime=3600)
    creds.get_frozen_credentials()
    source.fail = endpoint_down()
    mandatory_at = START + 3600 - 60
    attempts = 0
    while mandatory_at - clock() > 1.5:
        delay = _fail_in_background(clock, scheduler, creds)
        attempts += 1
        assert clock() + delay < mandatory_at  # never planned past the margin
        assert delay <= 300.0
    assert attempts > 20
    # The source comes back just before the margin: the background picks it up, no caller waits.
    source.fail = None
    clock.now = creds.scheduled_at or clock.now
    scheduler.run_pending()
    assert creds.failing_since is None


def test_unchanged_short_credentials_do_not_make_the_refresher_spin() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock=clock, start_thread=False)
    same = TemporaryCredentials(
        access_key_id="ASIASAME",
        secret_access_key="s" * 40,
        session_token="t" * 40,
        expiration=datetime.fromtimestamp(START + 2, timezone.utc),
    )
    calls = []

    def fetch() -> TemporaryCredentials:
        calls.append(clock())
        return same

    creds = RefreshingCredentials(
        fetch, method="test", description="same", clock=clock, scheduler=scheduler
    )
    creds.get_frozen_credentials()
    assert creds.scheduled_at is not None
    assert creds.scheduled_at >= clock() + 0.5  # a gap, not "due at once" again
    assert scheduler.run_pending() == 0
    assert calls == [START]


def test_a_stopped_scheduler_stays_stopped() -> None:
    scheduler, source, creds = live(lifetime=900)
    creds.get_frozen_credentials()
    assert scheduler.thread_alive
    scheduler.stop()
    assert not scheduler.thread_alive
    scheduler.schedule(creds, time.time())  # due now: would run if a thread came back
    scheduler.nudge(creds, time.time())
    time.sleep(0.2)
    assert not scheduler.thread_alive
    assert source.calls == 1
    scheduler.stop()  # idempotent


# -- what a caller is told, and the refresher's bookkeeping -----------------------------------


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def test_a_failed_mandatory_refresh_says_what_failed_since_when_and_until_when() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    source.fail = endpoint_down()
    clock.now = creds.scheduled_at or clock.now
    started = clock()
    assert scheduler.run_pending() == 1  # the streak starts in the background
    clock.now = START + 900 - 30  # inside the mandatory margin, not yet expired
    with pytest.raises(CredentialsUnavailableError) as info:
        creds.get_frozen_credentials()
    assert info.value.what == (
        f"test credentials: could not refresh credentials (failing since {_iso(started)}); "
        f"the credentials in hand expire soon at {_iso(START + 900)}. Last error: "
        "GET http://127.0.0.1:1/creds failed: connection refused"
    )
    assert info.value.fix == "start the endpoint"  # the cause's own fix
    assert info.value.failing_since == datetime.fromtimestamp(started, timezone.utc)
    assert info.value.expires_at == datetime.fromtimestamp(START + 900, timezone.utc)
    assert info.value.__cause__ is source.fail
    # Callers within the retry interval get the same account without a new attempt.
    calls = source.calls
    with pytest.raises(CredentialsUnavailableError) as again:
        creds.get_frozen_credentials()
    assert again.value.what == info.value.what
    assert source.calls == calls


def test_credentials_past_their_expiry_are_said_to_have_expired() -> None:
    clock, source, _, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    source.fail = CredentialsUnavailableError("the source is gone")  # an error with no fix
    clock.now = START + 900  # the very second they expire
    with pytest.raises(CredentialsUnavailableError) as info:
        creds.get_frozen_credentials()
    assert info.value.what == (
        f"test credentials: could not refresh credentials (failing since {_iso(clock())}); "
        f"the credentials in hand have expired at {_iso(START + 900)}. Last error: "
        "the source is gone"
    )
    assert info.value.fix == "check the credentials source and retry"


def test_repr_says_whether_and_when_the_credentials_expire() -> None:
    clock, _, _, creds = make(lifetime=900)
    assert repr(creds) == "<RefreshingCredentials test credentials: not loaded>"
    creds.get_frozen_credentials()
    expires = datetime.fromtimestamp(START + 900, timezone.utc)
    assert repr(creds) == f"<RefreshingCredentials test credentials: expires {expires}>"
    forever = RefreshingCredentials(
        lambda: TemporaryCredentials("AKIAFOREVER", "s" * 40, None, None),
        method="test",
        description="long-term keys",
        clock=clock,
        scheduler=Scheduler(clock=clock, start_thread=False),
    )
    assert forever.get_frozen_credentials() == ("AKIAFOREVER", "s" * 40, None, None)
    assert repr(forever) == "<RefreshingCredentials long-term keys: no expiry>"
    assert forever.expiry is None
    assert forever.scheduled_at is None  # nothing to refresh, nothing planned


def _z(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def test_each_background_failure_warns_with_its_code_and_next_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, source, scheduler, creds = make(lifetime=3600)
    creds.get_frozen_credentials()
    source.fail = endpoint_down()
    caplog.set_level(logging.DEBUG, logger="ecs_xrole.refresh")
    first_failure = creds.scheduled_at
    expected = []
    for n in (1, 2, 3):
        delay = _fail_in_background(clock, scheduler, creds)
        expected.append(
            (
                logging.WARNING,
                f"test credentials: refresh attempt {n} failed (EndpointRequestError, code "
                "none): GET http://127.0.0.1:1/creds failed: connection refused"
                # The fix once per streak of failures.
                + (". Fix: start the endpoint" if n == 1 else "")
                + "; still serving the current credentials, valid until "
                f"{_z(START + 3600)}; next attempt at {_z(clock() + delay)} (in {delay:.1f} s)",
            )
        )
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == expected
    # The same facts as record attributes, for structured logging.
    last: Any = caplog.records[-1]
    assert last.next_attempt == datetime.fromtimestamp(creds.scheduled_at or 0, timezone.utc)
    assert (last.error_type, last.error_code, last.attempt) == ("EndpointRequestError", None, 3)
    caplog.clear()
    source.fail = None
    _fail_in_background(clock, scheduler, creds)
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records[0][0] == logging.INFO
    assert records[0][1].startswith("test credentials: refreshed, new expiry ")
    assert records[0][1].endswith(", attempt 4")
    assert records[1:] == [
        (
            logging.WARNING,
            "test credentials: refreshed again after failing since "
            f"{datetime.fromtimestamp(first_failure or 0, timezone.utc)}",
        )
    ]


def test_backoff_doubles_per_failure_up_to_five_minutes() -> None:
    clock, source, scheduler, creds = make(lifetime=6 * 3600, rng=NoJitter())
    creds.get_frozen_credentials()
    source.fail = endpoint_down()
    delays = [_fail_in_background(clock, scheduler, creds) for _ in range(12)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0, 300.0]


def test_backoff_jitter_draws_between_half_and_all_of_the_step() -> None:
    drawn: list[tuple[float, float]] = []

    class Recording(random.Random):
        def uniform(self, a: float, b: float) -> float:
            drawn.append((a, b))
            return a

    clock, source, scheduler, creds = make(lifetime=6 * 3600, rng=Recording())
    creds.get_frozen_credentials()
    assert drawn == [(0, 3600 / 5)]  # the refresh time: up to a fifth of the advisory window early
    source.fail = endpoint_down()
    drawn.clear()
    assert _fail_in_background(clock, scheduler, creds) == 0.5  # half of the first 1-second step
    assert drawn == [(0.5, 1.0)]


def test_a_nudge_plans_an_unplanned_refresh_and_leaves_a_planned_one() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    planned = creds.scheduled_at
    scheduler.nudge(creds, clock())  # planned, no thread to lose: nothing changes
    assert creds.scheduled_at == planned
    assert scheduler.queued == 1
    clock.now = planned or clock.now
    scheduler._claim(heapq.heappop(scheduler._heap))  # handed out, as to a worker lost in a fork
    assert creds.scheduled_at is None
    scheduler.nudge(creds, clock())
    assert creds.scheduled_at == clock()
    assert scheduler.run_pending() == 1
    assert source.calls == 2


def test_a_nudge_restarts_a_planning_thread_that_is_not_running() -> None:
    scheduler, source, creds = live(lifetime=900)
    lost = None
    try:
        creds.get_frozen_credentials()
        lost = scheduler._thread
        planned = creds.scheduled_at
        assert lost is not None
        assert lost.is_alive()
        scheduler._thread = None  # as in a forked child: planned, but no thread here
        scheduler.nudge(creds, time.time())
        assert scheduler.thread_alive
        assert scheduler._thread is not lost
        # The new thread took the refresh planned for now, found it not yet due and replanned it.
        assert _until(lambda: creds.scheduled_at == planned)
        assert source.calls == 1
        scheduler._stopped = True  # the first thread, too, ends at stop
        with scheduler._cond:
            scheduler._cond.notify_all()
    finally:
        scheduler.stop()
        if lost is not None:  # stop() no longer knows the first thread: wait for it here
            lost.join(5.0)


def test_stop_waits_for_the_planning_thread_and_returns_when_it_ends() -> None:
    scheduler, _source, creds = live(lifetime=900)
    creds.get_frozen_credentials()
    thread = scheduler._thread
    assert thread is not None
    assert thread.is_alive()
    scheduler.stop(timeout=5.0)
    assert not thread.is_alive()  # stop returned after the thread ended, not before


# -- after fork, tested in this process (the forked children above cannot report mutations) --


def test_after_fork_the_plan_takes_back_refreshes_handed_to_lost_workers() -> None:
    clock, source, scheduler, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    clock.now = creds.scheduled_at or clock.now
    with scheduler._cond:  # the planning thread hands the refresh to a worker...
        claimed = scheduler._claim(heapq.heappop(scheduler._heap))
        assert claimed is creds
        scheduler._ready.append(creds)
        scheduler._workers = scheduler._idle = 1
    held = scheduler._cond  # ...and a thread that does not survive the fork holds the lock
    held.acquire()
    scheduler._after_fork()
    assert scheduler._cond.acquire(timeout=1.0)  # the child has a lock of its own
    scheduler._cond.release()
    assert scheduler._work.acquire(timeout=1.0)
    scheduler._work.release()
    assert (scheduler._thread, scheduler._workers, scheduler._idle) == (None, 0, 0)
    assert not scheduler._ready
    assert creds.scheduled_at == clock()  # due at once in the child
    assert scheduler.queued == 1
    assert scheduler.run_pending() == 1
    assert source.calls == 2
    scheduler.stop()  # stops what the child starts (none here), the lost workers forgotten
    held.release()


def test_after_fork_credentials_get_a_new_lock_and_new_jitter() -> None:
    clock = FakeClock()
    creds = RefreshingCredentials(
        Source(clock), method="test", description="f", clock=clock,
        scheduler=Scheduler(clock=clock, start_thread=False), rng=random.Random(7),
    )  # fmt: skip
    creds._lock.acquire()  # held by a parent thread that is not in the child
    creds._after_fork()
    assert creds._lock.acquire(timeout=1.0)
    creds._lock.release()
    assert creds._rng.random() != random.Random(7).random()  # reseeded, not the parent's draws
    creds.force_refresh()  # and it refreshes


def test_the_fork_hook_renews_the_default_scheduler_and_every_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clock, _source, scheduler, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    old_default_lock = threading.Lock()
    old_default_lock.acquire()
    monkeypatch.setattr(scheduler_module, "_default_lock", old_default_lock)
    monkeypatch.setattr(scheduler_module, "_default", scheduler)
    creds._lock.acquire()
    scheduler._cond.acquire()
    scheduler_module._after_fork_in_child()
    assert scheduler_module._default_lock is not old_default_lock
    assert scheduler_module._default_lock.acquire(timeout=1.0)
    scheduler_module._default_lock.release()
    assert scheduler._cond.acquire(timeout=1.0)
    scheduler._cond.release()
    assert creds._lock.acquire(timeout=1.0)
    creds._lock.release()


def test_at_exit_the_default_schedulers_threads_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler = Scheduler()
    monkeypatch.setattr(scheduler_module, "_default", scheduler)
    creds = RefreshingCredentials(
        Source(time.time), method="test", description="x", scheduler=scheduler
    )
    creds.get_frozen_credentials()
    assert scheduler.thread_alive
    scheduler_module._stop_at_exit()
    assert not scheduler.thread_alive
    scheduler.schedule(creds, time.time())
    assert not scheduler.thread_alive  # stopped for good: no refresh starts during shutdown


def test_refresh_needed_answers_botocores_question_at_the_boundaries() -> None:
    clock, _, _, creds = make(lifetime=900)
    assert creds.refresh_needed() is True  # nothing loaded yet
    assert creds.refresh_needed(refresh_in=0) is True
    creds.get_frozen_credentials()
    assert creds.refresh_needed(refresh_in=900) is False  # expires in exactly 900 s: not within
    assert creds.refresh_needed(refresh_in=900.5) is True
    clock.now = START + 900 - 60  # exactly at the mandatory margin
    assert creds.refresh_needed() is True
    assert creds.frozen_if_fresh() is None  # from here on, callers wait for fresh credentials
    clock.now -= 0.5
    assert creds.refresh_needed() is False


def test_botocores_refresh_hook_fetches_and_returns_botocores_metadata() -> None:
    _, source, _, creds = make(lifetime=900)
    creds.get_frozen_credentials()
    metadata = creds._refresh_using()  # what botocore's own refresh path would call
    assert source.calls == 2  # it fetched
    current = creds.current
    assert current is not None
    assert current.expiration is not None
    assert metadata == {
        "access_key": current.access_key_id,
        "secret_key": current.secret_access_key,
        "token": current.session_token,
        "expiry_time": current.expiration.isoformat(),
        "account_id": current.account_id,
    }


def test_purging_the_plan_keeps_exactly_each_live_credentials_latest_plan() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock=clock, start_thread=False)
    source = Source(clock, lifetime=3600)
    many = [
        RefreshingCredentials(
            source, method="test", description=f"c{i}", clock=clock, scheduler=scheduler
        )
        for i in range(40)
    ]
    for creds in many:
        creds.get_frozen_credentials()  # one plan each
    for step in (1, 2, 3):  # each replanned three times: 120 superseded entries
        for i, creds in enumerate(many):
            scheduler.schedule(creds, START + 100 * step + i)
    assert scheduler.queued < 160  # purged on the way
    assert {c.scheduled_at for c in many} == {START + 300 + i for i in range(40)}
    clock.now = START + 299
    assert scheduler.run_pending() == 0  # the superseded, earlier plans do not run
    clock.now = START + 400
    assert scheduler.run_pending() == 40  # each live plan runs, once
    # ...and, not yet due for a fetch, each is planned again for its own refresh time.
    assert all((c.scheduled_at or 0) > START + 400 for c in many)
    assert scheduler.run_pending() == 0


def test_past_the_mandatory_margin_the_backoff_keeps_growing() -> None:
    clock, source, scheduler, creds = make(lifetime=900, rng=NoJitter())
    creds.get_frozen_credentials()
    source.fail = endpoint_down()
    clock.now = START + 900 - 30  # inside the mandatory margin: no cap to keep ahead of it
    creds.scheduled_at = None
    scheduler.schedule(creds, clock())
    delays = [_fail_in_background(clock, scheduler, creds) for _ in range(4)]
    assert delays == [1.0, 2.0, 4.0, 8.0]


def test_stop_returns_by_its_timeout_while_a_refresh_is_stuck() -> None:
    scheduler, source, creds = live(lifetime=2.0)  # due for a refresh within about a second
    creds.get_frozen_credentials()
    release = threading.Event()
    started = threading.Event()

    def stuck() -> TemporaryCredentials:
        started.set()
        release.wait(10)
        return source()

    creds._fetch = stuck  # the background refresh, when due, hangs in a worker
    assert started.wait(5)
    workers = list(scheduler._worker_threads)
    scheduler.stop(timeout=0.2)
    assert any(worker.is_alive() for worker in workers)  # it returned; the refresh goes on
    release.set()
    for worker in workers:
        worker.join(5)


def test_idle_workers_end_and_new_ones_start_for_later_refreshes() -> None:
    scheduler = Scheduler(max_workers=1, idle_timeout=0.1)
    try:
        for round_ in (1, 2):
            source = Source(time.time, lifetime=2.0)  # due for a refresh within about a second
            creds = RefreshingCredentials(
                source, method="test", description=f"r{round_}", scheduler=scheduler
            )
            creds.get_frozen_credentials()
            assert _until(lambda s=source: s.calls >= 2)  # a worker ran the background refresh
            assert source.threads[-1] == "ecs-xrole-refresh-worker"
            assert all(t.daemon for t in list(scheduler._worker_threads))
            # Idle for longer than idle_timeout, the worker ends and says so.
            assert _until(lambda: not any(t.is_alive() for t in list(scheduler._worker_threads)))
            assert (scheduler._workers, scheduler._idle) == (0, 0)
            assert scheduler._thread is not None
            assert scheduler._thread.name == "ecs-xrole-refresher"
            assert scheduler._thread.daemon
            del creds
    finally:
        scheduler.stop()


def test_a_superseded_plan_falling_due_does_not_stop_the_planning_thread() -> None:
    scheduler, _source, creds = live(lifetime=900)
    try:
        creds.get_frozen_credentials()
        planned = creds.scheduled_at
        now = time.time()
        scheduler.schedule(creds, now + 0.1)  # falls due first, but is superseded...
        scheduler.schedule(creds, now + 0.3)  # ...by this one, which must still run
        # Run, it finds the refresh not yet due and plans it again for its own time.
        assert _until(lambda: creds.scheduled_at == planned)
        assert scheduler.thread_alive
    finally:
        scheduler.stop()


def test_credentials_inside_their_margin_right_after_a_refresh_are_refreshed_again() -> None:
    clock, source, _, creds = make(lifetime=0.5)  # the margin starts 0.45 s after the fetch
    creds.get_frozen_credentials()
    clock.advance(0.46)  # inside the margin, within the retry interval of the last (good) fetch
    creds.get_frozen_credentials()
    assert source.calls == 2  # a success leaves no error for callers to be handed


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def test_status_walks_pending_ok_degraded_failing_ok_with_exact_times_and_counts() -> None:
    clock, source, scheduler, creds = make(lifetime=900, rng=NoJitter())
    pending = creds.status()
    assert (pending.state, pending.expiry, pending.refreshes, pending.failures) == (
        "pending", None, 0, 0,
    )  # fmt: skip
    assert pending.description == "test credentials"
    assert pending.method == "test"
    creds.get_frozen_credentials()
    ok = creds.status()
    assert ok.state == "ok"
    assert (ok.expiry, ok.expires_in, ok.last_refresh) == (_at(START + 900), 900.0, _at(START))
    assert ok.next_refresh == _at(START + 900 - 300 - 60)  # advisory window plus full jitter
    assert (ok.refreshes, ok.failures, ok.consecutive_failures, ok.last_error) == (1, 0, 0, None)

    source.fail = EndpointRequestError("GET http://127.0.0.1:1/creds: 503", status=503)
    _fail_in_background(clock, scheduler, creds)
    failed_at = clock()
    _fail_in_background(clock, scheduler, creds)
    degraded = creds.status()
    assert degraded.state == "degraded"
    assert degraded.failing_since == _at(failed_at)
    assert (degraded.last_error, degraded.last_error_code) == ("EndpointRequestError", "503")
    assert degraded.last_error_at == _at(clock())
    assert (degraded.refreshes, degraded.failures, degraded.consecutive_failures) == (1, 2, 2)
    assert degraded.expiry == ok.expiry  # still the credentials in hand

    clock.now = START + 900 - 60  # the mandatory margin: callers now get the error
    assert creds.status().state == "failing"
    with pytest.raises(CredentialsUnavailableError):
        creds.get_frozen_credentials()
    failing = creds.status()
    assert (failing.state, failing.failures, failing.last_error_code) == ("failing", 3, "503")

    source.fail = None
    clock.advance(2)  # past the retry interval
    creds.get_frozen_credentials()
    recovered = creds.status()
    assert recovered.state == "ok"
    assert recovered.failing_since is None
    assert (recovered.refreshes, recovered.failures, recovered.consecutive_failures) == (2, 3, 0)
    # The last failure is kept, with its time: when it last failed, and why.
    assert (recovered.last_error, recovered.last_error_code) == ("EndpointRequestError", "503")
    assert recovered.last_error_at == failing.last_error_at
    assert recovered.last_refresh == _at(clock())
    assert recovered.as_dict()["last_refresh"] == _z(clock())
    assert recovered.as_dict()["expires_in"] == 900


def test_a_failed_first_load_is_failing_and_counted() -> None:
    _clock, source, _scheduler, creds = make()
    source.fail = endpoint_down()
    with pytest.raises(EndpointRequestError):
        creds.get_frozen_credentials()
    status = creds.status()
    assert (status.state, status.expiry, status.expires_in) == ("failing", None, None)
    assert (status.refreshes, status.failures, status.last_error_code) == (0, 1, None)
    assert status.role_arn is None


def test_error_code_is_stss_the_endpoints_or_the_causes() -> None:
    from ecs_xrole.errors import AssumeRoleError

    throttled = AssumeRoleError("slow down", role_arn="arn:aws:iam::1:role/r", code="Throttling")
    assert status_module.error_code(throttled) == "Throttling"
    assert status_module.error_code(EndpointRequestError("x", status=500)) == "500"
    assert (
        status_module.error_code(EndpointRequestError("x", status=400, code="BadToken"))
        == "BadToken"
    )
    assert status_module.error_code(endpoint_down()) is None
    wrapped = CredentialsUnavailableError("could not refresh")
    wrapped.__cause__ = throttled
    assert status_module.error_code(wrapped) == "Throttling"


def test_credentials_status_lists_the_live_objects_oldest_first() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock=clock, start_thread=False)
    made = [
        RefreshingCredentials(
            Source(clock), method="test", description=f"ordered {n}", clock=clock,
            scheduler=scheduler,
        )
        for n in range(3)
    ]  # fmt: skip
    made[1].get_frozen_credentials()

    def ours() -> list[tuple[str, str]]:
        return [
            (s.description, s.state)
            for s in status_module.credentials_status()
            if s.description.startswith("ordered ")
        ]

    assert ours() == [("ordered 0", "pending"), ("ordered 1", "ok"), ("ordered 2", "pending")]
    del made[0]  # dropped: no longer reported
    assert ours() == [("ordered 1", "ok"), ("ordered 2", "pending")]
