"""The credentials server's wire: head parsing, the credentials body, answering and closing,
rate limits and the descriptor budget.

Pure helpers of :mod:`.server`, kept apart so that the server module holds its loop and its
routing only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timezone
from http import HTTPStatus

from .._credentials import TemporaryCredentials
from ..errors import InvalidInputError


class _Refusal(Exception):
    """A request that is answered with an error status and then closed."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


#: The request line and headers together may not exceed this many bytes.
MAX_HEAD_BYTES = 8 * 1024
#: Nor this many header lines.
MAX_HEADERS = 32
# Seconds allowed to write an answer (a client that does not read cannot hold a worker).
_SEND_TIMEOUT = 2.0


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


def _descriptor_budget() -> int:
    """Half the soft limit on open descriptors (no limit where it cannot be read)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 2**31
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 2**31 if soft == resource.RLIM_INFINITY else max(1, soft // 2)


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


def _answer_and_close(
    conn: socket.socket,
    status: int,
    body: Mapping[str, object] | bytes,
    headers: Mapping[str, str],
    *,
    wait: bool,
    content_type: str = "application/json",
) -> None:
    """Send the answer (``body``: a JSON object, or bytes of ``content_type``) and close.
    ``wait``: block up to the send bound (a worker); else one non-blocking send (the reading
    loop: an answer this small fits the socket's buffer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(data)}",
        "Cache-Control: no-store",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + data
    try:
        if wait:
            conn.settimeout(_SEND_TIMEOUT)
            conn.sendall(message)
        else:
            conn.setblocking(False)
            conn.send(message)
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
