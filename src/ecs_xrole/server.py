"""A container credentials endpoint of our own: the destination role for every process.

:class:`CredentialsServer` serves credentials in the shape of the ECS agent's
``/v2/credentials/<id>`` answer (``AccessKeyId``, ``SecretAccessKey``, ``Token``,
``Expiration``, ``RoleArn``, plus ``AccountId``) on loopback, one path per role, to any AWS SDK
or the AWS CLI whose environment holds ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and the token.
``ecs-xrole exec`` and ``ecs-xrole serve`` run it; what it serves comes from a callable per
path (they pass the sessions layer's shared refreshing credentials), so this module is
standard library only.

What it holds, whatever a client does:

* **401 and nothing else** without the right ``Authorization`` value (compared in constant
  time, before the method or the path is looked at);
* **only GET** on the known paths (405 for other methods, 404 for other paths; a path is
  compared as sent: no decoding, no normalisation, no query string);
* **limits:** the request head (request line and headers) at most :data:`MAX_HEAD_BYTES`
  and :data:`MAX_HEADERS` headers (431), no request body (400), read within a wall-clock
  deadline per connection (408: a client that drips one byte a second cannot hold a worker),
  at most ``max_connections`` connections at once (503 beyond), at most ``rate`` requests a
  second with a burst of ``burst`` (429 with ``Retry-After`` beyond; clients with a wrong
  token have a budget of their own, so they cannot use up the budget of the others);
* **no secret in a log line:** no token, no key, no header; a path is logged only when it is
  a known one. Logs go to the ``ecs_xrole.server`` logger (one DEBUG line per request).

One request per connection (every answer says ``Connection: close``): a connection never holds
a worker between requests, and SDKs fetch rarely (once per credential lifetime).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from http import HTTPStatus

from .credentials import TemporaryCredentials
from .errors import Error, InvalidInputError

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_HEAD_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_RATE",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "CredentialsServer",
    "RateLimiter",
    "credentials_body",
]

log = logging.getLogger(__name__)

#: The request line and headers together may not exceed this many bytes.
MAX_HEAD_BYTES = 8 * 1024
#: Nor this many header lines.
MAX_HEADERS = 32
#: Seconds a connection has to deliver its whole request head (wall clock).
DEFAULT_HEAD_TIMEOUT = 5.0
#: Connections served at once; more get 503 at once.
DEFAULT_MAX_CONNECTIONS = 32
#: Requests per second (each budget), and the burst allowed above it.
DEFAULT_RATE = 50.0
DEFAULT_BURST = 100
# Methods named in log lines (any other is logged as "<other method>": it is the client's text).
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)
# Seconds allowed to write an answer (a client that does not read cannot hold a worker).
_SEND_TIMEOUT = 2.0

#: The credentials to serve on one path: called per request, on a worker thread.
Source = Callable[[], TemporaryCredentials]


class RateLimiter:
    """A token bucket: ``rate`` requests a second on average, bursts up to ``burst``.

    Thread-safe. ``clock`` (monotonic seconds) is for tests.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or burst < 1:
            raise InvalidInputError(
                "rate/burst",
                (rate, burst),
                "both must be positive",
                fix="pass rate > 0, burst >= 1",
            )
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one request from the budget: 0.0 when allowed, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def _expiration(credentials: TemporaryCredentials) -> str | None:
    if credentials.expiration is None:
        return None
    # Whole seconds, rounded down: never later than the real expiry (the agent's format).
    return credentials.expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def credentials_body(credentials: TemporaryCredentials, role_arn: str | None) -> dict[str, str]:
    """The ECS agent's answer for ``credentials`` (``AccountId`` added when known). Pure."""
    body = {
        "RoleArn": credentials.role_arn or role_arn or "",
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "Token": credentials.session_token or "",
    }
    expiration = _expiration(credentials)
    if expiration is not None:
        body["Expiration"] = expiration
    arn = body["RoleArn"]
    account = credentials.account_id or (arn.split(":")[4] if arn.count(":") >= 5 else "")
    if account:
        body["AccountId"] = account
    return body


