"""doctor and whoami judge a profile as the AWS CLI does.

For each profile below, the real AWS CLI (``aws sts get-caller-identity --profile X``, as a
subprocess) runs against the loopback stand-ins, and so do ``doctor --profile X`` and
``whoami --profile X``: their verdicts (exit 0 or not) must match the AWS CLI's, and a refusal
must carry the AWS CLI's reason and a fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
pytest.importorskip("ecs_xrole.testing._stack")

from ecs_xrole import cli

BIN = Path(sys.executable).parent
AWS = BIN / "aws"
ECS_XROLE = BIN / "ecs-xrole"
DEST = "555566667777"
SOURCE = "111122223333"

pytestmark = pytest.mark.slow


def config_text(dest: str, untrusting: str) -> str:
    return f"""\
[profile ecs]
role_arn = {dest}
credential_source = EcsContainer

[profile sp]
role_arn = {dest}
source_profile = default

[profile both]
role_arn = {dest}
source_profile = dev
credential_source = EcsContainer

[profile neither]
role_arn = {dest}

[profile loop-a]
role_arn = {dest}
source_profile = loop-b

[profile loop-b]
role_arn = {dest}
source_profile = loop-a

[profile via-dev]
role_arn = {dest}
source_profile = dev

[profile src-empty]
role_arn = {dest}
source_profile = empty

[profile empty]
output = json

[profile imds]
role_arn = {dest}
credential_source = Ec2InstanceMetadata

[profile environment]
role_arn = {dest}
credential_source = Environment

[profile wrong-case]
role_arn = {dest}
credential_source = ecscontainer

[profile untrusting]
role_arn = {untrusting}
credential_source = EcsContainer

[profile process-fails]
credential_process = {sys.executable} -c "import sys; sys.exit('no credentials here')"

[profile process-ok]
credential_process = {ECS_XROLE} credential-process --role-arn {dest}

[profile dev]
region = us-east-1
"""


@pytest.fixture
def judged(
    ecs_xrole_env: Any,
    source_account_keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The task's stand-ins, plus a config with every case and a credentials file whose
    profile ``dev`` holds static keys of the source account."""
    aws = ecs_xrole_env.aws
    config = tmp_path / "config"
    config.write_text(config_text(aws.destination_role_arn, aws.untrusting_role_arn))
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[dev]\naws_access_key_id = {source_account_keys[0]}\n"
        f"aws_secret_access_key = {source_account_keys[1]}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the AWS CLI's cache goes there
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return ecs_xrole_env


