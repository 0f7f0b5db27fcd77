"""``GET /healthz`` on the credentials endpoint and ``ecs-xrole health``: real HTTP on loopback.

The states come from real :class:`~ecs_xrole._refresh.RefreshingCredentials`: on the loopback
stand-ins (moto's STS behind the fake ECS endpoint) for the transitions ok -> degraded ->
failing -> ok, and, for the command's exit codes, credentials whose fetch and clock the test
holds (a scheduler without a thread: nothing runs unless the test runs it). No answer may hold
a key, a session token, the endpoint's token or a credentials ID.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._endpoint import Endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole._refresh import RefreshingCredentials
from ecs_xrole._scheduler import Scheduler
from ecs_xrole._serving.health import HEALTH_PATH, health_answer, health_source
from ecs_xrole._serving.server import CredentialsServer
from ecs_xrole._serving.wire import MAX_HEAD_BYTES
from ecs_xrole.cli.exec import source_for
from ecs_xrole.cli.health import env_file_url, health_url, summarize
from ecs_xrole.errors import Error
from ecs_xrole.testing import fake_credentials
from http_probe import raw, request

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

TOKEN = "h" * 20 + "0123456789abcdefghijklmnop"  # 46 characters
ROLE = "arn:aws:iam::555566667777:role/destination-account-role"
PATH = "/role/app"
LIFETIME = 3600.0


# -- credentials whose fetch and clock the test holds --------------------------------------


class Throttled(Error):
    """What the held fetch raises while the test makes it fail (STS's code, as AssumeRole's)."""

    code = "Throttling"


class Held:
    """A role's real RefreshingCredentials, fetching from the test: ``failing`` makes the
    fetch raise, ``shift`` moves the clock; ``scheduler.run_pending()`` runs a due refresh."""

    def __init__(self, role_arn: str = ROLE) -> None:
        self.shift = 0.0
        self.failing = False
        self.issued: list[TemporaryCredentials] = []
        self.scheduler = Scheduler(clock=self.clock, start_thread=False)
        self.creds = RefreshingCredentials(
            self._fetch,
            method="test",
            description=f"role {role_arn}",
            clock=self.clock,
            scheduler=self.scheduler,
            retry_interval=0.0,
            role_arn=role_arn,
        )
        self.role_arn = role_arn

    def clock(self) -> float:
        return time.time() + self.shift

    def _fetch(self) -> TemporaryCredentials:
        if self.failing:
            raise Throttled("STS throttled the AssumeRole call", fix="wait")
        made = dataclasses.replace(
            fake_credentials(role_arn=self.role_arn, account_id="555566667777"),
            expiration=datetime.fromtimestamp(int(self.clock() + LIFETIME), timezone.utc),
        )
        self.issued.append(made)
        return made

    def load(self) -> Held:
        self.creds.get_frozen_credentials()
        return self

    def degrade(self) -> None:
        """Refreshes fail while the credentials in hand are still served."""
        self.failing = True
        self.shift += LIFETIME - 10 * 60  # past the advisory time (15 min before expiry)
        assert self.scheduler.run_pending() >= 1
        assert self.creds.status().state == "degraded"

    def fail(self) -> None:
        """Refreshes fail and the credentials in hand are inside the mandatory margin."""
        self.failing = True
        self.shift = LIFETIME - 30  # inside the last minute
        with pytest.raises(Error):
            self.creds.get_frozen_credentials()
        assert self.creds.status().state == "failing"

    def secrets(self) -> list[str]:
        found = [TOKEN]
        for made in self.issued:
            found += [made.access_key_id, made.secret_access_key, str(made.session_token)]
        return found


def held_server(*roles: tuple[str, Held], **kwargs: Any) -> CredentialsServer:
    return CredentialsServer(
        {path: source_for(held.creds) for path, held in roles},
        token=TOKEN,
        health=health_source({path: held.creds for path, held in roles}),
        **kwargs,
    )


@pytest.fixture
def held() -> Held:
    return Held().load()


@pytest.fixture
def server(held: Held) -> Iterator[CredentialsServer]:
    with held_server((PATH, held), head_timeout=1.0) as running:
        yield running


# -- raw HTTP --------------------------------------------------------------------------------


def get(
    port: int, path: str = HEALTH_PATH, token: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    return request(port, path, token=token, method=method)


def probe(port: int, secrets: list[str]) -> tuple[int, dict[str, Any]]:
    """GET /healthz without a token; assert no secret is in its head or body."""
    status, headers, body = get(port)
    seen = json.dumps(headers) + body.decode()
    for secret in secrets:
        assert secret not in seen
    assert "AccessKeyId" not in seen
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    document: dict[str, Any] = json.loads(body)
    return status, document


def until(condition: Callable[[], bool], seconds: float = 8.0) -> None:
    """Wait for ``condition`` (polling), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


