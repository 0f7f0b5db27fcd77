"""Clients beyond botocore, as Debian 12 installs them (the AWS CLI v2 and the AWS SDKs for Go
v2 and v1, see ``sdk_clients``) and the AWS SDK for JavaScript v3 from npm, on the loopback
stand-ins: under ``ecs-xrole exec`` and with ``ecs-xrole serve``'s variables their default
chain is the destination role; a ``credential_process`` profile whose role is refused ends in
an error, never in the task role, in every client but the JavaScript SDK, which goes on to the
task role (docs/how-to/credential-process.md; doctor warns). A client that is not installed
skips its tests, saying why (``-ra`` shows it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sdk_clients import AWS_CLI_V1, NAMES, Budget, Client, require

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

pytest.importorskip("moto")
pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parent.parent / "docs"
DESTINATION_ACCOUNT = "555566667777"
FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
RELATIVE_URI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"


@pytest.fixture
def budget() -> Budget:
    return Budget()


@pytest.fixture
def task_env(ecs_xrole_env: LocalStack, tmp_path: Path) -> dict[str, str]:
    """The environment of a process in the task (``ecs_xrole_env`` put the stack's variables
    into ``os.environ``), with a HOME of its own: the AWS CLI caches there."""
    return {**os.environ, "HOME": str(tmp_path / "home")}


def identity(done: subprocess.CompletedProcess[str], client: Client | str) -> dict[str, str]:
    assert done.returncode == 0, f"{client}: exit {done.returncode}: {done.stderr[-1500:]}"
    found: dict[str, str] = json.loads(done.stdout)
    return found


def assert_destination(seen: dict[str, str], client: Client) -> None:
    assert seen["Account"] == DESTINATION_ACCOUNT, f"{client}: {seen}"
    assert ":assumed-role/destination-account-role/" in seen["Arn"], f"{client}: {seen}"


# -- exec -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_exec_child_acts_as_the_destination(
    name: str, ecs_xrole_env: LocalStack, task_env: dict[str, str], budget: Budget
) -> None:
    client = require(name)
    argv = [sys.executable, "-m", "ecs_xrole", "exec"]
    argv += ["--role-arn", ecs_xrole_env.aws.destination_role_arn, "--"]
    done = budget.run(
        argv + client.whoami(ecs_xrole_env.aws.endpoint_url),
        client.environ(task_env),
    )
    assert_destination(identity(done, client), client)


# -- serve ------------------------------------------------------------------------------------


def app_entrypoint() -> list[str]:
    """The app container's ``entryPoint`` of the sidecar task definition in
    docs/how-to/every-process.md, as written there."""
    text = (DOCS / "how-to" / "every-process.md").read_text()
    line = next(line for line in text.splitlines() if '"entryPoint":' in line)
    entrypoint: list[str] = json.loads(line.split(":", 1)[1].strip().rstrip(","))
    return entrypoint


def serve(
    stack: LocalStack, env: dict[str, str], directory: Path, budget: Budget
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``serve`` with one role (app), its token file in ``directory``, and read the
    variables it prints."""
    token_file = directory / "run" / "token"
    token_file.parent.mkdir(mode=0o700)
    argv = [sys.executable, "-m", "ecs_xrole", "serve", "--listen", "127.0.0.1:0"]
    argv += ["--token-file", str(token_file), "--role", f"app={stack.aws.destination_role_arn}"]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    timer = budget.watch(proc)
    printed: dict[str, str] = {}
    try:
        while TOKEN not in printed:
            line = proc.stdout.readline()
            if not line:
                proc.kill()
                _, err = proc.communicate()
                pytest.fail(f"serve ended before printing its variables: {err[-1500:]}")
            if not line.startswith("#"):
                key, _, value = line.strip().partition("=")
                printed[key] = value
    finally:
        timer.cancel()
    return proc, printed


