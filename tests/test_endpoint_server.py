"""EndpointServer, the loopback ECS-agent stand-in, seen from a plain HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import urllib3

from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole.errors import Error, InvalidInputError
from ecs_xrole.testing._agent import EndpointServer
from ecs_xrole.testing._agent_http import fake_credentials

TOKEN = "SeRvEr-ToKeN-Zq9XvB7kPw3Lm2Nc"


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    with EndpointServer() as srv:
        yield srv


def get(
    server: EndpointServer, path: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path or server.path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_urls_and_port(server: EndpointServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}{server.path}"
    assert server.path.startswith("/v2/credentials/")
    assert server.metadata_url == f"http://127.0.0.1:{server.port}{server.metadata_path}"
    assert server.port > 0


def test_the_url_is_unknown_before_start() -> None:
    srv = EndpointServer()
    with pytest.raises(Error, match="start"):
        _ = srv.url
    assert "not started" in repr(srv)


def test_serves_ecs_shaped_fake_credentials(server: EndpointServer) -> None:
    status, headers, body = get(server)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    data = json.loads(body)
    assert set(data) == {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert data["AccessKeyId"].startswith("ASIA")
    assert len(data["AccessKeyId"]) == 20
    assert data["Expiration"].endswith("Z")
    assert "." not in data["Expiration"]  # whole seconds, like the ECS agent
    expires = datetime.strptime(data["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    assert (
        timedelta(hours=5, minutes=59) < expires - datetime.now(timezone.utc) <= timedelta(hours=6)
    )
    second = json.loads(get(server)[2])
    assert second["AccessKeyId"] != data["AccessKeyId"]  # fresh fakes on every request
    assert (server.requests, server.served) == (2, 2)


def test_pod_identity_shape() -> None:
    with EndpointServer(shape="pod-identity", lifetime=600) as srv:
        data = json.loads(get(srv)[2])
    assert set(data) == {"AccessKeyId", "SecretAccessKey", "Token", "AccountId", "Expiration"}
    assert data["AccountId"] == "111122223333"
    fraction = data["Expiration"].split(".")[1]
    assert len(fraction) == len("123456789Z")  # nanoseconds


def test_serves_given_credentials_and_callables(server: EndpointServer) -> None:
    creds = fake_credentials(lifetime=1800, role_arn="arn:aws:iam::111122223333:role/r")
    server.credentials = creds
    data = json.loads(get(server)[2])
    assert (data["AccessKeyId"], data["SecretAccessKey"], data["Token"]) == (
        creds.access_key_id,
        creds.secret_access_key,
        creds.session_token,
    )
    assert data["RoleArn"] == "arn:aws:iam::111122223333:role/r"
    assert creds.expiration is not None
    assert data["Expiration"] == creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    calls: list[int] = []

    def source() -> TemporaryCredentials:
        calls.append(1)
        return creds

    server.credentials = source
    get(server)
    get(server)
    assert len(calls) == 2


def test_a_failing_callable_gives_500(server: EndpointServer) -> None:
    def broken() -> TemporaryCredentials:
        raise RuntimeError("boom")

    server.credentials = broken
    status, _, body = get(server)
    assert status == 500
    assert json.loads(body)["code"] == "InternalServerError"
    assert server.served == 0


def test_non_expiring_credentials_have_no_expiration(server: EndpointServer) -> None:
    server.credentials = TemporaryCredentials("ASIAX", "s", "t", None)
    assert "Expiration" not in json.loads(get(server)[2])


def test_lifetime_overrides_the_expiration(server: EndpointServer) -> None:
    server.credentials = fake_credentials(lifetime=7200)
    server.lifetime = 60
    data = json.loads(get(server)[2])
    expires = datetime.strptime(data["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    assert 55 <= (expires - datetime.now(timezone.utc)).total_seconds() <= 60


def test_token_is_required_when_set(server: EndpointServer) -> None:
    server.token = TOKEN
    status, _, body = get(server)
    assert status == 401
    assert "missing" in json.loads(body)["message"]
    status, _, body = get(server, headers={"Authorization": "wrong"})
    assert status == 401
    assert json.loads(body)["code"] == "Unauthorized"
    assert get(server, headers={"Authorization": TOKEN})[0] == 200
    assert (server.requests, server.served) == (3, 1)


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (503, 503, "CredentialsUninitialized"),
        (500, 500, "InternalServerError"),
        (400, 400, "InvalidIdInRequest"),
        (401, 401, "Unauthorized"),
        (418, 418, "I'maTeapot"),
    ],
)
def test_status_faults_answer_like_the_agent(
    server: EndpointServer, fault: int, status: int, code: str
) -> None:
    server.queue(fault)
    got, headers, body = get(server)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == code
    assert get(server)[0] == 200  # consumed: normal answers resume
    assert (server.requests, server.served) == (2, 1)


def test_400_says_credentials_not_found(server: EndpointServer) -> None:
    server.queue(400)
    assert "Credentials not found" in json.loads(get(server)[2])["message"]


def test_429_is_plain_text(server: EndpointServer) -> None:
    server.queue(429)
    status, headers, body = get(server)
    assert status == 429
    assert headers["Content-Type"].startswith("text/plain")
    assert body == b"Rate exceeded"


def test_custom_status_fault(server: EndpointServer) -> None:
    server.queue(("status", 429, "Slow down", {"Retry-After": "3"}))
    status, headers, body = get(server)
    assert (status, headers["Retry-After"], body) == (429, "3", b"Slow down")


def test_json_and_garbage_faults(server: EndpointServer) -> None:
    server.queue(("json", {"AccessKeyId": "only"}), "garbage")
    status, _, body = get(server)
    assert (status, json.loads(body)) == (200, {"AccessKeyId": "only"})
    status, headers, body = get(server)
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    with pytest.raises(ValueError):
        json.loads(body)
    assert server.served == 0  # fault answers are not counted as served


def test_reset_fault_resets_the_connection(server: EndpointServer) -> None:
    server.queue("reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        get(server)
    assert get(server)[0] == 200


def test_close_fault_closes_without_answer(server: EndpointServer) -> None:
    server.queue("close")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(server)
    assert server.requests == 1


def test_hang_fault_and_delay(server: EndpointServer) -> None:
    server.queue(("hang", 0.4))
    started = time.monotonic()
    assert get(server)[0] == 200
    assert time.monotonic() - started >= 0.39
    server.delay = 0.3
    started = time.monotonic()
    assert get(server)[0] == 200
    assert time.monotonic() - started >= 0.29


def test_faults_are_consumed_in_order(server: EndpointServer) -> None:
    server.queue(503, 500, 400)
    assert server.pending_faults == 3
    assert [get(server)[0] for _ in range(4)] == [503, 500, 400, 200]
    server.queue(503, 503)
    server.clear_faults()
    assert get(server)[0] == 200


@pytest.mark.parametrize(
    "fault", [99, 600, "explode", ("hang",), ("hang", -1), ("status", "429", "x"), (), True]
)
def test_unknown_faults_are_refused(server: EndpointServer, fault: Any) -> None:
    with pytest.raises(InvalidInputError, match="fault"):
        server.queue(fault)
    assert server.pending_faults == 0


def test_reset_counters(server: EndpointServer) -> None:
    get(server)
    get(server, server.metadata_path + "/task")
    server.reset_counters()
    assert (server.requests, server.served, server.metadata_requests) == (0, 0, 0)


def test_other_paths(server: EndpointServer) -> None:
    status, _, body = get(server, "/v2/credentials/some-other-id")
    assert (status, json.loads(body)["code"]) == (400, "InvalidIdInRequest")
    assert get(server, "/nothing")[0] == 404
    assert server.requests == 0  # only the credentials path counts
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", server.path, body=b"{}")
    assert conn.getresponse().status == 405
    conn.close()


def test_task_metadata(server: EndpointServer) -> None:
    status, _, body = get(server, server.metadata_path + "/task")
    data = json.loads(body)
    assert status == 200
    assert data["TaskARN"] == (
        "arn:aws:ecs:us-east-1:111122223333:task/demo-cluster/0123456789abcdef0123456789abcdef"
    )
    assert data["Cluster"] == "arn:aws:ecs:us-east-1:111122223333:cluster/demo-cluster"
    assert data["AvailabilityZone"] == "us-east-1a"
    container = json.loads(get(server, server.metadata_path)[2])
    assert container["Name"] == "app"
    assert server.metadata_requests == 2
    server.metadata_answer = {"TaskARN": "x"}
    assert json.loads(get(server, server.metadata_path + "/task")[2]) == {"TaskARN": "x"}


def test_stop_refuses_connections_and_start_rebinds_the_same_port(
    server: EndpointServer,
) -> None:
    port = server.port
    pool = urllib3.PoolManager(retries=False)
    assert pool.request("GET", server.url).status == 200  # a kept-alive connection
    server.stop()
    assert not server.running
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
    with pytest.raises(urllib3.exceptions.HTTPError):
        pool.request("GET", server.url, timeout=2)  # the kept-alive connection is gone too
    server.stop()  # idempotent
    server.start()
    assert server.port == port
    assert pool.request("GET", server.url).status == 200
    assert server.start() is server  # a no-op when running


def test_stop_wakes_hanging_handlers(server: EndpointServer) -> None:
    server.delay = 30
    errors: list[BaseException] = []

    def client() -> None:
        try:
            get(server)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while server.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    server.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert errors  # the client saw the connection close, not an answer


def test_environ_with_token(server: EndpointServer) -> None:
    server.token = TOKEN
    assert server.environ() == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
        "ECS_CONTAINER_METADATA_URI_V4": server.metadata_url,
    }


def test_environ_with_token_file(server: EndpointServer, tmp_path: Path) -> None:
    server.token = TOKEN
    path = tmp_path / "token"
    env = server.environ(token_file=str(path))
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(path)
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in env
    assert path.read_text() == TOKEN + "\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    server.rotate_token("second-token", token_file=path)
    assert path.read_text() == "second-token\n"
    assert server.token == "second-token"
    assert [p.name for p in tmp_path.iterdir()] == ["token"]  # no temporary files left


def test_environ_without_token(server: EndpointServer, tmp_path: Path) -> None:
    assert set(server.environ()) == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "ECS_CONTAINER_METADATA_URI_V4",
    }
    with pytest.raises(InvalidInputError, match="no token"):
        server.environ(token_file=str(tmp_path / "token"))


def test_knob_validation() -> None:
    srv = EndpointServer()
    with pytest.raises(InvalidInputError):
        srv.delay = -1
    with pytest.raises(InvalidInputError):
        EndpointServer(shape="eks")  # type: ignore[arg-type]


def test_nothing_on_stderr_and_no_token_in_repr(
    server: EndpointServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.token = TOKEN
    server.queue("reset", 503)
    for _ in range(2):
        with contextlib.suppress(OSError, http.client.HTTPException):
            get(server, headers={"Authorization": TOKEN})
    get(server, headers={"Authorization": TOKEN})
    get(server)
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""
    assert TOKEN not in repr(server)
    # Nor the credentials ID: whoever has the path can fetch the task role's credentials.
    credentials_id = server.url.rsplit("/", 1)[1]
    assert len(credentials_id) > 8
    assert credentials_id not in repr(server)
    assert credentials_id[:4] + "..." in repr(server)


def test_ipv6_url_is_bracketed() -> None:
    try:
        srv = EndpointServer(host="::1").start()
    except Error:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert srv.url.startswith(f"http://[::1]:{srv.port}/v2/credentials/")
        assert urllib3.PoolManager().request("GET", srv.url).status == 200
    finally:
        srv.stop()
