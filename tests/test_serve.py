"""``ecs-xrole serve`` on the loopback stand-ins: a sidecar serving several roles, its token
file, the loopback rule and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ecs_xrole._endpoint import Endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole.cli.serve import parse_listen, prepare_token_file
from ecs_xrole.errors import InvalidInputError

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

DESTINATION_ACCOUNT = "555566667777"


def serve_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "ecs_xrole", "serve", *args]


class Served:
    """A running ``serve`` process and the variables it printed, per role name."""

    def __init__(self, proc: subprocess.Popen[str], variables: dict[str, dict[str, str]]) -> None:
        self.proc = proc
        self.variables = variables

    def endpoint(self, name: str) -> Endpoint:
        found = self.variables[name]
        return Endpoint(
            found["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
            auth="token_file",
            token_file=found["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"],
        )


def start(argv: list[str], env: dict[str, str], roles: int, *, lines_per_role: int = 4) -> Served:
    """Start ``serve`` and read what it prints: per role a comment and, by default, the three
    variables (``--token-file-only``: two)."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    timer = threading.Timer(7, proc.kill)  # never wait on a stuck server past the test budget
    timer.start()
    variables: dict[str, dict[str, str]] = {}
    try:
        name = ""
        for _ in range(lines_per_role * roles):
            line = proc.stdout.readline().strip()
            assert line, proc.stderr.read() if proc.stderr else ""
            if line.startswith("# role "):
                name = line.removeprefix("# role ").split(":")[0]
                variables[name] = {}
            else:
                key, _, value = line.partition("=")
                variables[name][key] = value
    finally:
        timer.cancel()
    return Served(proc, variables)


