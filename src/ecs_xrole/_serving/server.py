"""A container credentials endpoint of our own: the destination role for every process.

:class:`CredentialsServer` serves the ECS agent's ``/v2/credentials/<id>`` answer (plus
``AccountId``) on loopback, one path per role, to any SDK whose environment names it;
``exec`` and ``serve`` run it, passing a callable per path (the shared refreshing
credentials), so this module is standard library only. It exists so that every process, in
any language, acts as the destination role through its SDK's own credential chain. No
client can hold it or learn a secret from it: one thread reads the heads, the token is
checked first, workers take only authorised requests (:mod:`.wire` holds the HTTP details,
:mod:`.probes` the paths without the token). How: docs/design.md, "The credentials server";
the promises and their tests: docs/security.md, "The exec/serve endpoint".
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import math
import selectors
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

from .._credentials import TemporaryCredentials
from ..errors import Error, InvalidInputError
from .health import HEALTH_PATH
from .probes import _TokenlessPaths
from .wire import (
    MAX_HEAD_BYTES,
    RateLimiter,
    _answer_and_close,
    _descriptor_budget,
    _parse_head,
    _Refusal,
    credentials_body,
)

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("ecs_xrole.server")
#: Seconds a connection has to deliver its whole request head (wall clock). SDKs send theirs
#: at once; a connection that has not is either broken or an attacker's.
DEFAULT_HEAD_TIMEOUT = 2.0
#: Connections whose heads are read at once (at most half the process's descriptor limit, so
#: that the rest of the process can still open files and sockets); a newcomer beyond sheds
#: the oldest idle one.
DEFAULT_MAX_CONNECTIONS = 1024
#: Answers made at once (each may wait for a refresh); more get 503 at once.
DEFAULT_MAX_WORKERS = 32
#: Requests per second (each budget), and the burst allowed above it.
DEFAULT_RATE = 50.0
DEFAULT_BURST = 100
# Methods named in log lines (any other is logged as "<other method>": it is the client's text).
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)
# Connections accepted per turn of the reading loop, so that heads already sent are read
# between bursts of newcomers.
_ACCEPT_BATCH = 64
# A connection this young that has sent nothing may just not have sent yet: while there are
# partial heads to shed, it is spared.
_SHED_GRACE = 0.5

#: The credentials to serve on one path: called per request, on a worker thread.
Source = Callable[[], TemporaryCredentials]
#: The answer to ``GET /healthz`` (HTTP status, JSON body): called per probe, on the reading
#: loop, so it must never wait (:func:`ecs_xrole._serving.health.health_source` makes one).
Health = Callable[[], tuple[int, Mapping[str, object]]]


@dataclass(frozen=True)
class _Route:
    source: Source
    role_arn: str | None


class _Pending:
    """A connection whose request head is being read (by the reading loop only)."""

    __slots__ = ("began", "conn", "data", "deadline", "peer")

    def __init__(
        self, conn: socket.socket, peer: tuple[object, ...], now: float, timeout: float
    ) -> None:
        self.conn = conn
        self.peer = peer
        self.began = now
        self.deadline = now + timeout
        self.data = bytearray()


class CredentialsServer(_TokenlessPaths):
    """The credentials endpoint: ``routes`` maps each path (``/role/NAME``) to its source.

    ``token`` is the ``Authorization`` value every request must carry (at least 32
    characters; :func:`secrets.token_urlsafe` gives 43 for 256 bits). ``host``/``port``: where
    to listen (``port=0``: an ephemeral port; see :attr:`port`). ``role_arns`` (path -> ARN)
    fills ``RoleArn`` when the credentials do not carry it. The limits are described in the
    module docstring. ``health``: the answer to ``GET /healthz`` (without it that path is
    an unknown one). ``metrics`` (:class:`ecs_xrole._serving.metrics.Metrics`, off by
    default): count every answer, and answer ``GET /metrics`` without the token, with a rate
    budget of its own (without it, ``/metrics`` is an unknown path like any other). Start
    with :meth:`start` (binds and serves from daemon threads), stop with :meth:`stop`; or use
    it as a context manager.

    Counters (thread-safe): ``requests`` (every request head received), ``served`` (200
    answers), ``refused`` (a mapping status -> count), ``shed`` (connections closed to make
    room for a newcomer).
    """

    def __init__(
        self,
        routes: Mapping[str, Source],
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        role_arns: Mapping[str, str] | None = None,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_workers: int = DEFAULT_MAX_WORKERS,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        health: Health | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if len(token) < 32 or not token.isascii() or not token.isprintable() or " " in token:
            raise InvalidInputError(
                "token",
                f"<{len(token)} characters>",
                "it must be at least 32 printable ASCII characters without spaces",
                fix="use secrets.token_urlsafe(32)",
            )
        for path in routes:
            if not path.startswith("/") or any(ch in path for ch in "?#% "):
                raise InvalidInputError(
                    "path", path, "a route is a plain absolute path", fix="use /role/NAME"
                )
        if max_connections < 1 or max_workers < 1:
            raise InvalidInputError(
                "max_connections/max_workers",
                (max_connections, max_workers),
                "both must be positive",
                fix="pass max_connections >= 1, max_workers >= 1",
            )
        arns = dict(role_arns or {})
        self._routes = {path: _Route(source, arns.get(path)) for path, source in routes.items()}
        self._token = token.encode("ascii")
        self.host = host
        self._port = port
        self.head_timeout = float(head_timeout)
        self.max_connections = min(int(max_connections), _descriptor_budget())
        self.max_workers = int(max_workers)
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._allowed = RateLimiter(rate, burst)
        self._unauthorized = RateLimiter(rate, burst)
        self._health = health
        self._probes = RateLimiter(rate, burst)  # probes and SDKs never use each other's budget
        # GET /metrics (ecs_xrole._serving.metrics), only when given: no token, a budget of its own.
        self._metrics = metrics
        self._metrics_path = metrics.path if metrics is not None else None
        self._scrapes = RateLimiter(metrics.rate, metrics.burst) if metrics is not None else None
        self._lock = threading.Lock()
        self._requests = 0
        self._served = 0
        self._shed_count = 0
        self._refused: dict[int, int] = {}
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()
        # The reading loop's own state: every connection whose head is being read (in the
        # order they were accepted, which is that of their deadlines), those of them that have
        # sent nothing yet (accept order), and those that have sent part of a head.
        self._open: OrderedDict[socket.socket, _Pending] = OrderedDict()
        self._idle: OrderedDict[socket.socket, _Pending] = OrderedDict()
        self._started: OrderedDict[socket.socket, _Pending] = OrderedDict()
        self._selector: selectors.BaseSelector | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> CredentialsServer:
        """Bind and serve from a daemon thread. Raises :class:`~ecs_xrole.errors.Error` when
        the address cannot be bound (the message says which and why)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = socket.create_server((self.host, self._port), family=family, backlog=256)
        except OSError as exc:
            raise Error(
                f"cannot listen on {self._address(self._port)}: {exc.strerror or exc}",
                fix="choose another port (or 0 for any free one), or stop what holds it",
            ) from None
        listener.setblocking(False)
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._loop, name=f"ecs-xrole-server:{self._port}", daemon=True
        )
        self._thread.start()
        log.info("credentials endpoint listening on %s", self._address(self._port))
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close the listening socket and the connections not yet answered,
        and wait up to ``timeout`` seconds for answers in progress. Idempotent."""
        listener, wake, thread = self._listener, self._wake, self._thread
        self._listener = self._wake = self._thread = None
        if listener is None:
            return
        if wake is not None:
            wake[1].send(b"x")
        if thread is not None:
            thread.join(timeout)
        listener.close()
        if wake is not None:
            wake[0].close()
            wake[1].close()
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        log.info("credentials endpoint on %s stopped", self._address(self._port))

    def __enter__(self) -> CredentialsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"CredentialsServer({self._address(self._port)}, paths={sorted(self._routes)})"

    # -- addresses and counters ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (the ephemeral one chosen, once started)."""
        return self._port

    def _address(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{port}"

    def url(self, path: str) -> str:
        """The value of ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` for ``path``."""
        return f"http://{self._address(self._port)}{path}"

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def served(self) -> int:
        with self._lock:
            return self._served

    @property
    def refused(self) -> dict[int, int]:
        with self._lock:
            return dict(self._refused)

    @property
    def shed(self) -> int:
        with self._lock:
            return self._shed_count

    # -- the reading loop: accepts, reads heads, answers refusals --------------------------------

    def _loop(self) -> None:
        listener, wake = self._listener, self._wake
        assert listener is not None
        assert wake is not None
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake[0], selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select(self._next_deadline()):
                        sock = key.fileobj
                        if sock is wake[0]:
                            return
                        if sock is listener:
                            self._accept(listener)
                            continue
                        assert isinstance(sock, socket.socket)
                        pending = self._open.get(sock)
                        if pending is None:  # shed earlier in this turn
                            continue
                        self._read(pending)
                    self._expire(time.monotonic())
            finally:
                for pending in self._open.values():
                    pending.conn.close()
                self._open.clear()
                self._idle.clear()
                self._started.clear()
                self._selector = None

    def _next_deadline(self) -> float | None:
        if not self._open:
            return None
        return max(0.0, next(iter(self._open.values())).deadline - time.monotonic())

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say: make room, try again later
                log.debug("credentials endpoint: accept failed (%s)", exc.strerror or exc)
                if not self._make_room():
                    time.sleep(0.01)  # nothing of ours to free: do not spin
                return
            if len(self._open) >= self.max_connections:
                self._make_room()
            conn.setblocking(False)
            pending = _Pending(conn, peer, time.monotonic(), self.head_timeout)
            self._open[conn] = self._idle[conn] = pending
            assert self._selector is not None
            self._selector.register(conn, selectors.EVENT_READ)

    def _make_room(self) -> bool:
        """Close one connection to make room for a newcomer: the oldest that has sent nothing
        though it had the time to (it is read once more first), else the oldest that has sent
        part of a head, else the oldest silent one. A client that sends its request as it
        connects, as SDKs do, is never the one shed. False when there is nothing to close."""
        now = time.monotonic()
        while self._idle and len(self._open) >= self.max_connections:
            oldest = next(iter(self._idle.values()))
            if self._started and now - oldest.began < _SHED_GRACE:
                break  # it may not have sent yet: a partial head goes first
            self._read(oldest)  # what it sent since the last turn: answered, or started
            if oldest.conn in self._idle:
                self._shed(oldest)
                return True
        if len(self._open) < self.max_connections:
            return True
        group = self._started or self._idle
        if not group:
            return False
        self._shed(next(iter(group.values())))
        return True

    def _shed(self, pending: _Pending) -> None:
        self._forget(pending)
        with self._lock:
            self._shed_count += 1
        log.debug(
            "shed a connection from %s (%d open; it had sent %d bytes)",
            pending.peer[0],
            self.max_connections,
            len(pending.data),
        )
        if pending.data:
            self._refuse(pending, _Refusal(503, "too many connections", {"Retry-After": "1"}))
        else:
            pending.conn.close()

    def _forget(self, pending: _Pending) -> None:
        """Stop reading ``pending`` (it is answered or closed next)."""
        self._open.pop(pending.conn, None)
        self._idle.pop(pending.conn, None)
        self._started.pop(pending.conn, None)
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(pending.conn)

    def _expire(self, now: float) -> None:
        while self._open:
            pending = next(iter(self._open.values()))
            if pending.deadline > now:
                return
            self._forget(pending)
            if pending.data:
                self._refuse(pending, _Refusal(408, "the request was not received in time"))
            else:
                pending.conn.close()  # nothing was asked: nothing to answer

    def _read(self, pending: _Pending) -> None:
        try:
            self._read_some(pending)
        except Exception:  # never a traceback with request data in it
            log.debug("credentials endpoint: a request failed (%s)", pending.peer[0])
            self._forget(pending)
            pending.conn.close()

    def _read_some(self, pending: _Pending) -> None:
        try:
            chunk = pending.conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._forget(pending)
            pending.conn.close()
            return
        if not pending.data:
            del self._idle[pending.conn]
            self._started[pending.conn] = pending
        pending.data += chunk
        data = pending.data
        end = data.find(b"\r\n\r\n")
        if end > MAX_HEAD_BYTES or (end < 0 and len(data) > MAX_HEAD_BYTES):
            self._forget(pending)
            self._refuse(pending, _Refusal(431, f"the request head exceeds {MAX_HEAD_BYTES} bytes"))
        elif end >= 0:
            self._forget(pending)
            if len(data) > end + 4:
                self._refuse(pending, _Refusal(400, "a GET request carries no body"))
            else:
                self._request(pending, bytes(data[:end]))

    def _request(self, pending: _Pending, head: bytes) -> None:
        """A complete head: refused here, or handed to a worker that makes the answer."""
        with self._lock:
            self._requests += 1
        shown = ("-", "-")
        try:
            method, path, headers = _parse_head(head)
            known = path in self._routes or path in (HEALTH_PATH, self._metrics_path)
            shown = (
                method if method in _METHODS else "<other method>",
                path if known else f"<unknown path, {len(path)} chars>",
            )
            if path == HEALTH_PATH and self._health is not None:
                self._probe(pending, method, headers, shown)
                return
            work: tuple[Callable[..., None], tuple[object, ...]]
            if path == self._metrics_path:  # no token: a rate budget of its own
                assert self._scrapes is not None
                self._admit(self._scrapes, method, headers)
                work = (self._answer_scrape, (pending, shown))
            else:
                route = self._authorised_route(method, path, headers)
                work = (self._answer, (pending, route, path, shown))
        except _Refusal as refusal:
            self._refuse(pending, refusal, shown)
            return
        if not self._slots.acquire(blocking=False):
            self._refuse(
                pending, _Refusal(503, "too many requests in progress", {"Retry-After": "1"}), shown
            )
            return
        worker = threading.Thread(
            target=self._work, args=(pending, *work), name="ecs-xrole-server-worker", daemon=True
        )
        with self._lock:
            self._workers.add(worker)
        try:
            worker.start()
        except RuntimeError:  # no thread could be started: shed the request
            with self._lock:
                self._workers.discard(worker)
            self._slots.release()
            self._refuse(pending, _Refusal(503, "no worker available", {"Retry-After": "1"}), shown)

    def _refuse(
        self, pending: _Pending, refusal: _Refusal, shown: tuple[str, str] = ("-", "-")
    ) -> None:
        """Answer ``refusal`` from the reading loop: one non-blocking send, then close."""
        self._count_refusal(refusal.status)
        body = {
            "code": HTTPStatus(refusal.status).phrase.replace(" ", ""),
            "message": refusal.reason,
        }
        self._counted(shown, refusal.status)
        _answer_and_close(pending.conn, refusal.status, body, refusal.headers, wait=False)
        self._log(pending, shown, refusal.status)

    def _counted(self, shown: tuple[str, str], status: int) -> None:
        """Count an answer for the metrics, once, just before it is sent: whoever has the
        answer in hand (and scrapes next) finds it counted."""
        if self._metrics is not None:
            self._metrics.answered(shown[1], status)

    def _log(self, pending: _Pending, shown: tuple[str, str], status: int) -> None:
        log.debug(
            "%s %s -> %d from %s in %.1f ms",
            shown[0],
            shown[1],
            status,
            pending.peer[0],
            (time.monotonic() - pending.began) * 1000,
        )

    # -- workers: one authorised request each ---------------------------------------------------

    def _work(
        self, pending: _Pending, answer: Callable[..., None], args: tuple[object, ...]
    ) -> None:
        """A worker thread: ``answer(*args)`` makes and sends one answer; whatever happens,
        no traceback with request data in it, and the worker's slot is freed."""
        try:
            answer(*args)
        except Exception:
            log.debug("credentials endpoint: a request failed (%s)", pending.peer[0])
            pending.conn.close()
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())
            self._slots.release()

    def _answer(self, pending: _Pending, route: _Route, path: str, shown: tuple[str, str]) -> None:
        try:
            credentials = route.source()
        except Error as exc:
            log.warning("credentials endpoint: %s: cannot serve credentials: %s", path, exc)
            self._count_refusal(503)
            status = 503
            body = {"code": "CredentialsUnavailable", "message": str(exc)}
            extra = {"Retry-After": "1"}
        else:
            status, body, extra = 200, credentials_body(credentials, route.role_arn), {}
            with self._lock:
                self._served += 1
        self._counted(shown, status)
        _answer_and_close(pending.conn, status, body, extra, wait=True)
        self._log(pending, shown, status)

    def _authorised_route(self, method: str, path: str, headers: list[tuple[str, str]]) -> _Route:
        given = [value for name, value in headers if name == "authorization"]
        # One header, compared in constant time; the bytes compared do not depend on the guess.
        ok = len(given) == 1 and hmac.compare_digest(
            given[0].encode("latin-1", "replace"), self._token
        )
        wait = (self._allowed if ok else self._unauthorized).take()
        if wait:
            raise _Refusal(
                429,
                "too many requests",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if not ok:
            raise _Refusal(401, "the Authorization header is missing or not valid")
        if method != "GET":
            raise _Refusal(405, "only GET is allowed", {"Allow": "GET"})
        route = self._routes.get(path)
        if route is None:
            raise _Refusal(404, "no such path")
        for name, value in headers:
            if name == "transfer-encoding" or (name == "content-length" and value != "0"):
                raise _Refusal(400, "a GET request carries no body")
        return route

    def _count_refusal(self, status: int) -> None:
        with self._lock:
            self._refused[status] = self._refused.get(status, 0) + 1
