"""End to end on the loopback stand-ins: profiles written by ``ecs-xrole write-config`` are used
by the real AWS CLI, and ``whoami`` / ``credential-process`` act through the real endpoint and
(fake) STS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("moto")
pytest.importorskip("ecs_xrole.testing._stack")
session_layer = pytest.importorskip("ecs_xrole._session")
if not all(hasattr(session_layer, name) for name in ("get_credentials", "credential_expiry")):
    pytest.skip("the sessions layer is not complete yet", allow_module_level=True)

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

BIN = Path(sys.executable).parent
AWS = BIN / "aws"
ECS_XROLE = BIN / "ecs-xrole"
DESTINATION_ACCOUNT = "555566667777"
TASK_ACCOUNT = "111122223333"

pytestmark = pytest.mark.slow


@pytest.fixture
def task_env(ecs_xrole_env: LocalStack, tmp_path: Path) -> dict[str, str]:
    """The environment of a process in the task, with a config file of this test's own."""
    env = dict(os.environ)
    env["AWS_CONFIG_FILE"] = str(tmp_path / "aws" / "config")
    # The AWS CLI caches assumed-role credentials in ~/.aws/cli/cache: keep them out of the
    # real home (and away from the next test, whose fake AWS would not know those keys).
    env["HOME"] = str(tmp_path / "home")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(argv: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, timeout=9
    )


