"""Raw HTTP/1.1 on loopback for the endpoint tests: the request exactly as written, the answer
as it came (status, headers, body), with no client library in between to normalise either."""

from __future__ import annotations

import socket


def raw(port: int, data: bytes, *, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is to ``127.0.0.1:port``; return the answer's status, headers and
    body (read until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def request(
    port: int, path: str, *, token: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One request without a body, with ``Authorization: token`` when ``token`` is given."""
    auth = f"Authorization: {token}\r\n" if token is not None else ""
    return raw(port, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