@pytest.mark.parametrize("name", NAMES)
def test_serve_app_container_acts_as_the_destination(
    name: str,
    ecs_xrole_env: LocalStack,
    task_env: dict[str, str],
    tmp_path: Path,
    budget: Budget,
) -> None:
    client = require(name)
    proc, printed = serve(ecs_xrole_env, task_env, tmp_path, budget)
    try:
        assert printed[TOKEN] == Path(printed[TOKEN_FILE]).read_text()
        base = dict(task_env)
        base.pop(TOKEN, None)  # the ECS agent's (the stand-in's): not the sidecar's
        command = client.whoami(ecs_xrole_env.aws.endpoint_url)
        # 1. The printed variables as they are (an env file, docker run --env-file).
        as_printed = budget.run(command, client.environ({**base, **printed}))
        assert_destination(identity(as_printed, client), client)
        # 2. The documented task definition: the app container names the URL and the
        # token file; its entry point unsets the relative URI that ECS sets and reads the
        # token from the file.
        app = {
            **base,
            RELATIVE_URI: "/v2/credentials/the-task-roles-id",
            FULL_URI: printed[FULL_URI],
            TOKEN_FILE: printed[TOKEN_FILE],
        }
        documented = budget.run(app_entrypoint() + command, client.environ(app))
        assert_destination(identity(documented, client), client)
    finally:
        proc.terminate()
        proc.communicate(timeout=budget.left())


# -- credential_process: a refused role is an error, never the task role ------------------------


def refused_profile(stack: LocalStack) -> str:
    """Write a credential_process profile for a role that refuses the task role (the config
    file is the stack's own, fresh per test); return its name."""
    command = f"{sys.executable} -m ecs_xrole credential-process"
    command += f" --role-arn {stack.aws.untrusting_role_arn}"
    Path(stack.config_file).write_text(
        f"[profile refused]\ncredential_process = {command}\nregion = us-east-1\n"
    )
    return "refused"


STOPPING_CLIENTS = ["botocore", "aws-cli-v1", *(name for name in NAMES if name != "js-sdk-v3")]


@pytest.mark.parametrize("name", STOPPING_CLIENTS)
def test_a_failing_credential_process_is_final(
    name: str, ecs_xrole_env: LocalStack, task_env: dict[str, str], budget: Budget
) -> None:
    # The container endpoint (the task role) is reachable all along: a client that took the
    # process's failure as "try the next provider" would succeed as the task role.
    url = ecs_xrole_env.aws.endpoint_url
    client: Client | str
    if name == "botocore":
        client = name
        code = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
        command = [sys.executable, "-c", code]
    elif name == "aws-cli-v1":
        if not AWS_CLI_V1.exists():
            pytest.skip(f"aws-cli-v1: {AWS_CLI_V1} is not installed (the test group's awscli)")
        client = f"aws-cli-v1 ({AWS_CLI_V1})"
        command = [str(AWS_CLI_V1), "sts", "get-caller-identity", "--output", "json"]
    else:
        found = require(name)
        client, command = found, found.whoami(url)
    env = {**task_env, "AWS_PROFILE": refused_profile(ecs_xrole_env)}
    if isinstance(client, Client):
        env = client.environ(env)
    done = budget.run(command, env)
    assert done.returncode != 0, f"{client} went on as {done.stdout.strip()}"
    assert "assumed-role" not in done.stdout, client
    # The process's reason reaches the user (each of these shows its stderr).
    assert f"may not assume {ecs_xrole_env.aws.untrusting_role_arn}" in done.stderr, done.stderr


def test_the_javascript_sdk_falls_through_to_the_task_role(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], budget: Budget
) -> None:
    # What docs/how-to/credential-process.md and doctor's credential-process-fallback warn
    # about, measured: if this fails, the SDK changed, and both should say so.
    client = require("js-sdk-v3")
    env = client.environ({**task_env, "AWS_PROFILE": refused_profile(ecs_xrole_env)})
    seen = identity(budget.run(client.whoami(ecs_xrole_env.aws.endpoint_url), env), client)
    assert seen["Account"] == "111122223333", f"{client}: {seen}"  # the task's own account
    assert ":assumed-role/my-ECS-task-role/" in seen["Arn"], f"{client}: {seen}"
