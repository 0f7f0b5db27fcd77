"""``python -m ecs_xrole.testing serve``: a real process, a real bash sourcing its env file, the
real AWS CLI, and a real signal to stop it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecs_xrole.testing._serve import export_lines

pytest.importorskip("moto")

BIN = Path(sys.executable).parent
AWS = BIN / "aws"
DEST = "arn:aws:iam::555566667777:role/destination-account-role"


class Served:
    def __init__(self, proc: subprocess.Popen[str], env_file: Path, text: str) -> None:
        self.proc = proc
        self.env_file = env_file
        self.text = text

    def exports(self) -> dict[str, str]:
        found = {}
        for line in self.text.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                found[name] = shlex.split(value)[0]
        return found

    def bash(self, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in a bash that has sourced the env file first."""
        return subprocess.run(
            ["bash", "-c", f". {shlex.quote(str(self.env_file))} && {script}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=8,
        )

    def stop(self, sig: int) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=5)
        return self.proc.returncode, err


def make_shell_env(base: Path) -> dict[str, str]:
    """The user's shell: a HOME of its own (to prove it stays untouched), the venv on PATH, and
    settings that serve's file must override (a profile that does not exist, static keys)."""
    home = base / "real-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_"))}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        AWS_PROFILE="my-real-profile",
        AWS_ACCESS_KEY_ID="AKIAREALKEYDONTUSE00",
        AWS_SECRET_ACCESS_KEY="real-secret-do-not-use",
    )
    return env


def start_serve(base: Path, env: dict[str, str]) -> Served:
    env_file = base / "stack.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecs_xrole.testing", "serve", "--env-file", str(env_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while True:  # the last line is the export of no_proxy
            line = proc.stdout.readline()
            assert line, f"serve ended early: {proc.wait(3)} {proc.stderr and proc.stderr.read()}"
            lines.append(line)
            if line.startswith("export no_proxy="):
                break
    except BaseException:
        proc.kill()
        proc.wait(5)
        raise
    text = "".join(lines)
    assert env_file.read_text() == text  # the file and stdout say the same
    return Served(proc, env_file, text)


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_shell_env(tmp_path_factory.mktemp("shell"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, shell_env: dict[str, str]) -> Iterator[Served]:
    """One serve for the tests that only use it (starting one costs a few seconds)."""
    running = start_serve(tmp_path_factory.mktemp("served"), shell_env)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(5)


def needs_aws_cli() -> None:
    if not AWS.exists():
        pytest.skip(f"the AWS CLI is not installed next to {sys.executable}")


def test_the_aws_cli_runs_as_the_task_role(served: Served, shell_env: dict[str, str]) -> None:
    needs_aws_cli()
    exports = served.exports()
    base = Path(exports["HOME"]).parent
    assert Path(exports["AWS_CONFIG_FILE"]).is_relative_to(base)
    assert Path(exports["AWS_SHARED_CREDENTIALS_FILE"]).is_relative_to(base)
    assert oct(served.env_file.stat().st_mode & 0o777) == "0o600"  # it holds the token

    done = served.bash("aws sts get-caller-identity --output json", shell_env)
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert identity["Account"] == "111122223333"
    assert ":assumed-role/my-ECS-task-role/" in identity["Arn"]
    assert not (Path(shell_env["HOME"]) / ".aws").exists()  # the real ~/.aws untouched


def test_the_recipe_with_a_profile(served: Served, shell_env: dict[str, str]) -> None:
    needs_aws_cli()
    done = served.bash(
        f"ecs-xrole write-config --role-arn {DEST} >/dev/null"
        " && aws sts get-caller-identity --profile cross-account --output json",
        shell_env,
    )
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert identity["Account"] == "555566667777"
    # The AWS CLI cached the assumed role's keys under serve's HOME, not the real one.
    cache = Path(served.exports()["HOME"]) / ".aws" / "cli" / "cache"
    assert list(cache.iterdir())
    assert not (Path(shell_env["HOME"]) / ".aws").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_it_and_removes_what_it_made(tmp_path: Path, sig: int) -> None:
    running = start_serve(tmp_path, make_shell_env(tmp_path))
    exports = running.exports()
    base = Path(exports["HOME"]).parent
    # What a shell session leaves in serve's HOME (the AWS CLI's cache, for one).
    cache = Path(exports["HOME"]) / ".aws" / "cli" / "cache"
    cache.mkdir(parents=True)
    (cache / "entry.json").write_text("{}")
    assert Path(exports["AWS_SHARED_CREDENTIALS_FILE"]).exists()
    code, err = running.stop(sig)
    assert code == 0, err
    assert "removing what it created" in err
    assert not running.env_file.exists()
    assert not base.exists()  # HOME, the config and credentials files, the cache
    assert os.listdir(tmp_path) == ["real-home"]


def test_an_existing_env_file_is_left_alone(tmp_path: Path) -> None:
    env_file = tmp_path / "mine.env"
    env_file.write_text("export MINE=1\n")
    done = subprocess.run(
        [sys.executable, "-m", "ecs_xrole.testing", "serve", "--env-file", str(env_file)],
        env=make_shell_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=9,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--env-file" in done.stderr
    assert "the file exists" in done.stderr
    assert env_file.read_text() == "export MINE=1\n"
    assert "running" not in done.stderr  # refused before anything started


def test_export_lines_quote_for_the_shell(tmp_path: Path) -> None:
    text = export_lines({"B": "it's $HOME; `x`", "A": "plain"}, ["AWS_PROFILE"], comments=["hello"])
    assert text.splitlines()[:3] == ["# hello", "unset AWS_PROFILE", "export A=plain"]
    script = tmp_path / "env.sh"
    script.write_text(text)
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run(
        [
            bash,
            "-c",
            f'AWS_PROFILE=x; . {script}; printf "%s|%s|%s" "$A" "$B" "${{AWS_PROFILE-unset}}"',
        ],
        capture_output=True,
        text=True,
        timeout=5,
    )
    assert done.stdout == "plain|it's $HOME; `x`|unset"
