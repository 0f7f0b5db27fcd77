"""Fetch the task role's credentials from the container endpoint, robustly.

One GET with short timeouts, retried with exponential backoff and full jitter on what can
pass (connection errors, timeouts, resets, 5xx, 429 with its ``Retry-After``), all under one
overall deadline: no attempt starts and no sleep runs past it, and each attempt's timeouts
are clipped to the time left. The deadline is wall-clock time whatever the server does: a
watchdog shuts the socket down when it passes, so an endpoint that drip-feeds its answer one
byte at a time (which never trips a per-read timeout) cannot hold a caller past it. Errors
that retrying cannot fix (400 "Credentials not found",
401/403 token errors, an unusable 200 body) fail at once with the endpoint's own words and
a fix.

The HTTP client is one :class:`urllib3.PoolManager` shared by the process (connections are
kept alive between fetches) and dropped in a child after ``os.fork``, so a child never
writes on its parent's sockets. urllib3 is used directly, never botocore. :func:`http_get` is
the one way ecs-xrole makes a plain HTTP request (this module, the task metadata and
``doctor``): no redirects, a size limit, a wall-clock deadline.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ._version import __version__
from .credentials import TemporaryCredentials
from .endpoint import (
    RELATIVE_URI,
    SHOWN_ID_CHARS,
    TOKEN,
    TOKEN_FILE,
    Endpoint,
    credentials_id,
    detect_endpoint,
    shown_url,
)
from .errors import (
    EndpointRequestError,
    EndpointResponseError,
    Error,
    InvalidInputError,
    forget_locals,
    redact,
)
from .redaction import install as install_log_redaction
from .redaction import remember

__all__ = ["fetch_credentials", "parse_credentials", "parse_expiration"]

log = logging.getLogger(__name__)
# urllib3 logs each request line, credentials ID included, at DEBUG.
install_log_redaction()

#: Largest body read from the endpoint (a real answer is under 4 kB).
MAX_BODY = 64 * 1024
#: First backoff step and the cap of one backoff sleep, in seconds (full jitter below them).
BACKOFF_BASE = 0.2
BACKOFF_CAP = 2.0
#: How much of an endpoint's error text a message quotes.
QUOTE_CHARS = 200
#: Below this many seconds left, another attempt is not worth starting (its timeouts would be
#: too short to mean anything).
MIN_ATTEMPT = 0.1
#: The shortest wait between two attempts, whatever ``Retry-After`` or the jitter say: no
#: fault pattern (``Retry-After: 0``, a date in the past, instant resets) makes more than
#: about 10 requests a second (the ECS agent allows 40 per task).
MIN_WAIT = 0.1

_pool: urllib3.PoolManager | None = None
# A generator of our own: the jitter must not draw from (or be steered by a seed of) the
# application's global random state.
_jitter = random.Random()
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


os.register_at_fork(after_in_child=_forget_pool_after_fork)


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
    The caller judges the URL first (:func:`~ecs_xrole.endpoint.check_endpoint_url`).

    Shared by :func:`fetch_credentials`, :mod:`ecs_xrole.metadata` and ``doctor``. Raises
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


@dataclass(frozen=True)
class _Failure:
    """One failed attempt that may pass if tried again."""

    cause: str
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidInputError(name, value, "it must be a positive number of seconds")
    return float(value)


def fetch_credentials(
    endpoint: Endpoint | None = None,
    *,
    deadline: float = 5.0,
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
    max_attempts: int | None = None,
) -> TemporaryCredentials:
    """GET the endpoint (default: :func:`~ecs_xrole.endpoint.detect_endpoint`) with retries.

    Retries connection errors, timeouts, resets, 5xx and 429 (waiting ``Retry-After`` when
    given, else an exponential backoff with full jitter; never less than :data:`MIN_WAIT`)
    until ``deadline`` seconds have passed or ``max_attempts`` requests were made (default:
    no limit but the deadline). ``deadline`` is wall-clock time whatever the server does
    (see :func:`http_get`); ``connect_timeout`` and ``read_timeout`` bound each socket
    operation within it. The authorization token (file) is re-read before every attempt.
    Uses the shared connection pool; logs each attempt at DEBUG, without secrets.

    Raises :class:`~ecs_xrole.errors.EndpointRequestError` (no usable answer: with
    ``status``, ``code``, ``endpoint_message``, ``attempts`` and ``url``, the credentials
    ID in it shortened as :func:`~ecs_xrole.endpoint.shown_url` does),
    :class:`~ecs_xrole.errors.EndpointResponseError` (a 200 that is not usable credentials),
    :class:`~ecs_xrole.errors.TokenError`, :class:`~ecs_xrole.errors.InvalidInputError` (bad
    options) and the errors of :func:`detect_endpoint`.
    """
    try:
        return _fetch(endpoint, deadline, connect_timeout, read_timeout, max_attempts)
    except Error as exc:
        forget_locals(exc)  # the token and the answers sat in the frames below
        raise


def _fetch(
    endpoint: Endpoint | None,
    deadline: float,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int | None,
) -> TemporaryCredentials:
    deadline = _check_seconds("deadline", deadline)
    connect_timeout = _check_seconds("connect_timeout", connect_timeout)
    read_timeout = _check_seconds("read_timeout", read_timeout)
    if max_attempts is not None and (
        isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
    ):
        raise InvalidInputError("max_attempts", max_attempts, "it must be a whole number >= 1")
    if endpoint is None:
        endpoint = detect_endpoint()
    started = time.monotonic()
    end = started + deadline
    attempts = 0
    last: _Failure | None = None
    answered: _Failure | None = None  # the last failure that was an HTTP answer
    gave_up = ""
    while True:
        left = end - time.monotonic()
        if left <= 0:
            gave_up = "the deadline passed"
            break
        if max_attempts is not None and attempts >= max_attempts:
            gave_up = f"max_attempts={max_attempts} reached"
            break
        authorization = endpoint.authorization()  # re-read each time: the token file rotates
        remember(authorization)
        attempts += 1
        result = _attempt(
            endpoint,
            authorization,
            end=end,
            connect=min(connect_timeout, left),
            read=min(read_timeout, left),
            attempt=attempts,
        )
        if isinstance(result, TemporaryCredentials):
            return result
        last = result
        if result.status is not None:
            answered = result
        # Sleep only as long as still leaves a useful attempt before the deadline, and never
        # less than MIN_WAIT: Retry-After: 0 must not become a tight loop.
        budget = end - time.monotonic() - MIN_ATTEMPT
        if result.retry_after is not None:
            if result.retry_after > budget:
                gave_up = (
                    f"the endpoint asked to retry after {result.retry_after:g} s, "
                    f"beyond the deadline ({max(budget + MIN_ATTEMPT, 0):.1f} s left)"
                )
                break
            wait = max(result.retry_after, MIN_WAIT)
        else:
            cap = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1), budget)
            # Full jitter above the floor: spread the retries of many clients.
            wait = _jitter.uniform(MIN_WAIT, cap) if cap > MIN_WAIT else MIN_WAIT
        if wait > budget:
            gave_up = "the deadline passed" if budget <= 0 else "no time left for another attempt"
            break
        log.debug("retrying the credentials endpoint in %.3f s (%s)", wait, result.cause)
        time.sleep(wait)
    assert last is not None  # the first attempt always runs: deadline > 0
    elapsed = time.monotonic() - started
    raise _exhausted(endpoint, last, answered, attempts, elapsed, deadline, gave_up)


def _attempt(
    endpoint: Endpoint,
    authorization: str | None,
    *,
    end: float,
    connect: float,
    read: float,
    attempt: int,
) -> TemporaryCredentials | _Failure:
    """Make one request. Return credentials, or a failure worth retrying; raise otherwise."""
    headers = {"Accept": "application/json", "User-Agent": f"ecs-xrole/{__version__}"}
    if authorization is not None:
        headers["Authorization"] = authorization
    url = endpoint.url
    shown = shown_url(url)
    began = time.monotonic()
    try:
        answer = http_get(
            url, headers=headers, deadline=end, connect_timeout=connect, read_timeout=read
        )
    except SSLError as exc:
        raise EndpointRequestError(
            f"TLS failed with the container credentials endpoint {shown}: {_describe(exc)}",
            fix="check the endpoint's certificate, or use the plain-http endpoint it offers",
            url=shown,
            attempts=attempt,
        ) from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        cause = _describe(exc, connect=connect, read=read)
        log.debug("GET %s -> %s after %.3f s (attempt %d)", shown, cause, _since(began), attempt)
        return _Failure(cause=cause)
    status = answer.status
    log.debug("GET %s -> HTTP %d in %.3f s (attempt %d)", shown, status, _since(began), attempt)
    if answer.body is None:
        raise EndpointResponseError(
            f"the container credentials endpoint {shown} answered HTTP {status} with a body "
            f"larger than {MAX_BODY} bytes",
            fix="check that the URL points at a credentials endpoint",
        )
    if status == 200:
        return parse_credentials(answer.body)
    code, message = _error_text(answer.body, authorization, url)
    if status == 429 or 500 <= status <= 599:
        cause = (
            f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        retry_after = _retry_after(answer.headers.get("Retry-After"))
        return _Failure(cause, status=status, code=code, message=message, retry_after=retry_after)
    raise _refused(endpoint, status, code, message, attempt)


def _since(began: float) -> float:
    return time.monotonic() - began


def _describe(exc: BaseException, *, connect: float = 0.0, read: float = 0.0) -> str:
    """Say in a few words what went wrong on the wire."""
    if isinstance(exc, WallClockTimeout):
        return "timed out: the deadline passed before the answer was complete"
    if isinstance(exc, NewConnectionError):
        return f"cannot connect ({_os_reason(exc) or 'connection failed'})"
    if isinstance(exc, ConnectTimeoutError):
        return f"no connection within {connect:.2g} s (connect timed out)"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {read:.2g} s (read timed out)"
    if isinstance(exc, ProtocolError):
        return f"the connection was closed without an answer ({_os_reason(exc) or 'reset'})"
    return f"{type(exc).__name__}: {_clean(str(exc))}"


def _os_reason(exc: BaseException) -> str | None:
    """The OS-level reason behind a urllib3 error ("Connection refused"), when there is one."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if current is not exc and isinstance(current, http.client.HTTPException):
            return _clean(str(current)) or type(current).__name__
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        pending.extend(c for c in (current.__cause__, current.__context__) if c is not None)
    return None