# -- the answer, from a server whose credentials the test holds -------------------------------


def test_each_state_and_its_answer(held: Held, server: CredentialsServer) -> None:
    status, body = probe(server.port, held.secrets())
    assert status == 200
    assert body["status"] == "ok"
    (role,) = body["roles"]
    assert set(role) == {
        "path",
        "role_arn",
        "state",
        "expires_in",
        "expiry",
        "last_refresh",
        "failing_since",
        "last_error",
    }
    assert role["path"] == PATH
    assert role["role_arn"] == ROLE
    assert role["state"] == "ok"
    assert 0 < role["expires_in"] <= LIFETIME
    assert role["last_error"] is None
    assert role["failing_since"] is None
    assert role["last_refresh"].endswith("Z")

    held.degrade()
    status, body = probe(server.port, held.secrets())
    assert status == 200
    assert body["status"] == "degraded"
    (role,) = body["roles"]
    assert role["state"] == "degraded"
    assert role["last_error"]["type"] == "Throttled"
    assert role["last_error"]["code"] == "Throttling"
    assert role["failing_since"] is not None
    assert role["expires_in"] > 60

    held.fail()
    status, body = probe(server.port, held.secrets())
    assert status == 503
    assert body["status"] == "failing"
    assert body["roles"][0]["state"] == "failing"
    assert body["roles"][0]["expires_in"] < 60

    held.failing = False
    held.creds.get_frozen_credentials()  # an SDK's request now refreshes
    status, body = probe(server.port, held.secrets())
    assert status == 200
    assert body["status"] == "ok"
    assert body["roles"][0]["failing_since"] is None
    assert body["roles"][0]["last_error"]["code"] == "Throttling"  # kept: when and why it failed


def test_a_probe_of_a_failing_role_plans_its_next_attempt_now(
    held: Held, server: CredentialsServer
) -> None:
    held.fail()
    held.scheduler.run_pending()  # the refresh that was due fails too...
    assert held.scheduler.run_pending() == 0  # ...and plans the next after a backoff
    held.failing = False  # the cause is fixed; no SDK asks
    status, _ = probe(server.port, held.secrets())
    assert status == 503  # the answer is the state as it stands...
    assert held.scheduler.run_pending() == 1  # ...and the probe planned an attempt now
    status, body = probe(server.port, held.secrets())
    assert (status, body["status"]) == (200, "ok")
    assert held.scheduler.run_pending() == 0  # nothing more planned while all is well


def test_probes_plan_no_attempt_for_healthy_or_degraded_roles(
    held: Held, server: CredentialsServer
) -> None:
    probe(server.port, held.secrets())
    held.degrade()  # ran the due refresh, which failed: the next is after a backoff
    probe(server.port, held.secrets())
    assert held.scheduler.run_pending() == 0


def test_the_worst_role_decides(held: Held) -> None:
    other = Held("arn:aws:iam::555566667777:role/other").load()
    with held_server((PATH, held), ("/role/other", other)) as running:
        other.degrade()
        status, body = probe(running.port, held.secrets() + other.secrets())
        assert (status, body["status"]) == (200, "degraded")
        assert [r["state"] for r in body["roles"]] == ["ok", "degraded"]
        held.fail()
        status, body = probe(running.port, held.secrets() + other.secrets())
        assert (status, body["status"]) == (503, "failing")
        assert [r["path"] for r in body["roles"]] == [PATH, "/role/other"]


def test_a_role_not_loaded_yet_is_failing() -> None:
    pending = Held()  # never loaded: nothing to serve yet
    assert pending.creds.status().state == "pending"
    status, body = health_answer([(PATH, pending.creds.status())])
    assert (status, body["status"]) == (503, "failing")
    assert body["roles"][0]["state"] == "pending"
    assert body["roles"][0]["expires_in"] is None
    assert health_answer([]) == (200, {"status": "ok", "roles": []})


