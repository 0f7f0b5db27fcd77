"""Run a call with a wall-clock deadline: one thread, one answer, never a wait past the deadline.

A socket timeout bounds each read, not a whole call: an AssumeRole through botocore's retries,
a profile's credential_process or an endpoint that answers a byte at a time can take far
longer. :func:`run_within` runs the call on a daemon thread and stops waiting at the deadline.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from ._fork import on_fork_in_child

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any, TypeVar

    T = TypeVar("T")


# Calls still running, by the key their callers shared. A caller whose deadline passed leaves
# its call running (a thread cannot be stopped); the next caller with the same key waits for
# that call instead of starting another, so a server that never answers holds at most one
# thread per key, and a late answer is still used.
_in_flight: dict[Hashable, Future[Any]] = {}
_in_flight_lock = threading.Lock()


def run_within(
    seconds: float,
    call: Callable[[], T],
    *,
    name: str = "ecs-xrole-deadline",
    key: Hashable | None = None,
) -> T:
    """Return what ``call()`` returns, or raise what it raised, within ``seconds`` of wall-clock
    time; raise :class:`TimeoutError` (message: ``no answer within {seconds} s``, nothing of
    the call's arguments or results) when the deadline passes first, even if ``call`` never
    returns.

    ``call`` runs on a daemon thread named ``name`` (interpreter exit does not wait for it),
    which goes on after the deadline until ``call`` ends; its late answer then goes to callers
    that share its ``key``: with a ``key``, a caller waits for the call already running for that
    key (if any) instead of starting another, one thread and one answer for all of them.
    """
    with _in_flight_lock:
        future = _in_flight.get(key) if key is not None else None
        start = future is None
        if future is None:
            future = Future()
            if key is not None:
                _in_flight[key] = future
    if start:
        threading.Thread(target=_run, args=(call, key, future), name=name, daemon=True).start()
    try:
        return future.result(timeout=seconds)  # type: ignore[no-any-return]
    except FutureTimeout:
        raise TimeoutError(f"no answer within {seconds:g} s") from None


def _run(call: Callable[[], object], key: Hashable | None, future: Future[Any]) -> None:
    try:
        result = call()
    except BaseException as exc:  # handed to the waiting callers
        _done(key, future)
        future.set_exception(exc)
    else:
        _done(key, future)
        future.set_result(result)


def _done(key: Hashable | None, future: Future[Any]) -> None:
    if key is not None:
        with _in_flight_lock:
            if _in_flight.get(key) is future:
                del _in_flight[key]


def _after_fork_in_child() -> None:
    global _in_flight_lock
    # The calls running in the parent have no thread here, and the lock may have been held.
    _in_flight_lock = threading.Lock()
    _in_flight.clear()


on_fork_in_child(_after_fork_in_child)