# C0 and C1 controls (ANSI escapes start with ESC or CSI), line and paragraph separators and
# bidirectional overrides: none may reach a terminal from what an endpoint said.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


_HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: str, limit: int = QUOTE_CHARS) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _error_text(body: bytes, authorization: str | None, url: str) -> tuple[str | None, str | None]:
    """The endpoint's ``code`` and ``message`` (JSON), or up to 200 characters of plain text.

    The token and the credentials ID are hidden before decoding and again after it: JSON can
    spell them with escapes (``\\/``, ``\\u0041``) that only decoding turns back into them.
    """
    hide = _Hider(authorization, credentials_id(url))
    text = hide(body.decode("utf-8", "replace"))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        code = lowered.get("code")
        message = lowered.get("message")
        if isinstance(code, str) or isinstance(message, str):
            return (
                _clean(hide(code), 80) if isinstance(code, str) and code else None,
                _clean(hide(message)) if isinstance(message, str) and message else None,
            )
    return None, (_clean(text) or None)


class _Hider:
    """Replace the token and the credentials ID in a text the endpoint sent."""

    def __init__(self, token: str | None, credentials: str | None) -> None:
        pairs = []
        if token:
            pairs.append((token, redact(token)))
        if credentials and len(credentials) > SHOWN_ID_CHARS:
            pairs.append((credentials, credentials[:SHOWN_ID_CHARS] + "..."))
        self._pairs = pairs

    def __call__(self, text: str) -> str:
        for secret, stand_in in self._pairs:
            text = text.replace(secret, stand_in)
        return text


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), else ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 3600.0)