def test_no_token_needed_while_credential_paths_still_need_it(
    held: Held, server: CredentialsServer
) -> None:
    assert get(server.port)[0] == 200
    assert get(server.port, token="wrong" * 10)[0] == 200  # a token is not looked at
    assert get(server.port, token=TOKEN)[0] == 200
    assert get(server.port, PATH)[0] == 401
    assert get(server.port, PATH, token="wrong" * 10)[0] == 401
    status, _, body = get(server.port, PATH, token=TOKEN)
    assert status == 200
    assert json.loads(body)["AccessKeyId"] == held.issued[-1].access_key_id
    # Only GET, only the exact path, no body.
    assert get(server.port, method="POST")[0] == 405
    assert get(server.port, HEALTH_PATH + "?x=1")[0] == 401  # not the health path: a credential one
    assert get(server.port, HEALTH_PATH + "/")[0] == 401
    head = f"GET {HEALTH_PATH} HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"
    assert raw(server.port, head.encode())[0] == 400


def test_without_health_the_path_is_an_unknown_one(creds_server: CredentialsServer) -> None:
    assert get(creds_server.port)[0] == 401
    assert get(creds_server.port, token=TOKEN)[0] == 404


@pytest.fixture
def creds_server() -> Iterator[CredentialsServer]:
    made = fake_credentials(lifetime=3600, role_arn=ROLE)
    with CredentialsServer({PATH: lambda: made}, token=TOKEN) as running:
        yield running


def test_the_head_limits_and_the_deadline_still_hold(server: CredentialsServer) -> None:
    big = f"GET {HEALTH_PATH} HTTP/1.1\r\nX: {'a' * MAX_HEAD_BYTES}\r\n\r\n"
    assert raw(server.port, big.encode())[0] == 431
    # A probe that never finishes its head is answered 408 at the head deadline (1 s here).
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(f"GET {HEALTH_PATH} HTTP/1.1\r\n".encode())
        assert conn.recv(65536).startswith(b"HTTP/1.1 408 ")


def test_the_probes_rate_budget_is_their_own(held: Held) -> None:
    # A budget that does not refill within the test: 3 requests each.
    with held_server((PATH, held), rate=0.001, burst=3) as running:
        assert [get(running.port)[0] for _ in range(4)] == [200, 200, 200, 429]
        assert get(running.port)[1]["Retry-After"].isdigit()
        # The SDKs' budget is whole, and using it up leaves the probes' (spent) one alone.
        assert [get(running.port, PATH, TOKEN)[0] for _ in range(4)] == [200, 200, 200, 429]
    with held_server((PATH, held), rate=0.001, burst=3) as running:
        assert [get(running.port, PATH, TOKEN)[0] for _ in range(4)] == [200, 200, 200, 429]
        assert get(running.port)[0] == 200  # probes still answered
        # Nor do clients with a wrong token use the probes' budget.
        assert [get(running.port, PATH, "x" * 40)[0] for _ in range(4)] == [401, 401, 401, 429]
        assert get(running.port)[0] == 200


def test_a_health_callable_that_fails_answers_500_without_detail() -> None:
    def broken() -> tuple[int, dict[str, Any]]:
        raise RuntimeError(f"boom {TOKEN}")

    made = fake_credentials(lifetime=3600, role_arn=ROLE)
    with CredentialsServer({PATH: lambda: made}, token=TOKEN, health=broken) as running:
        status, _, body = get(running.port)
    assert status == 500
    assert TOKEN.encode() not in body
    assert b"boom" not in body


# -- ok -> degraded -> failing -> ok on the loopback stand-ins --------------------------------


