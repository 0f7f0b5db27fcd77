"""``ecs-xrole doctor`` against the loopback stand-ins, in each failure mode it names.

Each test runs the real command in-process (``cli.main``) with a task's environment applied:
the endpoint server, the token and moto with its two accounts, over real HTTP on loopback.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ecs_xrole import cli
from ecs_xrole.cli.doctor import CHECKS, format_results, run_checks
from ecs_xrole.cli.doctor.context import CheckResult

SOURCE = "111122223333"
DEST = "555566667777"
TASK_ROLE = f"arn:aws:iam::{SOURCE}:role/my-ECS-task-role"
ROLE = f"arn:aws:iam::{DEST}:role/destination-account-role"
UNTRUSTING = f"arn:aws:iam::{DEST}:role/untrusting-role"
EXTERNAL_ID_ROLE = f"arn:aws:iam::{DEST}:role/external-id-role"
NAMES = [name for name, _, _ in CHECKS]
#: The checks that judge a profile (--profile) only: skipped with --role-arn.
PROFILE_ONLY = ("profile-credentials", "credential-process-fallback")
ENDPOINT_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ecs-xrole doctor <argv>``; return (exit code, stdout, stderr)."""
    try:
        code = cli.main(["doctor", "--timeout", "2", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def line(out: str, name: str) -> str:
    """The result line of check ``name``, with the fix lines indented under it."""
    lines = out.splitlines()
    for i, text in enumerate(lines):
        words = text.split()
        if len(words) >= 2 and words[1] == name:
            block = [text]
            for more in lines[i + 1 :]:
                if not more.startswith(" "):
                    break
                block.append(more)
            return "\n".join(block)
    raise AssertionError(f"no line for {name!r} in:\n{out}")


def status(out: str, name: str) -> str:
    return line(out, name).split()[0]


@pytest.fixture
def env(request: pytest.FixtureRequest) -> Any:
    """The task's environment (endpoint, token, fake AWS) applied to os.environ."""
    pytest.importorskip("moto")
    pytest.importorskip("ecs_xrole.testing._stack")
    return request.getfixturevalue("ecs_xrole_env")


# --- all pass ---------------------------------------------------------------------------------


def test_all_checks_pass_with_a_role_arn(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = doctor(capsys, "--role-arn", ROLE)
    assert code == 0, out + err
    for name in NAMES:
        if name not in PROFILE_ONLY:
            assert status(out, name) == "PASS", line(out, name)
    assert status(out, "profile-credentials") == "SKIP"
    assert status(out, "credential-process-fallback") == "SKIP"
    assert "assumed-role/my-ECS-task-role/" in line(out, "task-role-identity")
    assert f"account {SOURCE}" in line(out, "task-role-identity")
    assert f"account {DEST}" in line(out, "destination-identity")
    assert "all checks passed" in out


def test_all_checks_pass_with_a_profile_written_by_the_config_library(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    write_profiles([Profile("cross-account", ROLE)])
    code, out, err = doctor(capsys, "--profile", "cross-account")
    assert code == 0, out + err
    assert "credential_source = EcsContainer" in line(out, "profile")
    assert ROLE in line(out, "profile")
    assert status(out, "destination-identity") == "PASS"
    assert status(out, "profile-credentials") == "PASS"
    assert f"(account {DEST}) for --profile cross-account" in line(out, "profile-credentials")


def test_credential_process_profile(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    write_profiles(
        [Profile("cp", EXTERNAL_ID_ROLE, external_id="ecs-xrole-demo-id", credential_process=True)]
    )
    code, out, err = doctor(capsys, "--profile", "cp")
    assert code == 0, out + err
    assert "credential_process = " in line(out, "profile")
    assert EXTERNAL_ID_ROLE in line(out, "profile")
    assert "external-id-role" in line(out, "destination-identity")
    # The task role's endpoint is in the environment: an SDK that goes on after a failing
    # process (the JavaScript SDK v3) would act as the task role. A warning, not a failure.
    warned = line(out, "credential-process-fallback")
    assert status(out, "credential-process-fallback") == "WARN"
    assert f"acts as the task role {TASK_ROLE}" in warned
    assert "JavaScript" in warned
    assert "fix:" in warned
    assert "without --credential-process" in warned
    assert out.splitlines()[-1] == "all checks passed, 1 warning(s)"


def test_credential_process_fallback_in_json(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    write_profiles([Profile("cp", ROLE, credential_process=True)])
    code, out, _ = doctor(capsys, "--profile", "cp", "--json")
    assert code == 0
    result = {r["check"]: r for r in json.loads(out)}["credential-process-fallback"]
    assert result["ok"] is True
    assert result["fix"] is None  # fix stays for failures
    assert "ecs-xrole exec" in result["warning"]


def test_credential_process_fallback_without_endpoint_variables(
    env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    write_profiles([Profile("cp", ROLE, credential_process=True)])
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _, out, _ = doctor(capsys, "--profile", "cp")
    assert status(out, "credential-process-fallback") == "PASS"
    assert "no container endpoint variable" in line(out, "credential-process-fallback")


def test_credential_process_fallback_skips_other_profiles(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    write_profiles([Profile("plain", ROLE)])  # credential_source = EcsContainer
    code, out, _ = doctor(capsys, "--profile", "plain")
    assert code == 0
    assert status(out, "credential-process-fallback") == "SKIP"
    assert out.splitlines()[-1] == "all checks passed"


@pytest.mark.slow
def test_credential_process_fallback_under_exec_is_the_same_role(env: Any, tmp_path: Path) -> None:
    # Under exec the container endpoint serves the destination role itself: a fall-through
    # gets the same role, so no warning.
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    write_profiles([Profile("cp", ROLE, credential_process=True)])
    argv = [sys.executable, "-m", "ecs_xrole", "exec", "--role-arn", ROLE, "--"]
    argv += [sys.executable, "-m", "ecs_xrole", "doctor", "--timeout", "2", "--profile", "cp"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=8, check=False)
    verdict = line(done.stdout, "credential-process-fallback")
    assert verdict.split()[0] == "PASS", done.stdout + done.stderr
    assert f"serves {ROLE}, the profile's own role" in verdict


def test_profile_from_another_config_file(
    env: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile

    path = str(tmp_path / "elsewhere")
    write_profiles([Profile("elsewhere", ROLE, duration_seconds=900)], path=path)
    code, out, _ = doctor(capsys, "--profile", "elsewhere")
    assert code == 1  # not in AWS_CONFIG_FILE
    assert "ecs-xrole write-config --profile elsewhere" in line(out, "profile")
    code, out, err = doctor(capsys, "--profile", "elsewhere", "--config-file", path)
    assert code == 0, out + err
    assert path in line(out, "profile")
    assert "900 s" in line(out, "duration")
    assert "from profile elsewhere" not in line(out, "duration")


def test_json_shape(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--role-arn", ROLE, "--json")
    assert code == 0
    results = json.loads(out)
    assert [r["check"] for r in results] == NAMES
    for result in results:
        assert set(result) == {"check", "ok", "detail", "fix", "warning"}
        # the profile-only checks are skipped here
        assert result["ok"] is (None if result["check"] in PROFILE_ONLY else True)
        assert result["fix"] is None
        assert result["warning"] is None
        assert isinstance(result["detail"], str)


def test_no_secret_reaches_the_output(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from ecs_xrole._fetch import fetch_credentials

    served = fetch_credentials()
    code, out, err = doctor(capsys, "--role-arn", ROLE)
    assert code == 0
    for secret in (served.secret_access_key, served.session_token, served.access_key_id):
        assert secret
        assert secret not in out + err


def test_without_a_role_only_the_task_role_is_checked(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = doctor(capsys)
    assert code == 0
    assert status(out, "task-role-identity") == "PASS"
    assert status(out, "assume-role") == "SKIP"
    assert "--role-arn" in line(out, "assume-role")


# --- failure modes ----------------------------------------------------------------------------


def test_no_endpoint_variable(
    env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    code, out, _ = doctor(capsys, "--role-arn", ROLE)
    assert code == 1
    failing = line(out, "endpoint-variables")
    assert failing.startswith("FAIL")
    assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" in failing
    assert "fix:" in failing
    assert "sudo -E" in failing
    for name in ("endpoint-reachable", "token", "task-role-credentials", "assume-role"):
        assert status(out, name) == "SKIP"
    # checks that do not need the endpoint still ran
    assert status(out, "region") == "PASS"
    assert "1 check(s) failed" in out


def test_disallowed_host(
    env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.169.254/latest/x")
    code, out, _ = doctor(capsys, "--role-arn", ROLE)
    assert code == 1
    failing = line(out, "endpoint-variables")
    assert failing.startswith("FAIL")
    assert "169.254.169.254" in failing
    assert "not allowed" in failing
    assert "fix:" in failing
    assert "169.254.170.2" in failing
    assert status(out, "endpoint-reachable") == "SKIP"


def test_endpoint_down(
    env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{port}/creds")
    code, out, _ = doctor(capsys, "--role-arn", ROLE)
    assert code == 1
    failing = line(out, "endpoint-reachable")
    assert failing.startswith("FAIL")
    assert f"127.0.0.1:{port}" in failing
    assert "did not answer: cannot connect (Connection refused)" in failing
    assert "Connection(" not in failing  # urllib3's internal names stay out
    assert "fix:" in failing
    assert status(out, "task-role-credentials") == "SKIP"
    assert status(out, "destination-identity") == "SKIP"


def test_wrong_token(
    env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    wrong = "not-the-token-the-agent-gave-0123456789"
    if "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" in env.environ:
        token_file = tmp_path / "token"
        token_file.write_text(wrong)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    else:
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", wrong)
    code, out, err = doctor(capsys, "--role-arn", ROLE)
    assert code == 1
    failing = line(out, "token")
    assert failing.startswith("FAIL")
    assert "refused the token" in failing
    assert "HTTP 401" in failing
    assert "fix:" in failing
    assert status(out, "endpoint-reachable") == "PASS"  # it answered, with 401
    assert status(out, "task-role-credentials") == "SKIP"
    assert wrong not in out + err


def _assert_statements(failing: str, role: str) -> None:
    """The fix names both statements, built from the real task role and destination role."""
    statements = [
        json.loads(text.strip()) for text in failing.splitlines() if text.strip().startswith("{")
    ]
    assert len(statements) == 2
    identity, trust = statements
    assert identity == {
        "Sid": "AssumeCrossAccountRole",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": role,
    }
    assert trust["Principal"] == {"AWS": TASK_ROLE}
    assert trust["Action"] == "sts:AssumeRole"


def test_untrusting_role(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--role-arn", UNTRUSTING)
    assert code == 1
    failing = line(out, "assume-role")
    assert failing.startswith("FAIL")
    assert "AccessDenied" in failing
    assert f"trust policy of untrusting-role (account {DEST})" in failing
    _assert_statements(failing, UNTRUSTING)
    assert status(out, "task-role-identity") == "PASS"
    assert status(out, "destination-identity") == "SKIP"


def test_identity_policy_missing(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.aws.remove_identity_policy()
    code, out, _ = doctor(capsys, "--role-arn", ROLE)
    assert code == 1
    failing = line(out, "assume-role")
    assert failing.startswith("FAIL")
    assert "AccessDenied" in failing
    assert f"identity policy of the task role my-ECS-task-role (account {SOURCE})" in failing
    _assert_statements(failing, ROLE)


def test_duration_option_over_an_hour_is_bad_input(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bad option exits 2, as in every other command, before any check runs.
    code, out, err = doctor(capsys, "--role-arn", ROLE, "--duration-seconds", "7200")
    assert code == 2
    assert out == ""
    assert "--duration-seconds '7200' is not valid" in err
    assert "role chaining" in err
    assert "Fix: pass 3600 or less" in err


def test_duration_in_the_profile_over_an_hour(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # In the profile it is a finding: the duration check fails, the run exits 1.
    with open(os.environ["AWS_CONFIG_FILE"], "w", encoding="utf-8") as handle:
        handle.write(
            f"[profile long]\nrole_arn = {ROLE}\ncredential_source = EcsContainer\n"
            "duration_seconds = 7200\n"
        )
    code, out, _ = doctor(capsys, "--profile", "long")
    assert code == 1
    failing = line(out, "duration")
    assert failing.startswith("FAIL")
    assert "7200" in failing
    assert "1 hour" in failing
    assert "role chaining" in failing
    assert "fix: pass 3600 or less" in failing
    assert status(out, "assume-role") == "SKIP"
    assert status(out, "task-role-identity") == "PASS"


def test_duration_within_the_limit_is_used(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--role-arn", ROLE, "--duration-seconds", "900")
    assert code == 0
    assert "900 s" in line(out, "duration")
    assert re.search(r"expire in 1[45] min", line(out, "assume-role"))  # not an hour


def test_external_id(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--role-arn", EXTERNAL_ID_ROLE)
    assert code == 1
    assert "sts:ExternalId" in line(out, "assume-role")
    code, out, _ = doctor(
        capsys, "--role-arn", EXTERNAL_ID_ROLE, "--external-id", "ecs-xrole-demo-id"
    )
    assert code == 0, out


def test_missing_profile(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--profile", "nowhere")
    assert code == 1
    failing = line(out, "profile")
    assert failing.startswith("FAIL")
    assert "nowhere" in failing
    assert "ecs-xrole write-config --profile nowhere" in failing
    assert status(out, "assume-role") == "SKIP"


def test_profile_with_wrongly_cased_credential_source(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_xrole._config.safe_io import config_path

    with open(config_path(), "a", encoding="utf-8") as handle:
        handle.write(f"\n[profile lower]\nrole_arn = {ROLE}\ncredential_source = ecscontainer\n")
    code, out, _ = doctor(capsys, "--profile", "lower")
    assert code == 1
    failing = line(out, "profile")
    assert "case-sensitively" in failing


def test_profile_with_an_inline_comment(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from ecs_xrole._config.safe_io import config_path

    with open(config_path(), "a", encoding="utf-8") as handle:
        handle.write(
            f"\n[profile commented]\nrole_arn = {ROLE} # prod\ncredential_source = EcsContainer\n"
        )
    code, out, _ = doctor(capsys, "--profile", "commented")
    assert code == 1
    assert "inline comments" in line(out, "profile")


def test_json_on_failure_marks_skips_as_null(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--role-arn", UNTRUSTING, "--json")
    assert code == 1
    results = {r["check"]: r for r in json.loads(out)}
    assert results["assume-role"]["ok"] is False
    assert "TrustEcsTaskRole" in results["assume-role"]["fix"]
    assert results["destination-identity"]["ok"] is None
    assert results["destination-identity"]["fix"] is None


def test_run_checks_is_usable_from_python(env: Any) -> None:
    results = run_checks(role_arn=ROLE, timeout=2)
    assert [r.name for r in results] == NAMES
    assert all(r.ok for r in results if r.name not in PROFILE_ONLY)


# --- no stand-ins needed ----------------------------------------------------------------------


def test_bad_role_arn_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = doctor(capsys, "--role-arn", "arn:aws:iam::5555:role/x")
    assert code == 2
    assert out == ""
    assert "--role-arn" in err


def test_bad_timeout_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = doctor(capsys, "--timeout", "0")
    assert code == 2
    assert "--timeout" in err


def test_profile_and_role_arn_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = doctor(capsys, "--profile", "p", "--role-arn", ROLE)
    assert code == 2
    assert "not allowed with" in err


def test_check_result_is_frozen_and_formats() -> None:
    results = [
        CheckResult("first", True, "fine"),
        CheckResult("second", False, "broken", "do this\nthen that"),
        CheckResult("third", None, "skipped: needs second to pass first"),
    ]
    with pytest.raises(AttributeError):
        results[0].ok = False  # type: ignore[misc]
    text = format_results(results).splitlines()
    assert text[0].split() == ["PASS", "first", "fine"]
    assert text[1].split() == ["FAIL", "second", "broken"]
    assert text[2].split() == ["fix:", "do", "this"]
    assert text[3].split() == ["then", "that"]
    assert text[4].startswith("SKIP  third")
    assert text[-1] == "1 check(s) failed"
    assert results[2].as_dict() == {
        "check": "third",
        "ok": None,
        "detail": "skipped: needs second to pass first",
        "fix": None,
        "warning": None,
    }
    warned = [CheckResult("risky", True, "works, but", warning="do this"), results[0]]
    text = format_results(warned).splitlines()
    assert text[0].split() == ["WARN", "risky", "works,", "but"]
    assert text[1].split() == ["fix:", "do", "this"]
    assert text[-1] == "all checks passed, 1 warning(s)"
    assert warned[0].status == "warn"
    assert warned[0].as_dict()["warning"] == "do this"


@pytest.mark.parametrize(
    ("skew", "ok", "said"),
    [
        (0.4, True, "0 s ahead of STS"),
        (-45, True, "worth synchronising"),
        (400, False, "400 s ahead of STS"),
        (-400, False, "400 s behind STS"),
    ],
)
def test_clock_skew_is_judged_against_the_sigv4_window(skew: float, ok: bool, said: str) -> None:
    from datetime import datetime, timedelta, timezone

    from ecs_xrole.cli.doctor.context import DoctorContext
    from ecs_xrole.cli.doctor.role import check_clock_skew

    now = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    ctx = DoctorContext(sts_date=now, sts_local_time=now + timedelta(seconds=skew))
    result = check_clock_skew(ctx)
    assert result.ok is ok
    assert said in result.detail
    assert (result.fix is not None) is (not ok)
    if not ok:
        assert "5 minutes" in (result.fix or "")


def test_clock_skew_without_a_date_header_is_skipped() -> None:
    from ecs_xrole.cli.doctor.context import DoctorContext
    from ecs_xrole.cli.doctor.role import check_clock_skew

    result = check_clock_skew(DoctorContext())
    assert result.ok is None
    assert "Date header" in result.detail


def test_sts_throttling_gets_a_fix_of_its_own() -> None:
    from botocore.exceptions import ClientError

    from ecs_xrole.cli.doctor.endpoint import _sts_problem

    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "X")
    detail, fix = _sts_problem(throttled)
    assert detail == "STS answered Throttling: Rate exceeded"
    assert fix.startswith("STS is throttling this account's calls: run doctor again")
    other = ClientError({"Error": {"Code": "InvalidParameterValue", "Message": "bad"}}, "X")
    assert _sts_problem(other) == (
        "STS answered InvalidParameterValue: bad",
        "act on STS's message (InvalidParameterValue)",
    )