def _quote(status: int, code: str | None, message: str | None) -> str:
    said = f"HTTP {status}"
    if code:
        said += f" {code}"
    if message:
        said += f": {message}"
    return said


def _refused(
    endpoint: Endpoint, status: int, code: str | None, message: str | None, attempts: int
) -> EndpointRequestError:
    url = shown_url(endpoint.url)
    said = _quote(status, code, message)
    if status in (401, 403):
        if endpoint.auth == "token_file":
            fix = (
                f"the token read from {endpoint.token_file!r} ({TOKEN_FILE}) was rejected: "
                "check the variable names the token file the endpoint's agent writes (EKS Pod "
                "Identity rotates it; ecs-xrole re-reads it on every request)"
            )
        elif endpoint.auth == "token":
            fix = (
                f"the token in {TOKEN} was rejected: it is wrong or was rotated; prefer "
                f"{TOKEN_FILE} so a rotated token is picked up"
            )
        else:
            fix = f"the endpoint wants an Authorization header: set {TOKEN_FILE} or {TOKEN}"
        what = f"the container credentials endpoint {url} refused the authorization ({said})"
    elif status == 400 or code in ("InvalidIdInRequest", "NoIdInRequest"):
        what = f"the container credentials endpoint {url} has no credentials for us ({said})"
        fix = (
            "the task may have no task role (set taskRoleArn in the task definition), or the "
            f"credentials ID in the URL is stale ({RELATIVE_URI} copied from another task or an "
            "earlier run): use the value from this task's own environment"
        )
    elif 300 <= status <= 399:
        what = f"the container credentials endpoint {url} answered a redirect ({said})"
        fix = "redirects are not followed (they could lead elsewhere): use the final URL"
    elif status == 404:
        what = f"the container credentials endpoint {url} does not know this path ({said})"
        fix = "check the URL variable: the ECS agent serves /v2/credentials/<id>"
    else:
        what = f"the container credentials endpoint {url} refused the request ({said})"
        fix = "check the endpoint URL and the agent's logs"
    return EndpointRequestError(
        what,
        fix=fix,
        url=url,
        status=status,
        code=code,
        endpoint_message=message,
        attempts=attempts,
    )


