"""``ecs-xrole demo``: the whole recipe on the stand-ins, run as a user runs it."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest


def _ready() -> str | None:
    """Why the demo cannot run yet, or None."""
    if importlib.util.find_spec("moto") is None:
        return "moto (the local extra) is not installed"
    if importlib.util.find_spec("ecs_xrole.testing._stack") is None:
        return "ecs_xrole.testing._stack has not landed yet"
    return None


def _env() -> dict[str, str]:
    """The caller's environment without any AWS settings (the demo must bring its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_"))}


def _env_without_aws_cli() -> dict[str, str]:
    """:func:`_env` with no ``aws`` program on PATH (the AWS CLI step has a test of its own:
    two CLI runs would not fit this test's time budget on a slow machine)."""
    env = _env()
    keep = [
        d for d in env.get("PATH", "").split(os.pathsep) if d and not shutil.which("aws", path=d)
    ]
    env["PATH"] = os.pathsep.join(keep)
    return env


@pytest.mark.skipif(_ready() is not None, reason=str(_ready()))
def test_demo_passes_every_step(ecs_xrole_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step of the demo, played in this process on the worker's stand-ins. (A fresh
    ``python -m ecs_xrole demo`` costs about 5 s of CPU, more than a machine running two
    suites gives one test within its 10 s bound. The demo's own stand-ins are what
    ``local_stack()`` starts, tested in test_testing_stack; the command's dispatch is
    ``test_demo_without_moto_says_how_to_install``.)"""
    from ecs_xrole.cli import demo

    monkeypatch.setenv("PATH", _env_without_aws_cli()["PATH"])
    buffer = io.StringIO()
    steps = demo.run_demo(out=buffer, stack=ecs_xrole_env)
    out = buffer.getvalue()
    assert all(step.ok for step in steps), out
    # the three documents
    assert '"Action": "sts:AssumeRole"' in out
    assert '"AWS": "arn:aws:iam::111122223333:role/my-ECS-task-role"' in out
    assert '"taskRoleArn": "arn:aws:iam::111122223333:role/my-ECS-task-role"' in out
    # the command, then the config file as written (no Python internals under the heading)
    assert (
        "$ ecs-xrole write-config --profile cross-account --role-arn "
        "arn:aws:iam::555566667777:role/destination-account-role\n    wrote profile cross-account"
    ) in out
    assert ">>> write_profiles" not in out
    assert "[profile cross-account]" in out
    assert "credential_source = EcsContainer" in out
    # whoami: both identities
    assert "arn:aws:sts::111122223333:assumed-role/my-ECS-task-role/" in out
    assert "arn:aws:sts::555566667777:assumed-role/destination-account-role/" in out
    # the destination account's cluster through get_session
    assert "arn:aws:ecs:us-east-1:555566667777:cluster/destination-cluster" in out
    # the untrusting role, explained
    assert "FAIL  assume-role" in out
    assert "TrustEcsTaskRole" in out
    assert "all checks passed" in out  # doctor on the profile
    assert "SKIP  3. aws cli: skipped: the aws command is not on PATH" in out
    for number in (1, 2, 4, 5, 6, 7):
        assert f"PASS  {number}. " in out
    assert "FAIL  " not in out.replace("FAIL  assume-role", "")
    assert "6 of 6 steps passed (1 skipped)" in out


@pytest.mark.skipif(_ready() is not None, reason=str(_ready()))
def test_the_aws_cli_step_shows_the_recipes_checks(ecs_xrole_env: Any) -> None:
    """With ``aws`` on PATH the demo runs the recipe's two AWS CLI commands with the profile
    and shows what they print."""
    if shutil.which("aws") is None:
        pytest.skip("the AWS CLI is not on PATH")
    from ecs_xrole.cli import demo

    out = io.StringIO()
    state = demo._Demo(ecs_xrole_env, out)
    assert demo.step_write_config(state).ok
    home = os.environ["HOME"]
    step = demo.step_aws_cli(state)
    text = out.getvalue()
    assert step.ok, text
    assert not step.skipped
    assert "$ aws sts get-caller-identity --profile cross-account\n" in text
    assert '"Account": "555566667777"' in text
    assert "$ aws ecs list-clusters --profile cross-account\n" in text
    assert "arn:aws:ecs:us-east-1:555566667777:cluster/destination-cluster" in text
    assert os.environ["HOME"] == home  # the CLI ran with a HOME of the demo's own
    cache = os.path.join(os.path.dirname(ecs_xrole_env.config_file), "home", ".aws", "cli")
    assert os.path.isdir(cache)


def test_demo_without_moto_says_how_to_install() -> None:
    # moto made unimportable in a child: find_spec sees None in sys.modules.
    code = (
        "import sys; sys.modules['moto'] = None\n"
        "from ecs_xrole.cli import main\n"
        "sys.exit(main(['demo']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=9,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 1
    assert "pip install 'ecs-xrole[local]'" in proc.stderr
    assert proc.stdout == ""


OLD_CLI = """\
#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
if [ "$1" = --version ]; then
    echo "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off"
    exit 0
fi
exit 255
"""


def _old_cli_step(state: Any) -> Any:
    from ecs_xrole.cli import demo

    assert demo.step_write_config(state).ok
    return demo.step_aws_cli(state)


@pytest.mark.skipif(_ready() is not None, reason=str(_ready()))
def test_an_aws_cli_that_ignores_aws_endpoint_url_is_skipped_before_any_request(
    ecs_xrole_env: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecs_xrole.cli import demo

    aws = tmp_path / "aws"
    aws.write_text(OLD_CLI)
    aws.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    out = io.StringIO()
    step = _old_cli_step(demo._Demo(ecs_xrole_env, out))
    assert step.skipped
    assert step.ok
    assert step.summary == (
        f"skipped: {aws} is aws-cli/2.9.19, which ignores AWS_ENDPOINT_URL (read since "
        "2.13.0) and would call the real AWS: put a newer AWS CLI first on PATH "
        "(python3 -m pip install awscli)"
    )
    assert (tmp_path / "calls").read_text() == "--version\n"  # nothing else was run


DEBIAN_CLI = "/usr/bin/aws"


@pytest.mark.skipif(_ready() is not None, reason=str(_ready()))
@pytest.mark.skipif(not os.path.exists(DEBIAN_CLI), reason=f"no {DEBIAN_CLI} (Debian's awscli)")
def test_debians_aws_cli_v2_first_on_path_is_skipped_or_used(
    ecs_xrole_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 12's AWS CLI v2 (2.9.19) first on PATH, as a user of the distribution has it:
    the demo says why it skips the step (or, with a release that reads AWS_ENDPOINT_URL,
    passes it) instead of failing it."""
    from ecs_xrole.cli import demo

    monkeypatch.setenv("PATH", f"{os.path.dirname(DEBIAN_CLI)}{os.pathsep}{os.environ['PATH']}")
    step = _old_cli_step(demo._Demo(ecs_xrole_env, io.StringIO()))
    assert step.ok, step.summary
    if step.skipped:
        assert "ignores AWS_ENDPOINT_URL" in step.summary