@pytest.fixture
def served(ecs_xrole_env: LocalStack, tmp_path: Path) -> Iterator[Served]:
    env = dict(os.environ)
    env["ECS_XROLE_PROFILES"] = "app ext"
    env["ECS_XROLE_APP_ROLE_ARN"] = ecs_xrole_env.aws.destination_role_arn
    env["ECS_XROLE_EXT_ROLE_ARN"] = ecs_xrole_env.aws.external_id_role_arn
    env["ECS_XROLE_EXT_EXTERNAL_ID"] = "ecs-xrole-demo-id"
    running = start(
        serve_argv(
            "--listen", "127.0.0.1:0", "--token-file", str(tmp_path / "token"), "--from-env"
        ),
        env,
        roles=2,
    )
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
        running.proc.wait(5)
        for stream in (running.proc.stdout, running.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
def test_serves_each_role_on_its_path(
    served: Served, ecs_xrole_env: LocalStack, tmp_path: Path
) -> None:
    import boto3

    assert set(served.variables) == {"app", "ext"}
    for name, role in (("app", "destination-account-role"), ("ext", "external-id-role")):
        url = served.variables[name]["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith(f"/role/{name}")
        assert served.variables[name]["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(
            tmp_path / "token"
        )
        # The same token as the file's, for SDK releases that read only the variable.
        assert served.variables[name]["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == (
            (tmp_path / "token").read_text()
        )
        creds = fetch_credentials(served.endpoint(name))
        assert creds.role_arn is not None
        assert creds.role_arn.endswith(f":role/{role}")
        sts = boto3.client(
            "sts",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            endpoint_url=ecs_xrole_env.aws.endpoint_url,
            region_name="us-east-1",
        )
        identity = sts.get_caller_identity()
        assert identity["Account"] == DESTINATION_ACCOUNT
        assert f":assumed-role/{role}/" in identity["Arn"]
    mode = stat.S_IMODE(os.stat(tmp_path / "token").st_mode)
    assert mode == 0o600
    assert len((tmp_path / "token").read_text()) >= 43


@pytest.mark.slow
def test_wrong_or_missing_token_gets_401(served: Served) -> None:
    url = served.variables["app"]["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    for headers in ({}, {"Authorization": "x" * 43}):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
        assert info.value.code == 401
        assert b"AccessKeyId" not in info.value.read()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_sigterm_and_sigint(served: Served, signum: signal.Signals) -> None:
    url = served.variables["app"]["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    port = int(url.split(":")[2].split("/")[0])
    served.proc.send_signal(signum)
    assert served.proc.wait(timeout=5) == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


@pytest.mark.slow
def test_a_role_that_cannot_be_assumed_fails_before_listening(
    ecs_xrole_env: LocalStack, tmp_path: Path
) -> None:
    done = subprocess.run(
        serve_argv(
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            str(tmp_path / "token"),
            "--role",
            f"app={ecs_xrole_env.aws.untrusting_role_arn}",
        ),
        capture_output=True,
        text=True,
        timeout=8,
    )
    assert done.returncode == 1
    assert "cannot act as role" in done.stderr
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:9911", "--role", "a=arn:aws:iam::555566667777:role/x"], "loopback"),
        (["--listen", "10.0.0.1:9911", "--role", "a=arn:aws:iam::555566667777:role/x"], "loopback"),
        (["--listen", "localhost", "--role", "a=arn:aws:iam::555566667777:role/x"], "HOST:PORT"),
        (["--listen", "example.com:80", "--role", "a=arn:aws:iam::555566667777:role/x"], "IP"),
        (["--listen", "127.0.0.1:0"], "--role"),
        (["--listen", "127.0.0.1:0", "--role", "a/b=arn:aws:iam::555566667777:role/x"], "a/b"),
        (["--listen", "127.0.0.1:0", "--role", "no-equals"], "NAME=ARN"),
        (["--listen", "127.0.0.1:0", "--role", "a=arn:aws:iam::1:role/x"], "arn:aws:iam::1"),
        (
            [
                "--listen",
                "127.0.0.1:0",
                "--role",
                "a=arn:aws:iam::555566667777:role/x",
                "--role",
                "a=arn:aws:iam::555566667777:role/y",
            ],
            "twice",
        ),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run(
        serve_argv("--token-file", str(tmp_path / "token"), *args),
        capture_output=True,
        text=True,
        timeout=8,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "token").exists()  # nothing was created for bad input


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9911") == ("127.0.0.1", 9911)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen("localhost:80") == ("127.0.0.1", 80)
    assert parse_listen("127.0.0.2:1") == ("127.0.0.2", 1)
    with pytest.raises(InvalidInputError, match="loopback"):
        parse_listen("169.254.170.2:80")
    assert parse_listen("169.254.170.2:80", allow_non_loopback=True) == ("169.254.170.2", 80)
    with pytest.raises(InvalidInputError):
        parse_listen("127.0.0.1:65536")


# -- the token file -------------------------------------------------------------------------------


def test_token_file_is_created_0600_with_256_bits(tmp_path: Path) -> None:
    path = tmp_path / "token"
    token = prepare_token_file(str(path))
    assert len(token) >= 43
    assert path.read_text() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = prepare_token_file(str(path))  # every start writes a fresh token
    assert again != token
    assert path.read_text() == again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_token_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "token"
    path.write_text("a" * 43)
    path.chmod(mode)
    with pytest.raises(InvalidInputError, match="group or others"):
        prepare_token_file(str(path))


def test_token_file_symlink_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a symlink to another user")
    target = tmp_path / "real"
    target.write_text("a" * 43)
    target.chmod(0o600)
    link = tmp_path / "token"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    with pytest.raises(InvalidInputError, match="symbolic link owned by another user"):
        prepare_token_file(str(link))
    os.lchown(link, 0, 0)
    assert prepare_token_file(str(link)) == target.read_text()  # a link of our own is fine


def test_token_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    path = tmp_path / "token"
    path.write_text("a" * 43)
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(InvalidInputError, match="owned by another user"):
        prepare_token_file(str(path))


def test_token_file_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "token"
    os.mkfifo(path, 0o600)
    began = time.monotonic()
    with pytest.raises(InvalidInputError, match="not a regular file"):
        prepare_token_file(str(path))
    assert time.monotonic() - began < 2


@pytest.mark.parametrize("content", ["short", "a" * 20 + "\n" + "b" * 20, "\xe9" * 40, "a" * 9000])
def test_token_file_with_a_bad_token_is_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token"
    path.write_bytes(content.encode("latin-1"))
    path.chmod(0o600)
    token = prepare_token_file(str(path))
    assert path.read_bytes() == token.encode()
    assert len(token) >= 43


@pytest.mark.slow
@pytest.mark.parametrize("token_file_only", [False, True])
def test_the_token_is_printed_once_for_the_app_containers_and_never_logged(
    ecs_xrole_env: LocalStack, tmp_path: Path, token_file_only: bool
) -> None:
    argv = serve_argv("-vv", "--listen", "127.0.0.1:0", "--token-file", str(tmp_path / "token"))
    argv += ["--role", f"app={ecs_xrole_env.aws.destination_role_arn}"]
    if token_file_only:
        argv.append("--token-file-only")
    running = start(argv, dict(os.environ), roles=1, lines_per_role=3 if token_file_only else 4)
    token = (tmp_path / "token").read_text()
    running.proc.send_signal(signal.SIGTERM)
    out, err = running.proc.communicate(timeout=5)
    assert running.proc.returncode == 0, err
    printed = running.variables["app"]
    if token_file_only:
        assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in printed
    else:
        assert printed["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == token  # the file's value
    assert token not in out  # printed once, on its own line (read by start)
    assert token not in err  # no log line holds it, at -vv


@pytest.mark.slow
def test_healthz_without_the_token_and_the_health_command(served: Served, tmp_path: Path) -> None:
    import json

    url = served.variables["app"]["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    base = url.removesuffix("/role/app")
    with urllib.request.urlopen(base + "/healthz", timeout=5) as answer:
        assert answer.status == 200
        body = answer.read().decode()
        head = str(answer.headers)
    document = json.loads(body)
    assert document["status"] == "ok"
    assert [role["path"] for role in document["roles"]] == ["/role/app", "/role/ext"]
    assert all(role["state"] == "ok" for role in document["roles"])
    token = (tmp_path / "token").read_text()
    keys = [fetch_credentials(served.endpoint(name)) for name in ("app", "ext")]
    secrets = [s for k in keys for s in (k.access_key_id, k.secret_access_key, k.session_token)]
    for secret in [token, *secrets]:
        assert secret not in body + head
    # ecs-xrole health, from --url and from serve's printed lines saved to a file.
    env_file = tmp_path / "serve.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in served.variables["app"].items()))
    for args in (["--url", base], ["--env-file", str(env_file)]):
        done = subprocess.run(
            [sys.executable, "-m", "ecs_xrole", "health", *args],
            capture_output=True,
            text=True,
            timeout=8,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ok: 2 roles, credentials expire in ")
        assert done.stdout.count("\n") == 1
        assert token not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_sidecar_example_passes_its_own_health_check(
    ecs_xrole_env: LocalStack, tmp_path: Path
) -> None:
    """examples/sidecar-task-definition.json's serve command and healthCheck, as written but
    for the port (any free one) and the token file (in the test's directory)."""
    import json

    example = Path(__file__).resolve().parent.parent / "examples" / "sidecar-task-definition.json"
    found = {c["name"]: c for c in json.loads(example.read_text())["containerDefinitions"]}
    container = found["credentials"]
    argv = list(container["command"])
    assert argv[0] == "ecs-xrole"
    argv[argv.index("--listen") + 1] = "127.0.0.1:0"
    argv[argv.index("--token-file") + 1] = str(tmp_path / "token")
    env = dict(os.environ)
    env.update({e["name"]: e["value"] for e in container["environment"]})
    assert env["ECS_XROLE_APP_ROLE_ARN"] == ecs_xrole_env.aws.destination_role_arn
    running = start([sys.executable, "-m", "ecs_xrole", *argv[1:]], env, roles=1, lines_per_role=3)
    try:
        port = running.variables["app"]["AWS_CONTAINER_CREDENTIALS_FULL_URI"].split(":")[2]
        kind, *check = container["healthCheck"]["command"]
        assert (kind, check[0]) == ("CMD", "ecs-xrole")
        check[check.index("--url") + 1] = check[check.index("--url") + 1].replace("9911", port)
        done = subprocess.run(
            [sys.executable, "-m", "ecs_xrole", *check[1:]],
            capture_output=True,
            text=True,
            timeout=container["healthCheck"]["timeout"],
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ok: 1 role, credentials expire in ")
    finally:
        running.proc.send_signal(signal.SIGTERM)
        running.proc.communicate(timeout=5)