def start_aws_cli(profile: str) -> subprocess.Popen[str]:
    """Start ``aws sts get-caller-identity --profile PROFILE`` (it runs while doctor does)."""
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed next to this Python")
    return subprocess.Popen(
        [str(AWS), "sts", "get-caller-identity", "--profile", profile, "--output", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=9)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def aws_cli(profile: str) -> subprocess.CompletedProcess[str]:
    return finish(start_aws_cli(profile))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# (profile, the account the AWS CLI's identity is in or None when it fails, words of the AWS
# CLI's reason that doctor and whoami must show)
CASES = [
    ("ecs", DEST, ""),
    ("via-dev", DEST, ""),
    ("process-ok", DEST, ""),
    ("dev", SOURCE, ""),  # static keys, no role: the AWS CLI can use it
    ("sp", None, 'The source_profile "default" referenced in the profile "sp" does not exist'),
    ("both", None, "contains both source_profile and credential_source"),
    ("neither", None, "missing: source_profile or credential_source"),
    ("loop-a", None, "Infinite loop in credential configuration"),
    ("src-empty", None, 'The source profile "empty" must have credentials'),
    ("imds", None, "Error when retrieving credentials from Ec2InstanceMetadata"),
    ("environment", None, "Error when retrieving credentials from Environment"),
    ("wrong-case", None, "ecscontainer"),
    ("untrusting", None, "AccessDenied"),
    ("process-fails", None, "custom-process"),
]
IDS = [case[0] for case in CASES]
# An ecs-xrole credential_process costs a Python start per run: the AWS CLI's run of it is
# checked in test_write_config_cli.py and doctor's in test_doctor.py; here whoami's only.
CLI_CASES = [case for case in CASES if case[0] != "process-ok"]


@pytest.mark.parametrize(("profile", "account", "reason"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_doctor_agrees_with_the_aws_cli(
    judged: Any, capsys: pytest.CaptureFixture[str], profile: str, account: str, reason: str
) -> None:
    started = start_aws_cli(profile)
    code, out, err = run(capsys, "doctor", "--timeout", "2", "--profile", profile)
    done = finish(started)
    assert (done.returncode == 0) is (account is not None), done.stdout + done.stderr
    assert (code == 0) is (account is not None), out + err
    verdict = next(t for t in out.splitlines() if " profile-credentials " in t)
    if account is None:
        assert reason in out, out
        assert "fix:" in out
        assert verdict.split()[0] == "FAIL"
    else:
        assert "all checks passed" in out
        arn = json.loads(done.stdout)["Arn"]
        assert json.loads(done.stdout)["Account"] == account
        # The same identity, up to the session name (botocore picks one per process).
        assert arn.rsplit("/", 1)[0] in verdict, verdict


@pytest.mark.parametrize(("profile", "account", "reason"), CASES, ids=IDS)
def test_whoami_agrees_with_the_aws_cli(
    judged: Any, capsys: pytest.CaptureFixture[str], profile: str, account: str, reason: str
) -> None:
    """The expected verdicts are the AWS CLI's (test_doctor_agrees_with_the_aws_cli checks
    the table against it)."""
    code, out, err = run(capsys, "whoami", "--profile", profile, "--json")
    assert (code == 0) is (account is not None), out + err
    report = json.loads(out)
    if account is not None:
        assert report["destination"]["account"] == account
        assert report["error"] is None
    else:
        assert report["destination"] is None
        assert reason in report["error"]["message"]


def test_a_missing_source_profile_fails_doctor_with_the_cli_reason_and_the_fix(
    judged: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "doctor", "--timeout", "2", "--profile", "sp")
    assert code == 1
    lines = out.splitlines()
    verdict = next(t for t in lines if " profile-credentials " in t)
    assert verdict.split()[0] == "FAIL"
    assert "the AWS CLI cannot use profile 'sp'" in out
    assert "credential_source = EcsContainer" in out  # the fix names the ECS way
    code, out, err = run(capsys, "whoami", "--profile", "sp")
    assert code == 1
    assert "does not exist" in err
    assert "fix:" in err.lower()


def test_environment_source_passes_when_the_environment_has_keys(
    judged: Any,
    source_account_keys: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", source_account_keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", source_account_keys[1])
    started = start_aws_cli("environment")
    code, out, err = run(capsys, "doctor", "--timeout", "2", "--profile", "environment")
    assert finish(started).returncode == 0
    assert code == 0, out + err
    assert "credential_source = Environment" in out
    assert "not the task role" in out


def test_whoami_reports_what_the_aws_cli_uses(
    judged: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile with source_profile: the source is that profile's identity, not the task
    role, and the destination is the same identity the AWS CLI gets."""
    code, out, _ = run(capsys, "whoami", "--profile", "via-dev", "--json")
    assert code == 0
    report = json.loads(out)
    assert ":user/developer-" in report["task_role"]["arn"]
    assert report["destination"]["account"] == DEST  # as the AWS CLI's (see CASES)
    assert report["source"].endswith("source_profile = dev -> access keys of profile dev")
    code, out, _ = run(capsys, "whoami", "--profile", "via-dev")
    assert out.splitlines()[0].startswith("source:")


def test_doctor_untrusting_profile_explains_the_denial(
    judged: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "doctor", "--timeout", "2", "--profile", "untrusting")
    assert code == 1
    block = out.split(" profile-credentials ", 1)[1]
    assert "AccessDenied" in block
    assert "sts:ExternalId" in block
    assert "check the ARN" in block


def test_with_the_opt_in_doctor_checks_the_source_profile_not_the_endpoint(
    judged: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    role = judged.aws.destination_role_arn
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")  # a laptop: no endpoint
    code, out, err = run(
        capsys, "doctor", "--timeout", "2", "--source-profile", "dev", "--role-arn", role
    )
    assert code == 0, out + err
    for name in ("endpoint-variables", "endpoint-reachable", "token"):
        line = next(t for t in out.splitlines() if f" {name} " in t)
        assert line.split()[0] == "SKIP"
        assert "not used" in line
    assert "from profile dev (--source-profile" in out
    assert f"(account {DEST})" in next(t for t in out.splitlines() if " destination-identity " in t)
    # Without the opt-in the same laptop fails, and the error names the opt-in.
    code, out, _ = run(capsys, "doctor", "--timeout", "2", "--role-arn", role)
    assert code == 1
    assert "ECS_XROLE_SOURCE_PROFILE" in out
