"""The background refresher: one thread plans every refresh, a small pool runs them.

The process-wide :class:`Scheduler` behind :class:`~ecs_xrole._refresh.RefreshingCredentials`:
it keeps refreshes off the callers' path, and a refresh stuck on a slow endpoint or STS holds
one worker, never another role's refresh. Restarted on demand after ``fork``. See
docs/design.md, "Off the caller's path", and docs/security.md, "One stuck refresh never
delays another".
"""

from __future__ import annotations

import atexit
import collections
import heapq
import itertools
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from ._fork import on_fork_in_child
from ._status import _ALL, Clock

if TYPE_CHECKING:
    from ._refresh import RefreshingCredentials

logger = logging.getLogger("ecs_xrole.refresh")


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
    global _default_lock
    _default_lock = threading.Lock()
    if _default is not None:
        _default._after_fork()
    for credentials in list(_ALL):
        credentials._after_fork()


def _stop_at_exit() -> None:
    # No refresh should start while the interpreter is shutting down.
    if _default is not None:
        _default.stop(timeout=1.0)


on_fork_in_child(_after_fork_in_child)
atexit.register(_stop_at_exit)