@dataclass(frozen=True)
class _Route:
    source: Source
    role_arn: str | None


class _Refusal(Exception):
    """A request that is answered with an error status and then closed."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


class _Closed(Exception):
    """The client went away (or sent nothing): nothing to answer."""


class CredentialsServer:
    """The credentials endpoint: ``routes`` maps each path (``/role/NAME``) to its source.

    ``token`` is the ``Authorization`` value every request must carry (at least 32
    characters; :func:`secrets.token_urlsafe` gives 43 for 256 bits). ``host``/``port``: where
    to listen (``port=0``: an ephemeral port; see :attr:`port`). ``role_arns`` (path -> ARN)
    fills ``RoleArn`` when the credentials do not carry it. The limits are described in the
    module docstring. Start with :meth:`start` (binds and serves from daemon threads), stop
    with :meth:`stop`; or use it as a context manager.

    Counters (thread-safe): ``requests`` (every request head received), ``served`` (200
    answers), ``refused`` (a mapping status -> count).
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
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
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
        arns = dict(role_arns or {})
        self._routes = {path: _Route(source, arns.get(path)) for path, source in routes.items()}
        self._token = token.encode("ascii")
        self.host = host
        self._port = port
        self.head_timeout = float(head_timeout)
        self.max_connections = int(max_connections)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._allowed = RateLimiter(rate, burst)
        self._unauthorized = RateLimiter(rate, burst)
        self._lock = threading.Lock()
        self._requests = 0
        self._served = 0
        self._refused: dict[int, int] = {}
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> CredentialsServer:
        """Bind and serve from a daemon thread. Raises :class:`~ecs_xrole.errors.Error` when
        the address cannot be bound (the message says which and why)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = socket.create_server((self.host, self._port), family=family, backlog=64)
        except OSError as exc:
            raise Error(
                f"cannot listen on {self._address(self._port)}: {exc.strerror or exc}",
                fix="choose another port (or 0 for any free one), or stop what holds it",
            ) from None
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"ecs-xrole-server:{self._port}", daemon=True
        )
        self._thread.start()
        log.info("credentials endpoint listening on %s", self._address(self._port))
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close the listening socket, and wait up to ``timeout`` seconds for
        requests in progress. Idempotent."""
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

    # -- accepting ----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake
        assert listener is not None
        assert wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake[0], selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if wake[0] in ready:
                    return
                try:
                    conn, peer = listener.accept()
                except OSError:
                    continue  # the client gave up between select and accept
                self._dispatch(conn, peer)

    def _dispatch(self, conn: socket.socket, peer: tuple[object, ...]) -> None:
        if not self._slots.acquire(blocking=False):
            # Bounded concurrency: answer at once, on this thread, without reading.
            self._count_refusal(503)
            log.debug(
                "refused a connection from %s: %d connections open", peer[:2], self.max_connections
            )
            self._answer_and_close(
                conn, 503, {"code": "Busy", "message": "too many connections"}, {"Retry-After": "1"}
            )
            return
        worker = threading.Thread(
            target=self._handle, args=(conn, peer), name="ecs-xrole-server-worker", daemon=True
        )
        with self._lock:
            self._workers.add(worker)
        try:
            worker.start()
        except RuntimeError:  # no thread could be started: shed the connection
            with self._lock:
                self._workers.discard(worker)
            self._slots.release()
            conn.close()

    # -- one connection, one request ----------------------------------------------------------

    def _handle(self, conn: socket.socket, peer: tuple[object, ...]) -> None:
        began = time.monotonic()
        shown_path = shown_method = "-"
        status = 0
        try:
            try:
                head = self._read_head(conn, began + self.head_timeout)
                with self._lock:
                    self._requests += 1
                method, path, headers = _parse_head(head)
                shown_method = method if method in _METHODS else "<other method>"
                shown_path = path if path in self._routes else f"<unknown path, {len(path)} chars>"
                status, body, extra = self._respond(method, path, headers)
            except _Refusal as refusal:
                status, extra = refusal.status, refusal.headers
                body = {
                    "code": HTTPStatus(status).phrase.replace(" ", ""),
                    "message": refusal.reason,
                }
            if status != 200:
                self._count_refusal(status)
            else:
                with self._lock:
                    self._served += 1
            self._answer_and_close(conn, status, body, extra)
            log.debug(
                "%s %s -> %d from %s in %.1f ms",
                shown_method,
                shown_path,
                status,
                peer[0],
                (time.monotonic() - began) * 1000,
            )
        except _Closed:
            conn.close()
        except Exception:  # never a traceback with request data in it
            log.debug("credentials endpoint: a request failed (%s)", peer[0])
            conn.close()
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())
            self._slots.release()

    def _read_head(self, conn: socket.socket, deadline: float) -> bytes:
        """Read up to the blank line ending the head, by ``deadline`` (wall clock)."""
        data = bytearray()
        while True:
            end = data.find(b"\r\n\r\n")
            if end > MAX_HEAD_BYTES or (end < 0 and len(data) > MAX_HEAD_BYTES):
                raise _Refusal(431, f"the request head exceeds {MAX_HEAD_BYTES} bytes")
            if end >= 0:
                if len(data) > end + 4:
                    raise _Refusal(400, "a GET request carries no body")
                return bytes(data[:end])
            left = deadline - time.monotonic()
            if left <= 0:
                if not data:
                    raise _Closed()
                raise _Refusal(408, "the request was not received in time")
            conn.settimeout(left)
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                if not data:
                    raise _Closed() from None
                raise _Refusal(408, "the request was not received in time") from None
            except OSError:
                raise _Closed() from None
            if not chunk:
                raise _Closed()
            data += chunk

    def _respond(
        self, method: str, path: str, headers: list[tuple[str, str]]
    ) -> tuple[int, dict[str, str], dict[str, str]]:
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
        try:
            credentials = route.source()
        except Error as exc:
            log.warning("credentials endpoint: %s: cannot serve credentials: %s", path, exc)
            return (
                503,
                {"code": "CredentialsUnavailable", "message": str(exc)},
                {"Retry-After": "1"},
            )
        return 200, credentials_body(credentials, route.role_arn), {}

    def _count_refusal(self, status: int) -> None:
        with self._lock:
            self._refused[status] = self._refused.get(status, 0) + 1

    @staticmethod
    def _answer_and_close(
        conn: socket.socket, status: int, body: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        data = json.dumps(body).encode()
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            "Cache-Control: no-store",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        try:
            conn.settimeout(_SEND_TIMEOUT)
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + data)
            # Half-close first, so that unread request bytes do not turn the close into a
            # reset that could discard the answer before the client reads it.
            conn.shutdown(socket.SHUT_WR)
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.recv(MAX_HEAD_BYTES)
        except OSError:
            pass
        finally:
            conn.close()


def _parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Split a request head into method, target and (lower-cased name, value) headers.

    Raises :class:`_Refusal` (400, 431, 505) for anything malformed. No decoding of the target.
    """
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise _Refusal(400, "the request head is not ASCII") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not all(parts):
        raise _Refusal(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Refusal(505, "only HTTP/1.1 and HTTP/1.0 are served")
    if not target.startswith("/") or not target.isprintable():
        raise _Refusal(400, "the target must be an absolute path")
    if len(lines) - 1 > MAX_HEADERS:
        raise _Refusal(431, f"more than {MAX_HEADERS} header lines")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or not name.isprintable() or " " in name:
            raise _Refusal(400, "malformed header line")
        value = value.strip(" \t")
        if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in value):
            raise _Refusal(400, "a header value holds a control character")
        headers.append((name.lower(), value))
    return method, target, headers
