"""The exec/serve credentials endpoint from a client's and an attacker's side: real sockets on
loopback, the library's own fetcher as the well-behaved client, raw sockets for the rest."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import http_probe
from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._endpoint import Endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole._serving.server import CredentialsServer
from ecs_xrole._serving.wire import MAX_HEAD_BYTES, RateLimiter, credentials_body
from ecs_xrole.errors import CredentialsUnavailableError, InvalidInputError
from ecs_xrole.testing import fake_credentials

TOKEN = "t" * 20 + "0123456789abcdefghijklmnop"  # 46 characters
ROLE = "arn:aws:iam::555566667777:role/destination-account-role"
PATH = "/role/app"


@pytest.fixture
def creds() -> TemporaryCredentials:
    return fake_credentials(lifetime=3600, role_arn=ROLE, account_id="555566667777")


def make_server(creds: TemporaryCredentials, **kwargs: object) -> CredentialsServer:
    return CredentialsServer({PATH: lambda: creds}, token=TOKEN, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server(creds: TemporaryCredentials) -> Iterator[CredentialsServer]:
    with make_server(creds, head_timeout=1.0) as running:
        yield running


def raw(
    server: CredentialsServer, data: bytes, *, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    return http_probe.raw(server.port, data, timeout=timeout)


def get(
    server: CredentialsServer, path: str = PATH, token: str | None = TOKEN, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    return http_probe.request(server.port, path, token=token, method=method)


def secrets_of(creds: TemporaryCredentials) -> list[str]:
    return [TOKEN, creds.secret_access_key, str(creds.session_token), creds.access_key_id]


# -- the well-behaved client ----------------------------------------------------------------


def test_serves_the_ecs_shape_to_the_library_fetcher(
    server: CredentialsServer, creds: TemporaryCredentials
) -> None:
    got = fetch_credentials(Endpoint(server.url(PATH), auth="token", token=TOKEN))
    assert got.access_key_id == creds.access_key_id
    assert got.secret_access_key == creds.secret_access_key
    assert got.session_token == creds.session_token
    assert got.expiration == creds.expiration
    status, headers, body = get(server)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert set(json.loads(body)) == {
        "RoleArn",
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
        "AccountId",
    }
    assert json.loads(body)["RoleArn"] == ROLE


def test_served_by_botocore_container_provider(
    server: CredentialsServer, creds: TemporaryCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.credentials import ContainerProvider

    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url(PATH))
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", raising=False)
    loaded = ContainerProvider().load()
    assert loaded is not None
    frozen = loaded.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key) == (creds.access_key_id, creds.secret_access_key)


def test_expiration_is_rounded_down_to_whole_seconds(creds: TemporaryCredentials) -> None:
    later = creds.expiration.replace(microsecond=999999)  # type: ignore[union-attr]
    body = credentials_body(
        TemporaryCredentials("AKIA", "secret", "token", later, role_arn=ROLE), None
    )
    assert body["Expiration"] == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["AccountId"] == "555566667777"


def test_a_source_that_cannot_refresh_gets_503(creds: TemporaryCredentials) -> None:
    def failing() -> TemporaryCredentials:
        raise CredentialsUnavailableError("role x: could not refresh", fix="check STS")

    with CredentialsServer({PATH: failing}, token=TOKEN) as server:
        status, headers, body = get(server)
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert json.loads(body)["code"] == "CredentialsUnavailable"


def test_token_must_be_long(creds: TemporaryCredentials) -> None:
    with pytest.raises(InvalidInputError, match="at least 32"):
        CredentialsServer({PATH: lambda: creds}, token="short")


# -- the token --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "Bearer " + TOKEN, TOKEN[:-1] + "\x00"],
    ids=["missing", "empty", "shorter", "longer", "case", "bearer", "nul"],
)
def test_without_the_right_token_401_and_nothing_else(
    server: CredentialsServer, creds: TemporaryCredentials, token: str | None
) -> None:
    status, headers, body = get(server, token=token)
    assert status in (401, 400)  # a NUL in a header is malformed: refused before anything
    assert not set(headers) - {"Content-Type", "Content-Length", "Cache-Control", "Connection"}
    for secret in secrets_of(creds):
        assert secret.encode() not in body


def test_wrong_token_learns_nothing_about_methods_or_paths(server: CredentialsServer) -> None:
    assert get(server, token="x" * 43, method="POST")[0] == 401
    assert get(server, token="x" * 43, path="/no/such")[0] == 401
    assert get(server, token=None, path="/role/../role/app")[0] == 401


def test_two_authorization_headers_are_refused(server: CredentialsServer) -> None:
    status, _, _ = raw(
        server,
        f"GET {PATH} HTTP/1.1\r\nAuthorization: {TOKEN}\r\nAuthorization: {TOKEN}\r\n\r\n".encode(),
    )
    assert status == 401


# -- only GET on known paths ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "get"])
def test_only_get(server: CredentialsServer, method: str) -> None:
    status, headers, body = get(server, method=method)
    assert status == 405
    assert headers["Allow"] == "GET"
    assert b"AccessKeyId" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/role/../role/app",
        "/role/app/",
        "/role/app/../app",
        "/role/%61pp",
        "/role/app?x=1",
        "/role/app#x",
        "//role/app",
        "/ROLE/APP",
        "/v2/credentials/x",
        "/role/app/../../etc/passwd",
    ],
)
def test_path_traversal_and_variants_are_404(server: CredentialsServer, path: str) -> None:
    status, _, body = get(server, path=path)
    assert status == 404
    assert b"AccessKeyId" not in body


def test_absolute_form_target_is_refused(server: CredentialsServer) -> None:
    status, _, _ = get(server, path=f"http://127.0.0.1:{server.port}{PATH}")
    assert status == 400


# -- size limits and malformed requests ---------------------------------------------------


def test_oversized_request_head_gets_431(server: CredentialsServer) -> None:
    filler = "X-Filler: " + "a" * (MAX_HEAD_BYTES + 10) + "\r\n"
    status, _, _ = raw(server, f"GET {PATH} HTTP/1.1\r\n{filler}\r\n".encode())
    assert status == 431


def test_a_head_that_never_ends_is_cut_at_the_limit(server: CredentialsServer) -> None:
    # A client streaming header bytes without the blank line: answered once the limit is
    # passed, the rest is never read.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"GET /role/app HTTP/1.1\r\n")
        sent = 0
        try:
            while sent < 10 * MAX_HEAD_BYTES:
                conn.sendall(b"X: " + b"y" * 1000 + b"\r\n")
                sent += 1005
        except OSError:
            pass  # the server closed: exactly what should happen
        reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 431")


def test_too_many_headers_get_431(server: CredentialsServer) -> None:
    headers = "".join(f"X-{i}: v\r\n" for i in range(40))
    status, _, _ = raw(
        server, f"GET {PATH} HTTP/1.1\r\nAuthorization: {TOKEN}\r\n{headers}\r\n".encode()
    )
    assert status == 431


def test_a_body_is_refused(server: CredentialsServer) -> None:
    status, _, _ = raw(
        server,
        f"GET {PATH} HTTP/1.1\r\nAuthorization: {TOKEN}\r\nContent-Length: 5\r\n\r\nhello".encode(),
    )
    assert status == 400


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /role/app\r\n\r\n",
        b"GET /role/app HTTP/2.0\r\n\r\n",
        b"\xff\xfe /role/app HTTP/1.1\r\n\r\n",
        b"GET  /role/app HTTP/1.1\r\n\r\n",
        b"GET /role/app HTTP/1.1\r\n folded: x\r\n\r\n",
        b"GET /role/app HTTP/1.1\r\nNoColon\r\n\r\n",
    ],
)
def test_malformed_requests_are_refused(server: CredentialsServer, request_bytes: bytes) -> None:
    status, _, body = raw(server, request_bytes)
    assert status in (400, 505)
    assert b"AccessKeyId" not in body


# -- wall-clock deadlines and bounded concurrency -----------------------------------------


def test_slowloris_cannot_hold_a_worker_past_the_deadline(server: CredentialsServer) -> None:
    # One byte every 0.2 s: each read succeeds, so only a wall-clock deadline ends it.
    began = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        for byte in b"GET /role/app HTTP/1.1\r\nAuthorization: " + TOKEN.encode():
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
            if time.monotonic() - began > 4:
                break
        conn.settimeout(3)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - began < 3.0  # head_timeout is 1 s


def test_silent_connections_are_closed_at_the_deadline(server: CredentialsServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        began = time.monotonic()
        assert conn.recv(10) == b""  # closed without an answer: nothing was asked
        assert time.monotonic() - began < 3.0


def test_beyond_the_connection_limit_a_silent_one_is_shed_not_the_newcomer(
    creds: TemporaryCredentials,
) -> None:
    with make_server(creds, head_timeout=5.0, max_connections=4) as server:
        holders = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        try:
            assert get(server)[0] == 200  # the newcomer sheds the oldest silent connection
            holders[0].settimeout(4)
            assert holders[0].recv(10) == b""  # closed without an answer: it asked nothing
            assert server.shed == 1
            assert get(server)[0] == 200  # room again: nothing is shed
            assert server.shed == 1
        finally:
            for conn in holders:
                conn.close()


def test_beyond_the_connection_limit_a_partial_head_is_shed_not_the_newcomer(
    creds: TemporaryCredentials,
) -> None:
    with make_server(creds, head_timeout=5.0, max_connections=4) as server:
        holders = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        try:
            for conn in holders:
                conn.sendall(b"GET /role/app HTTP/1.1\r\nX-Drip: ")  # a head that never ends
            deadline = time.monotonic() + 5
            while server.shed == 0:
                assert get(server)[0] == 200  # the newcomer is served, whatever it sheds
                assert time.monotonic() < deadline
            holders[0].settimeout(4)
            assert holders[0].recv(4096).startswith(b"HTTP/1.1 503")  # the oldest partial one
        finally:
            for conn in holders:
                conn.close()


def test_beyond_the_worker_limit_503_and_good_ones_resume(creds: TemporaryCredentials) -> None:
    release = threading.Event()

    def slow() -> TemporaryCredentials:
        release.wait(5)
        return creds

    with CredentialsServer({PATH: slow}, token=TOKEN, max_workers=2) as server:
        waiting = [threading.Thread(target=get, args=(server,)) for _ in range(2)]
        for thread in waiting:
            thread.start()
        try:
            deadline = time.monotonic() + 5
            while server.requests < 2:  # both hold a worker
                assert time.monotonic() < deadline
                time.sleep(0.02)
            status, headers, _ = get(server)
            assert status == 503
            assert headers["Retry-After"] == "1"
        finally:
            release.set()
            for thread in waiting:
                thread.join(5)
        # A worker frees its slot once its answer is sent and the connection closed, a moment
        # after its client has read the answer: a client that asks in that moment gets the
        # same 503 with Retry-After, and the next attempt is served.
        deadline = time.monotonic() + 5
        while (status := get(server)[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200


# -- the request rate ---------------------------------------------------------------------------


def test_beyond_the_rate_429_with_retry_after(creds: TemporaryCredentials) -> None:
    with make_server(creds, rate=2.0, burst=5) as server:
        statuses = [get(server)[0] for _ in range(8)]
        assert statuses[:5] == [200] * 5
        assert 429 in statuses[5:]
        status, headers, body = get(server)
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        assert b"AccessKeyId" not in body


def test_wrong_tokens_do_not_use_up_the_good_clients_budget(creds: TemporaryCredentials) -> None:
    with make_server(creds, rate=1.0, burst=3) as server:
        bad = [get(server, token="y" * 43)[0] for _ in range(6)]
        assert bad[:3] == [401] * 3
        assert 429 in bad[3:]
        assert [get(server)[0] for _ in range(3)] == [200] * 3


def test_rate_limiter_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(10.0, 2, clock=lambda: now[0])
    assert limiter.take() == 0.0
    assert limiter.take() == 0.0
    assert limiter.take() == pytest.approx(0.1)
    now[0] += 0.1
    assert limiter.take() == 0.0


# -- no secret in any log line ------------------------------------------------------------------


def test_root_debug_logging_holds_no_secret(
    creds: TemporaryCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, as an app's basicConfig(DEBUG) does
    with make_server(creds, head_timeout=0.5, rate=5.0, burst=5) as server:
        get(server)
        get(server, path=f"/role/{TOKEN}")  # a secret in the path of an unknown route
        get(server, token=TOKEN + "x")
        get(server, method="POST")
        raw(
            server,
            f"GET {PATH} HTTP/1.1\r\nAuthorization: {TOKEN}\r\nX: {'a' * 9000}\r\n\r\n".encode(),
        )
        for _ in range(8):
            get(server)  # into the rate limit
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(f"GET {PATH} HTTP/1.1\r\nAuthorization: {TOKEN}".encode())
            conn.recv(100)  # the deadline answers 408
    text = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    assert "-> 200" in text  # the log is useful: it shows what happened...
    assert "-> 401" in text
    assert "-> 408" in text
    for secret in secrets_of(creds):
        assert secret not in text  # ...and never a secret


def test_concurrent_clients_all_get_the_same_credentials(
    server: CredentialsServer, creds: TemporaryCredentials
) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        status, _, body = get(server)
        with lock:
            results.append(
                status if json.loads(body).get("AccessKeyId") == creds.access_key_id else -1
            )

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [200] * 16
