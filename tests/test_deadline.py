"""ecs_xrole._deadline.run_within: the value, the call's error, or TimeoutError at the deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ecs_xrole import _deadline
from ecs_xrole._deadline import run_within

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event the test's hanging calls wait for; set at the end so no thread is left."""
    event = threading.Event()
    yield event
    event.set()


def test_returns_the_value() -> None:
    assert run_within(5.0, lambda: {"answer": 42}) == {"answer": 42}


def test_raises_the_calls_own_error() -> None:
    error = LookupError("the call's own error")

    def fail() -> None:
        raise error

    with pytest.raises(LookupError) as raised:
        run_within(5.0, fail)
    assert raised.value is error


def test_raises_timeout_at_the_deadline_when_the_call_never_returns(
    release: threading.Event,
) -> None:
    def hang(secret: str = SECRET) -> str:
        release.wait()
        return secret

    started = time.monotonic()
    with pytest.raises(TimeoutError) as raised:
        run_within(0.3, hang)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2.0
    assert str(raised.value) == "no answer within 0.3 s"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert SECRET not in repr(raised.value)


def test_runs_on_a_daemon_thread_of_the_given_name() -> None:
    def where() -> tuple[str, bool]:
        thread = threading.current_thread()
        return thread.name, thread.daemon

    assert run_within(5.0, where, name="ecs-xrole-test") == ("ecs-xrole-test", True)


def test_callers_sharing_a_key_share_one_call(release: threading.Event) -> None:
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        release.wait()

    key = ("test", object())
    with pytest.raises(TimeoutError):
        run_within(0.1, slow, key=key)
    with pytest.raises(TimeoutError):  # joins the call still running: no second thread
        run_within(0.1, slow, key=key)
    assert calls == [1]
    release.set()
    deadline = time.monotonic() + 5.0
    while key in _deadline._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert key not in _deadline._in_flight  # a finished call is forgotten


def test_the_second_caller_with_a_key_gets_the_first_call_s_answer() -> None:
    calls: list[int] = []
    go = threading.Event()

    def once() -> int:
        calls.append(1)
        go.wait(5.0)
        return len(calls)

    key = ("test", object())
    with pytest.raises(TimeoutError):
        run_within(0.05, once, key=key)
    timer = threading.Timer(0.2, go.set)  # the first call answers while the second waits
    timer.start()
    try:
        assert run_within(5.0, once, key=key) == 1
    finally:
        timer.cancel()
        go.set()
    assert calls == [1]


def test_without_a_key_each_call_runs_on_its_own(release: threading.Event) -> None:
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        release.wait()

    for _ in range(2):
        with pytest.raises(TimeoutError):
            run_within(0.05, slow)
    deadline = time.monotonic() + 5.0
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == [1, 1]


def test_after_fork_no_call_of_the_parent_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fork hook, run in this process (a forked child's mutations could not be reported):
    # a call in flight in the parent has no thread in the child, and its lock may be held.
    from concurrent.futures import Future

    held = threading.Lock()
    held.acquire()
    monkeypatch.setattr(_deadline, "_in_flight_lock", held)
    monkeypatch.setattr(_deadline, "_in_flight", {"a call in the parent": Future()})
    _deadline._after_fork_in_child()
    assert _deadline._in_flight == {}
    assert _deadline._in_flight_lock is not held
    assert _deadline._in_flight_lock.acquire(timeout=1.0)
    _deadline._in_flight_lock.release()