def _exhausted(
    endpoint: Endpoint,
    last: _Failure,
    answered: _Failure | None,
    attempts: int,
    elapsed: float,
    deadline: float,
    gave_up: str,
) -> EndpointRequestError:
    # Report the last HTTP answer when there was one: a timeout of the final, shortest attempt
    # says less than the 429 or 503 that came before it.
    cause = last.cause
    if answered is not None and answered is not last:
        cause += f" (before that: {answered.cause})"
    last = answered or last
    url = shown_url(endpoint.url)
    if last.code == "CredentialsUninitialized":
        fix = (
            "the ECS agent has not loaded this task's credentials yet (it restarted?): "
            "retry in a few seconds"
        )
    elif last.status == 429:
        fix = (
            "the endpoint is throttling (ECS on EC2 allows 40 requests/s per task by "
            "default): share one session or cache credentials instead of fetching per call"
        )
    elif last.status is not None:
        fix = "the endpoint's agent is failing: retry later and check the agent's logs"
    else:
        fix = (
            "check the endpoint is reachable from here (in ECS, 169.254.170.2 is routed to the "
            "agent for awsvpc and bridge tasks; a local endpoint must be running), or pass a "
            "longer deadline"
        )
    plural = "s" if attempts != 1 else ""
    return EndpointRequestError(
        f"could not get credentials from the container credentials endpoint {url}: "
        f"gave up after {attempts} attempt{plural} in {elapsed:.1f} s (deadline {deadline:g} s; "
        f"{gave_up}); last: {cause}",
        fix=fix,
        url=url,
        status=last.status,
        code=last.code,
        endpoint_message=last.message,
        attempts=attempts,
    )


# -- parsing ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)


def parse_expiration(value: str) -> datetime:
    """Parse an RFC 3339 time (``Z``, ``+00:00`` or ``+0000``; any fractional digits).

    Fractions finer than microseconds (EKS sends nanoseconds) are truncated. Returns an
    aware UTC datetime. Raises :class:`ValueError` (callers wrap it).
    """
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    when = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
        tzinfo=timezone.utc,
    )  # fmt: skip
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError("the UTC offset is out of range")
        when = when - offset if sign == "+" else when + offset
    return when


_DATE_CHARS = re.compile(r"[0-9TtZz:.+\- ]{1,40}", re.ASCII)
_REQUIRED = (("accesskeyid", "AccessKeyId"), ("secretaccesskey", "SecretAccessKey"))