@pytest.mark.slow
def test_transitions_on_the_stand_ins(ecs_xrole_env: LocalStack) -> None:
    import ecs_xrole

    stack = ecs_xrole_env
    # Credentials for 4 s: the background refresh is due 1.6-2 s after the load, the mandatory
    # margin is the last 0.4 s.
    stack.aws.sts_lifetime = 4.0
    role = stack.aws.destination_role_arn
    creds = ecs_xrole.get_credentials(role)
    issued = [creds.current]

    def secrets() -> list[str]:
        found = [TOKEN, str(stack.token)]
        for made in issued:
            assert made is not None
            found += [made.access_key_id, made.secret_access_key, str(made.session_token)]
        return found

    with CredentialsServer(
        {PATH: source_for(creds)}, token=TOKEN, health=health_source({PATH: creds})
    ) as running:
        status, body = probe(running.port, secrets())
        assert (status, body["status"], body["roles"][0]["role_arn"]) == (200, "ok", role)

        stack.aws.remove_identity_policy()  # the task role lost sts:AssumeRole
        until(lambda: creds.status().failures >= 1)
        status, body = probe(running.port, secrets())
        assert (status, body["status"]) == (200, "degraded")
        assert body["roles"][0]["last_error"]["code"] == "AccessDenied"
        assert body["roles"][0]["last_error"]["type"] == "AssumeRoleDeniedError"

        until(lambda: creds.status().state == "failing")  # inside the mandatory margin
        status, body = probe(running.port, secrets())
        assert (status, body["status"]) == (503, "failing")

        stack.aws.restore_identity_policy()
        # The next SDK request refreshes (it waits for it, being inside the margin).
        fetched = fetch_credentials(Endpoint(running.url(PATH), auth="token", token=TOKEN))
        issued.append(creds.current)
        assert fetched.access_key_id == issued[-1].access_key_id  # type: ignore[union-attr]
        status, body = probe(running.port, secrets())
        assert (status, body["status"]) == (200, "ok")
        assert body["roles"][0]["failing_since"] is None


# -- ecs-xrole health ---------------------------------------------------------------------------


def health(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecs_xrole", "health", *args],
        capture_output=True,
        text=True,
        timeout=8,
        env=env,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stdout.splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)
    return lines[0]


