"""A raw-socket HTTP server on loopback that misbehaves on purpose (the attacker's side).

``EndpointServer`` answers like the ECS agent, faults included; this one does what no agent
does: it drip-feeds its answer a byte at a time, says nothing at all, or sends a body that
never ends. Each connection gets its own thread running ``behaviour(conn, head, stop)``; the
request heads received are kept in ``heads`` (so a test can see who was asked what, and with
which headers). :meth:`HostileServer.stop` closes every connection, so no drip outlives a test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

Behaviour = Callable[[socket.socket, bytes, threading.Event], None]

CREDENTIALS = (
    b'{"RoleArn": "arn:aws:iam::111122223333:role/task", "AccessKeyId": "ASIAHOSTILE0000000000",'
    b' "SecretAccessKey": "hostile-secret-key-000000000000000000000", "Token": "hostile-token",'
    b' "Expiration": "2999-01-01T00:00:00Z"}'
)


def response(
    status: int = 200,
    body: bytes = CREDENTIALS,
    headers: dict[str, str] | None = None,
    *,
    length: bool = True,
) -> bytes:
    """An HTTP/1.1 answer as bytes (``length=False``: no Content-Length, ends at close)."""
    lines = [f"HTTP/1.1 {status} Whatever", "Content-Type: application/json", "Connection: close"]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def drip(data: bytes, *, after: int = 0, interval: float = 0.5) -> Behaviour:
    """Send ``data[:after]`` at once, then the rest one byte every ``interval`` seconds."""

    def behave(conn: socket.socket, head: bytes, stop: threading.Event) -> None:
        conn.sendall(data[:after])
        for i in range(after, len(data)):
            if stop.wait(interval):
                return
            conn.sendall(data[i : i + 1])

    return behave


def silent(conn: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Read the request, then say nothing until the test ends."""
    stop.wait()


def endless_body(conn: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A 200 whose body (no Content-Length) never ends, sent as fast as the client reads."""
    conn.sendall(response(200, b"", length=False))
    chunk = b"x" * 65536
    while not stop.is_set():
        conn.sendall(chunk)


def answer(data: bytes) -> Behaviour:
    """Send ``data`` and close: an ordinary (if hostile in content) answer."""

    def behave(conn: socket.socket, head: bytes, stop: threading.Event) -> None:
        conn.sendall(data)

    return behave


class HostileServer:
    """Listen on ``host`` (any loopback address), run ``behaviour`` for every request."""

    def __init__(self, behaviour: Behaviour, *, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.host = host
        self.heads: list[bytes] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def url(self, path: str = "/v2/credentials/0123456789abcdef0123456789abcdef") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.heads)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            with self._lock:
                self.heads.append(head)
            self.behaviour(conn, head, self._stop)
        except OSError:
            pass  # the client hung up: that is what the tests want to see
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(2)
        self._accepting.join(2)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
