"""Every plain HTTP request ecs-xrole makes: one urllib3 pool, a wall-clock watchdog, http_get.

Used for the credentials endpoint, task metadata, doctor's probe and ``health``: no
redirects, no proxy, a size limit, and a deadline that holds against a server that
drip-feeds its answer (a watchdog shuts the socket down). The pool is dropped in a forked
child. See docs/security.md, "Wall-clock deadlines".
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._fork import on_fork_in_child

# A generator of our own: the jitter must not draw from (or be steered by a seed of) the
# application's global random state.
_jitter = random.Random()


#: Largest body read from the endpoint (a real answer is under 4 kB).
MAX_BODY = 64 * 1024

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


def http_pool() -> urllib3.PoolManager:
    """Return the process's shared connection pool, creating it on first use (thread-safe).

    Retries and redirects are off: callers retry themselves, under their own deadline. Its
    connections report to the deadline watchdog (see :func:`http_get`).
    """
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                made = urllib3.PoolManager(num_pools=4, maxsize=4, block=False, retries=False)
                made.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
                _pool = made
            pool = _pool
    return pool


class WallClockTimeout(urllib3.exceptions.TimeoutError):
    """A request's wall-clock deadline passed while it was still connecting or reading."""


class _Guard:
    """One request's deadline and what it used (read by the watchdog thread).

    Both the connections and their sockets are kept: http.client detaches the socket from
    a connection that is to close once the headers are read (``Connection: close``), and
    the body is then read from that socket alone.
    """

    __slots__ = ("at", "connections", "fired", "sockets")

    def __init__(self, at: float) -> None:
        self.at = at
        self.connections: list[Any] = []
        self.sockets: list[Any] = []
        self.fired = False

    def cut(self) -> None:
        """Shut down the sockets (caller holds the watchdog's lock). Idempotent."""
        self.fired = True
        live = [getattr(connection, "sock", None) for connection in self.connections]
        for sock in [*live, *self.sockets]:
            if sock is None:
                continue
            # The plain socket's shutdown, also for a TLS socket (ssl's own would drop its state
            # under the reading thread): the blocked recv returns at once. A socket already
            # closed raises, and is left alone.
            with suppress(OSError, TypeError, ValueError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that cuts the sockets of requests whose deadline passed.

    urllib3's timeouts bound each socket operation, not a request: a server sending a byte a
    second never trips them. Cheap when nothing is late: a request costs two lock rounds and
    a notify; the thread starts with the first request and sleeps until the earliest deadline.
    """

    #: A cut request is cut again this often until it ends: a socket made after the first cut
    #: (the TLS handshake of a connection that was still opening) is cut too.
    RECUT = 0.05
    #: The cut comes this long after the deadline: a silent server is ended by the socket
    #: timeout (clipped to the deadline), which says more ("read timed out"); the watchdog is
    #: for what that timeout cannot end.
    GRACE = 0.05

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._guards: set[_Guard] = set()
        self._thread: threading.Thread | None = None

    def add(self, guard: _Guard) -> None:
        with self._cond:
            self._guards.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ecs-xrole-deadline-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def watch(self, guard: _Guard, connection: Any) -> None:
        with self._cond:
            if connection not in guard.connections:
                guard.connections.append(connection)
            sock = getattr(connection, "sock", None)
            if sock is not None and sock not in guard.sockets:
                guard.sockets.append(sock)
            if guard.fired:
                guard.cut()

    def remove(self, guard: _Guard) -> bool:
        """Stop watching; return whether the deadline cut the request."""
        with self._cond:
            self._guards.discard(guard)
            return guard.fired

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wake: float | None = None
                for guard in self._guards:
                    if guard.at <= now:
                        guard.cut()
                        due = now + self.RECUT
                    else:
                        due = guard.at
                    wake = due if wake is None else min(wake, due)
                self._cond.wait(None if wake is None else max(wake - now, 0.001))


_watchdog = _Watchdog()
# The guard of the request this thread is making, for the connection classes below.
_current = threading.local()


def _watch(connection: Any) -> None:
    guard = getattr(_current, "guard", None)
    if guard is not None:
        _watchdog.watch(guard, connection)


class _WatchedHTTPConnection(HTTPConnection):
    # connect() covers a new connection (and the TLS handshake), getresponse() a kept-alive one.
    def connect(self) -> None:
        _watch(self)
        super().connect()

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    # The watched connect()/getresponse() above, calling on into HTTPSConnection's (TLS).
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


@contextmanager
def _deadline(at: float) -> Iterator[_Guard]:
    guard = _Guard(at + _Watchdog.GRACE)
    _current.guard = guard
    _watchdog.add(guard)
    try:
        yield guard
    finally:
        _current.guard = None
        _watchdog.remove(guard)


def _forget_pool_after_fork() -> None:
    # The child must not reuse the parent's keep-alive sockets: two processes writing one
    # connection interleave requests. Drop the pool (closing only our copies of the fds) and
    # replace the lock, which another parent thread may have held at fork time; the watchdog
    # thread did not survive the fork.
    global _pool, _pool_lock, _watchdog
    _pool = None
    _pool_lock = threading.Lock()
    _watchdog = _Watchdog()
    _jitter.seed()  # forked workers must not all draw the same jitter


on_fork_in_child(_forget_pool_after_fork)


@dataclass(frozen=True)
class Answer:
    """What :func:`http_get` got: the status, the headers, and the body (``None`` when it was
    larger than the limit and was not read to its end)."""

    status: int
    headers: Mapping[str, str]
    body: bytes | None


def http_get(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    deadline: float,
    connect_timeout: float,
    read_timeout: float,
    limit: int = MAX_BODY,
) -> Answer:
    """GET ``url`` once and read at most ``limit`` bytes of its body, all by ``deadline``.

    ``deadline`` is a :func:`time.monotonic` time: whatever the server does (drip-feeding its
    status line, headers or body, or saying nothing), this returns or raises by then, plus
    the few milliseconds the watchdog needs. Each socket operation is bounded by
    ``connect_timeout`` / ``read_timeout`` and by the time left. Redirects are never followed
    (a 3xx is returned as it is), no proxy is used, the body is not decompressed. Uses the
    shared pool; a connection goes back to it only when the body was read to its end in time.
    The caller judges the URL first (:func:`~ecs_xrole._endpoint.check_endpoint_url`).

    Shared by :func:`fetch_credentials`, :mod:`ecs_xrole._metadata` and ``doctor``. Raises
    :class:`WallClockTimeout` when the deadline cut the request, and urllib3's, http.client's
    and socket errors otherwise.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise WallClockTimeout("the deadline passed before the request started")
    with _deadline(deadline) as guard:
        response: Any = None
        chunks: list[bytes] = []
        size = 0
        complete = False
        try:
            response = http_pool().request(
                "GET",
                url,
                headers=dict(headers or {}),
                timeout=urllib3.Timeout(
                    connect=min(connect_timeout, left), read=min(read_timeout, left)
                ),
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
            # Streamed, with the clock checked between reads (the watchdog cuts a read that
            # would not return in time).
            while size <= limit and time.monotonic() < deadline:
                chunk = response.read(min(16384, limit + 1 - size))
                if not chunk:
                    complete = True
                    break
                chunks.append(chunk)
                size += len(chunk)
        except Exception:
            if response is not None:
                response.close()
            if _watchdog.remove(guard):  # the cut made the error: say what really happened
                raise WallClockTimeout("the deadline passed during the request") from None
            raise
        # Settle under the watchdog's lock whether the deadline won: a connection it cut must
        # not go back to the pool, and one going back must not be cut afterwards. (A cut can
        # also look like a clean end of a body that has no Content-Length.)
        cut = _watchdog.remove(guard)
        if cut or (not complete and size <= limit):
            response.close()
            raise WallClockTimeout("the deadline passed while the answer was still arriving")
        if complete:
            response.release_conn()  # clean: keep it alive for the next request
        else:
            response.close()  # over the limit: the rest is never read
        body = b"".join(chunks) if complete else None
        return Answer(status=response.status, headers=response.headers, body=body)