def test_health_exits_0_for_ok_and_degraded_1_for_failing(
    held: Held, server: CredentialsServer
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    done = health("--url", base)
    assert done.returncode == 0, done.stderr
    assert one_line(done) in (
        "ok: 1 role, credentials expire in 59 min",
        "ok: 1 role, credentials expire in 60 min",
    )
    assert done.stderr == ""

    held.degrade()
    done = health("--url", f"{base}/role/app?ignored=1")  # any URL on the endpoint
    assert done.returncode == 0, done.stderr
    line = one_line(done)
    assert line.startswith("degraded: /role/app: refreshes failing since ")
    assert line.endswith("Z (Throttled, Throttling), credentials still valid for 9 min")
    assert "." not in line  # whole seconds

    held.fail()
    done = health("--url", base)
    assert done.returncode == 1
    assert one_line(done) == "failing: /role/app has nothing valid to serve (Throttled, Throttling)"
    for secret in held.secrets():
        assert secret not in done.stdout + done.stderr


def test_health_unreachable_and_not_a_health_answer_exit_1(
    creds_server: CredentialsServer,
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    done = health("--url", f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert one_line(done) == (
        f"unreachable: http://127.0.0.1:{port}/healthz: cannot connect (Connection refused)"
    )
    done = health("--url", f"http://127.0.0.1:{creds_server.port}")  # no /healthz there
    assert done.returncode == 1
    assert one_line(done) == "unexpected: HTTP 401, not an ecs-xrole /healthz answer"


def test_health_ends_by_its_deadline_against_a_drip_feeding_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        stop = threading.Event()

        def drip() -> None:
            conn, _ = listener.accept()
            with conn:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                    if stop.wait(0.2):
                        return
                    conn.sendall(bytes([byte]))

        feeder = threading.Thread(target=drip, daemon=True)
        feeder.start()
        try:
            done = health(
                "--url", f"http://127.0.0.1:{listener.getsockname()[1]}", "--timeout", "1"
            )
        finally:
            stop.set()
            feeder.join(5)
    assert done.returncode == 1
    assert one_line(done).startswith("unreachable: ")
    assert "timed out" in done.stdout


def test_health_finds_the_endpoint_in_the_environment_and_the_env_file(
    server: CredentialsServer, tmp_path: Path
) -> None:
    env = {**os.environ, "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url(PATH)}
    done = health(env=env)
    assert done.returncode == 0, done.stderr
    assert one_line(done).startswith("ok: 1 role")
    # What serve prints, saved to a file (the token line included: never quoted).
    env_file = tmp_path / "serve.env"
    env_file.write_text(
        f"# role app: {ROLE}\n"
        f"AWS_CONTAINER_CREDENTIALS_FULL_URI={server.url(PATH)}\n"
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/ecs-xrole/token\n"
        f"AWS_CONTAINER_AUTHORIZATION_TOKEN={TOKEN}\n"
    )
    env.pop("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    done = health("--env-file", str(env_file), env=env)
    assert done.returncode == 0, done.stderr
    assert one_line(done).startswith("ok: 1 role")


def test_health_bad_input_exits_2_naming_the_fix(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CONTAINER_CREDENTIALS_FULL_URI"}
    done = health(env=env)
    assert done.returncode == 2
    assert "--url is missing" in done.stderr
    assert "Fix: pass --url http://127.0.0.1:PORT" in done.stderr
    done = health("--url", "http://10.0.0.8:9911")
    assert done.returncode == 2
    assert "'10.0.0.8' is not allowed" in done.stderr
    done = health("--url", "http://127.0.0.1:9911", "--timeout", "0")
    assert done.returncode == 2
    assert "--timeout '0' is not valid" in done.stderr
    env_file = tmp_path / "other.env"
    env_file.write_text(f"AWS_CONTAINER_AUTHORIZATION_TOKEN={TOKEN}\n")
    done = health("--env-file", str(env_file), env=env)
    assert done.returncode == 2
    assert "holds no AWS_CONTAINER_CREDENTIALS_FULL_URI line" in done.stderr
    assert TOKEN not in done.stderr


def test_health_imports_neither_boto3_nor_botocore(server: CredentialsServer) -> None:
    code = (
        "import sys; from ecs_xrole.cli import main; "
        f"code = main(['health', '--url', 'http://127.0.0.1:{server.port}']); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')); "
        "print(heavy); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=8)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# -- the pure parts --------------------------------------------------------------------------


def test_health_url_keeps_scheme_host_and_port() -> None:
    assert health_url("http://127.0.0.1:9911") == "http://127.0.0.1:9911/healthz"
    assert health_url("http://127.0.0.1:9911/role/app") == "http://127.0.0.1:9911/healthz"
    assert health_url("HTTP://[::1]:9911/x?y#z") == "http://[::1]:9911/healthz"
    assert health_url("http://localhost:80/") == "http://localhost:80/healthz"
    with pytest.raises(Error, match=r"169\.254\.169\.254"):
        health_url("http://169.254.169.254/latest")
    with pytest.raises(Error, match="userinfo"):
        health_url("http://user:pass@127.0.0.1:9911/")


def test_env_file_forms(tmp_path: Path) -> None:
    env_file = tmp_path / "a.env"
    env_file.write_text(
        "unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\n"
        "export AWS_CONTAINER_CREDENTIALS_FULL_URI='http://127.0.0.1:1/role/a'\n"
        "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:2/role/b\n"
    )
    assert env_file_url(str(env_file)) == "http://127.0.0.1:1/role/a"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(Error, match="not a regular file"):
        env_file_url(str(fifo))  # refused without waiting for a writer
    with pytest.raises(Error, match="cannot be read"):
        env_file_url(str(tmp_path / "missing"))


def test_summarize_refuses_what_is_not_a_health_answer() -> None:
    for status, body in [
        (200, b"{}"),
        (200, b"not json"),
        (200, None),
        (503, b'{"status": "ok", "roles": []}'),  # the status must match the state
        (200, b'{"status": "failing", "roles": []}'),
        (200, b'{"status": "ok", "roles": [1]}'),
    ]:
        code, line = summarize(status, body)
        assert code == 1
        assert line.startswith("unexpected: ")
    code, line = summarize(200, b'{"status": "ok", "roles": [{"path": "/role/\\u001b[2Jx"}]}')
    assert (code, line) == (0, "ok: 1 role")
    code, line = summarize(
        503, b'{"status": "failing", "roles": [{"path": "/role/\\u001b[2Jx", "state": "pending"}]}'
    )
    assert code == 1
    assert "\x1b" not in line
    assert line == "failing: /role/ [2Jx has not loaded yet"