def parse_credentials(body: bytes | str, *, now: datetime | None = None) -> TemporaryCredentials:
    """Parse an endpoint's 200 body into credentials, tolerantly.

    Accepts a JSON object with keys in any case; ``Token`` or ``SessionToken``; ``Expiration``
    in RFC 3339 (``Z``/``+00:00``/``+0000``, with or without fractional seconds, nanoseconds
    truncated); an empty string counts as absent. ``RoleArn`` and ``AccountId`` are kept when
    present. ``AccessKeyId``, ``SecretAccessKey`` and the token are required (container
    credentials are always session credentials); a missing ``Expiration`` gives
    ``expiration=None`` (non-expiring; the ECS agent always sends one). Pure: no I/O.

    Raises :class:`~ecs_xrole.errors.EndpointResponseError` naming the problem, never a
    secret value: not JSON, not an object, a missing or non-text field, a control character
    in a field, an unparseable date, or credentials already expired at ``now`` (default:
    the current time).
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(f"the body ({len(body)} bytes) is not UTF-8 text") from None
    elif isinstance(body, str):
        text = body
    else:
        raise _bad(f"the body is a {type(body).__name__}, not bytes or text")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = (
            f" ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        )
        # The text itself is never quoted: it may be a broken answer holding the secret key.
        raise _bad(f"the body ({len(text)} characters) is not JSON{where}") from None
    if not isinstance(data, dict):
        raise _bad(f"the body is a JSON {_json_kind(data)}, not an object")
    fields = _fields(data)
    missing = [shown for key, shown in _REQUIRED if key not in fields]
    token = fields.get("token") or fields.get("sessiontoken")
    if token is None:
        missing.append("Token")
    if missing:
        present = sorted(k for k, v in data.items() if isinstance(k, str))
        raise _bad(
            f"the answer lacks {', '.join(missing)} (it has: {', '.join(present) or 'nothing'})"
        )
    expiration: datetime | None = None
    raw_expiration = fields.get("expiration")
    if raw_expiration is not None:
        try:
            expiration = parse_expiration(raw_expiration)
        except (ValueError, OverflowError) as exc:
            # Quote it only when it holds nothing but date characters: a broken answer could
            # have shifted a secret into this field.
            shown = (
                repr(raw_expiration)
                if _DATE_CHARS.fullmatch(raw_expiration)
                else f"({len(raw_expiration)} characters, not only date characters)"
            )
            raise _bad(f"Expiration {shown} cannot be read: {exc}") from None
        now = now or datetime.now(timezone.utc)
        if expiration <= now:
            raise _bad(
                f"the credentials expired at {expiration.isoformat()}, before they arrived "
                f"(now {now.isoformat()})",
                fix="check this host's clock, and the agent: it should rotate them well before",
            )
    return TemporaryCredentials(
        access_key_id=fields["accesskeyid"],
        secret_access_key=fields["secretaccesskey"],
        session_token=token,
        expiration=expiration,
        role_arn=fields.get("rolearn"),
        account_id=fields.get("accountid"),
    )


_SECRET_KEYS = frozenset({"accesskeyid", "secretaccesskey", "token", "sessiontoken"})


def _fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Lower-cased keys to non-empty text values; refuse values that are not text."""
    fields: dict[str, str] = {}
    for key, value in data.items():
        lowered = key.lower()
        if lowered not in _SECRET_KEYS and lowered not in ("expiration", "rolearn", "accountid"):
            continue  # unknown fields (Type, Code, LastUpdated...) are ignored
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _bad(f"field {key} is a JSON {_json_kind(value)}, not a string")
        if lowered in _SECRET_KEYS and _HEADER_CONTROL.search(value):
            # Would be sent in an HTTP header when signing: refuse, as for the token.
            raise _bad(f"field {key} ({redact(value)}) holds a control character")
        fields[lowered] = value
    return fields


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return "string"


def _bad(problem: str, *, fix: str | None = None) -> EndpointResponseError:
    return EndpointResponseError(
        f"the container credentials endpoint answered 200 with unusable credentials: {problem}",
        fix=fix or "check that the URL points at an ECS agent or EKS Pod Identity agent",
    )
