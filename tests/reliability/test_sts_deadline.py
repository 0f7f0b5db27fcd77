"""An STS that accepts connections and never answers, or answers one byte at a time, cannot
hold a caller past the AssumeRole deadline (before: botocore's 60-second timeouts and retries
held ``get_credentials`` for 180 s, and a drip-fed answer for ever)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole import _assume as assume
from ecs_xrole.errors import AssumeRoleError

# A drip-fed answer that never completes: a status line, then a header that never ends.
_DRIP = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Slow: " + b"a" * 100_000


class _BadSTS:
    """A loopback TCP server that accepts and then stays silent, or drips bytes slowly."""

    def __init__(self, *, drip: bool) -> None:
        self._drip = drip
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            if self._drip:
                threading.Thread(target=self._feed, args=(conn,), daemon=True).start()

    def _feed(self, conn: socket.socket) -> None:
        for byte in _DRIP:
            if self._stop.wait(0.05):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self._open:  # the abandoned AssumeRole thread then fails at once
            conn.close()


@pytest.fixture(params=["silent", "drip-fed"])
def bad_sts(
    request: pytest.FixtureRequest, env: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_BadSTS]:
    server = _BadSTS(drip=request.param == "drip-fed")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.url)
    # Test knobs: a short deadline, and per-read timeouts longer than the test, so that
    # only the deadline can end the call.
    monkeypatch.setattr(assume, "STS_DEADLINE", 1.0, raising=False)
    monkeypatch.setattr(assume, "STS_READ_TIMEOUT", 30.0, raising=False)
    yield server
    server.close()


def test_assume_role_ends_at_its_deadline_with_a_typed_error(
    bad_sts: _BadSTS, env: Any, secret_guard: Any
) -> None:
    with pytest.raises(AssumeRoleError) as info:
        ecs_xrole.get_credentials(env.aws.destination_role_arn)
    error = info.value
    secret_guard.seen(error)
    assert error.code is None
    assert "got no answer from STS within 1 s" in str(error)
    assert error.fix is not None
    assert "AWS_ENDPOINT_URL_STS" in error.fix
    assert bad_sts.connections == 1
    assert env.endpoint.served == 1  # the task role's credentials came; STS is what hung

    # The next caller, after the retry interval, waits for the call still running rather
    # than opening another connection: a hung STS holds one thread per credentials object.
    time.sleep(1.1)
    with pytest.raises(AssumeRoleError, match="no answer from STS"):
        ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert bad_sts.connections == 1