def aws(env: dict[str, str], *args: str) -> dict[str, object]:
    if not AWS.exists():
        pytest.skip(f"the AWS CLI is not installed next to {sys.executable}")
    done = run([AWS, *args, "--output", "json"], env)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def write_config(env: dict[str, str], *args: str) -> None:
    done = run([ECS_XROLE, "write-config", *args], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote profile")


def test_aws_cli_uses_the_written_profile(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    write_config(task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn)
    identity = aws(task_env, "sts", "get-caller-identity", "--profile", "cross-account")
    assert identity["Account"] == DESTINATION_ACCOUNT
    assert ":assumed-role/destination-account-role/" in str(identity["Arn"])


def test_aws_cli_lists_the_destination_cluster(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    write_config(task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn)
    clusters = aws(task_env, "ecs", "list-clusters", "--profile", "cross-account")
    arns = [str(arn) for arn in clusters["clusterArns"]]  # type: ignore[attr-defined]
    assert any(arn.endswith(":cluster/destination-cluster") for arn in arns), arns
    assert all(f":{DESTINATION_ACCOUNT}:" in arn for arn in arns)


def test_aws_cli_uses_a_credential_process_profile(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    write_config(
        task_env,
        "--profile",
        "via-process",
        "--role-arn",
        ecs_xrole_env.aws.destination_role_arn,
        "--credential-process",
    )
    text = Path(task_env["AWS_CONFIG_FILE"]).read_text()
    assert f"credential_process = {ECS_XROLE} credential-process --role-arn " in text
    assert "credential_source" not in text
    identity = aws(task_env, "sts", "get-caller-identity", "--profile", "via-process")
    assert identity["Account"] == DESTINATION_ACCOUNT
    assert ":assumed-role/destination-account-role/" in str(identity["Arn"])


def test_aws_cli_lists_clusters_through_credential_process(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    write_config(
        task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn, "--credential-process"
    )
    clusters = aws(task_env, "ecs", "list-clusters", "--profile", "cross-account")
    assert any(
        str(arn).endswith(":cluster/destination-cluster")
        for arn in clusters["clusterArns"]  # type: ignore[attr-defined]
    )


def test_aws_cli_with_external_id_profile(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    from ecs_xrole.testing.aws import EXTERNAL_ID

    write_config(
        task_env,
        "--profile",
        "ext",
        "--role-arn",
        ecs_xrole_env.aws.external_id_role_arn,
        "--external-id",
        EXTERNAL_ID,
        "--role-session-name",
        "e2e-check",
    )
    identity = aws(task_env, "sts", "get-caller-identity", "--profile", "ext")
    assert identity["Account"] == DESTINATION_ACCOUNT
    assert str(identity["Arn"]).endswith("/e2e-check")


def test_credential_process_prints_the_documented_json(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    done = run(
        [
            ECS_XROLE,
            "credential-process",
            "--role-arn",
            ecs_xrole_env.aws.destination_role_arn,
            "--duration-seconds",
            "900",
        ],
        task_env,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    }
    assert document["Version"] == 1
    assert document["Expiration"].endswith("Z")
    expires = datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    now = datetime.now(timezone.utc)
    assert now < expires <= now + timedelta(seconds=900 + 60)
    # The secrets go to stdout only, never into the log.
    assert document["SecretAccessKey"] not in done.stderr
    assert document["SessionToken"] not in done.stderr


def test_credential_process_denied_fails_without_json(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    done = run(
        [ECS_XROLE, "credential-process", "--role-arn", ecs_xrole_env.aws.untrusting_role_arn],
        task_env,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("ecs-xrole: error: ")
    assert "untrusting-role" in done.stderr


def test_whoami_shows_both_identities(ecs_xrole_env: LocalStack, task_env: dict[str, str]) -> None:
    write_config(task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn)
    done = run([ECS_XROLE, "whoami", "--profile", "cross-account", "--json"], task_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["task_role"]["account"] == TASK_ACCOUNT
    assert report["destination"]["account"] == DESTINATION_ACCOUNT
    assert set(report["destination"]) == {"account", "arn", "user_id"}
    assert report["profile"] == "cross-account"
    assert report["role_arn"] == ecs_xrole_env.aws.destination_role_arn
    assert report["error"] is None

    text = run(
        [ECS_XROLE, "whoami", "--role-arn", ecs_xrole_env.aws.destination_role_arn], task_env
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("task role:")
    assert f"(account {TASK_ACCOUNT})" in lines[0]
    assert lines[1].startswith("destination:")
    assert f"(account {DESTINATION_ACCOUNT})" in lines[1]


def test_whoami_denied_prints_the_policies(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    role = ecs_xrole_env.aws.untrusting_role_arn
    done = run([ECS_XROLE, "whoami", "--role-arn", role, "--json"], task_env)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["task_role"]["account"] == TASK_ACCOUNT
    assert report["destination"] is None
    assert report["error"]["stage"] == "destination"
    assert report["error"]["identity_policy"]["Statement"][0]["Resource"] == role
    trust = report["error"]["trust_policy"]["Statement"][0]
    assert trust["Principal"]["AWS"] == ecs_xrole_env.aws.task_role_arn

    text = run([ECS_XROLE, "whoami", "--role-arn", role], task_env)
    assert text.returncode == 1
    assert "task role:" in text.stdout
    assert f"cannot act as role {role}" in text.stderr
    # A statement to add, never a document that would replace the trust policy.
    assert "add this statement to the destination role's trust policy" in text.stderr
    assert "make this" not in text.stderr
    statement = json.loads(text.stderr.split("keep its other statements):\n", 1)[1])
    assert statement == trust


def test_session_name_defaults_to_the_task_id_and_reaches_sts(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    """CloudTrail sees which task acted: the profile carries the task ID from the metadata
    endpoint, and the AWS CLI's AssumeRole uses it (the session ARN ends with it)."""
    from ecs_xrole.testing.aws import TASK_ID

    write_config(task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn)
    config = Path(task_env["AWS_CONFIG_FILE"]).read_text()
    assert f"role_session_name = {TASK_ID}\n" in config
    identity = aws(task_env, "sts", "get-caller-identity", "--profile", "cross-account")
    assert str(identity["Arn"]).endswith(f":assumed-role/destination-account-role/{TASK_ID}")


def test_role_session_name_option_reaches_sts(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    write_config(
        task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn,
        "--role-session-name", "nightly-report",
    )  # fmt: skip
    identity = aws(task_env, "sts", "get-caller-identity", "--profile", "cross-account")
    assert str(identity["Arn"]).endswith(":assumed-role/destination-account-role/nightly-report")


def test_no_session_name_when_the_metadata_endpoint_is_silent(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    # The endpoint's task metadata answers 404: nothing to name the session after.
    ecs_xrole_env.endpoint.metadata_answer = 404
    write_config(task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn)
    assert "role_session_name" not in Path(task_env["AWS_CONFIG_FILE"]).read_text()
    identity = aws(task_env, "sts", "get-caller-identity", "--profile", "cross-account")
    assert identity["Account"] == DESTINATION_ACCOUNT


def test_credential_process_profiles_get_no_fixed_session_name(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    # The command such a profile runs names the session after the task itself, at each call.
    write_config(
        task_env, "--role-arn", ecs_xrole_env.aws.destination_role_arn, "--credential-process"
    )
    assert "--role-session-name" not in Path(task_env["AWS_CONFIG_FILE"]).read_text()
