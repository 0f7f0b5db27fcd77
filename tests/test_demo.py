"""``ecs-xrole demo``: the whole recipe on the stand-ins, run as a user runs it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest


def _ready() -> str | None:
    """Why the demo cannot run yet, or None."""
    if importlib.util.find_spec("moto") is None:
        return "moto (the local extra) is not installed"
    if importlib.util.find_spec("ecs_xrole.testing.stack") is None:
        return "ecs_xrole.testing.stack has not landed yet"
    return None


def _env() -> dict[str, str]:
    """The caller's environment without any AWS settings (the demo must bring its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_"))}


@pytest.mark.skipif(_ready() is not None, reason=str(_ready()))
def test_demo_passes_every_step() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ecs_xrole", "demo"],
        capture_output=True,
        text=True,
        timeout=9.5,
        env=_env(),
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # the three documents
    assert '"Action": "sts:AssumeRole"' in out
    assert '"AWS": "arn:aws:iam::111122223333:role/my-ECS-task-role"' in out
    assert '"taskRoleArn": "arn:aws:iam::111122223333:role/my-ECS-task-role"' in out
    # the config file as written
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
    for number in range(1, 7):
        assert f"PASS  {number}. " in out
        assert f"FAIL  {number}. " not in out
    assert "6 of 6 steps passed" in out


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
