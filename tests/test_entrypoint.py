"""examples/: the container entrypoint run with plain ``sh`` (no Docker), and the example
documents checked against ecs_xrole._policy."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import botocore.configloader
import pytest

from ecs_xrole import _policy as policy
from ecs_xrole.cli._env import profiles_from_env

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENTRYPOINT = EXAMPLES / "entrypoint.sh"
BIN = Path(sys.executable).parent
TASK_ROLE = "arn:aws:iam::111122223333:role/my-ECS-task-role"
DEST = "arn:aws:iam::555566667777:role/destination-account-role"
# Prints its own PID, then the config file: after `exec` its PID is the entrypoint's.
SHOW = 'echo "pid=$$"; cat "$AWS_CONFIG_FILE" 2>/dev/null || echo "no config"'


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: the venv's bin first on PATH, a config file in tmp_path."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ECS_XROLE_")}
    base["PATH"] = f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin"
    base["AWS_CONFIG_FILE"] = str(tmp_path / "aws" / "config")
    return base


def start(env: dict[str, str], *command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["sh", str(ENTRYPOINT), *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=9)
    return proc.returncode, out, err


def test_writes_the_profile_then_execs_the_command(env: dict[str, str]) -> None:
    env["ECS_XROLE_ROLE_ARN"] = DEST
    env["ECS_XROLE_EXTERNAL_ID"] = "ext-123"
    proc = start(env, "sh", "-c", SHOW)
    code, out, err = finish(proc)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"wrote profile cross-account to {env['AWS_CONFIG_FILE']}"
    assert lines[1] == f"pid={proc.pid}"  # the command replaced the entrypoint's shell
    assert "[profile cross-account]" in lines[2:]
    profiles = botocore.configloader.load_config(env["AWS_CONFIG_FILE"])["profiles"]
    assert profiles["cross-account"] == {
        "role_arn": DEST,
        "credential_source": "EcsContainer",
        "external_id": "ext-123",
    }


def test_several_profiles_from_the_task_definition(env: dict[str, str]) -> None:
    env["ECS_XROLE_PROFILES"] = "billing analytics"
    env["ECS_XROLE_BILLING_ROLE_ARN"] = DEST
    env["ECS_XROLE_ANALYTICS_ROLE_ARN"] = "arn:aws:iam::555566667777:role/analytics"
    env["ECS_XROLE_ANALYTICS_CREDENTIAL_PROCESS"] = "1"
    code, out, err = finish(start(env, "true"))
    assert code == 0, err
    assert out == f"wrote profiles billing, analytics to {env['AWS_CONFIG_FILE']}\n"
    profiles = botocore.configloader.load_config(env["AWS_CONFIG_FILE"])["profiles"]
    assert profiles["billing"]["credential_source"] == "EcsContainer"
    assert "credential-process" in profiles["analytics"]["credential_process"]


def test_without_variables_it_just_execs(env: dict[str, str]) -> None:
    proc = start(env, "sh", "-c", SHOW)
    code, out, err = finish(proc)
    assert code == 0, err
    assert out == f"pid={proc.pid}\nno config\n"
    assert "nothing to write" in err
    assert not Path(env["AWS_CONFIG_FILE"]).exists()


def test_bad_arn_stops_the_container_before_the_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "command-ran"
    env["ECS_XROLE_ROLE_ARN"] = "arn:aws:iam::5555:role/typo"
    code, out, err = finish(start(env, "touch", str(marker)))
    assert code == 2
    assert out == ""
    assert "ecs-xrole: error: ECS_XROLE_ROLE_ARN 'arn:aws:iam::5555:role/typo'" in err
    assert "failed with exit code 2; not starting the command" in err
    assert not marker.exists()
    assert not Path(env["AWS_CONFIG_FILE"]).exists()


def test_unparseable_config_stops_the_container(env: dict[str, str], tmp_path: Path) -> None:
    config = Path(env["AWS_CONFIG_FILE"])
    config.parent.mkdir()
    config.write_text("[default]\nthis line is not a setting\n")
    marker = tmp_path / "command-ran"
    env["ECS_XROLE_ROLE_ARN"] = DEST
    code, _, err = finish(start(env, "touch", str(marker)))
    assert code == 2
    assert "cannot be parsed" in err
    assert not marker.exists()
    assert config.read_text() == "[default]\nthis line is not a setting\n"


def test_falls_back_to_python3_module(env: dict[str, str], tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A wrapper, not a symlink: a venv's python is only itself when started from its bin/.
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    for tool in ("cat", "sh", "true"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env["PATH"] = str(bin_dir)  # no ecs-xrole console script on PATH
    env["ECS_XROLE_ROLE_ARN"] = DEST
    code, out, err = finish(start(env, "true"))
    assert code == 0, err
    assert out.startswith("wrote profile cross-account")
    assert Path(env["AWS_CONFIG_FILE"]).exists()


def stub_bin(tmp_path: Path, **scripts: str) -> Path:
    """A bin directory holding ``sh``, ``cat`` and ``true`` and the given shell scripts."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    for tool in ("cat", "sh", "true"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    for name, body in scripts.items():
        script = bin_dir / name.replace("_", "-")
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return bin_dir


def test_exit_2_blames_the_variables_or_the_config_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["ECS_XROLE_ROLE_ARN"] = "arn:aws:iam::5555:role/typo"
    code, _, err = finish(start(env, "true"))
    assert code == 2
    hint = err.splitlines()[-1]
    assert hint.startswith(
        "entrypoint: 'ecs-xrole write-config --from-env' failed with exit code 2"
    )
    assert "Fix the ECS_XROLE_* variables in the task definition, or the AWS config" in hint
    assert env["AWS_CONFIG_FILE"] in hint


def test_exit_1_blames_the_file_system(env: dict[str, str], tmp_path: Path) -> None:
    # write-config turns every failure it foresees into exit 2; exit 1 is what is left (an
    # OSError it did not foresee, a crash). A stand-in command gives that exit status here.
    env["PATH"] = str(stub_bin(tmp_path, ecs_xrole="echo 'disk trouble' >&2; exit 1"))
    marker = tmp_path / "command-ran"
    code, _, err = finish(start(env, "touch", str(marker)))
    assert code == 1
    assert err.splitlines()[0] == "disk trouble"
    hint = err.splitlines()[-1]
    assert "failed with exit code 1; not starting the command" in hint
    assert f"The config file {env['AWS_CONFIG_FILE']} could not be written" in hint
    assert "file system" in hint
    assert "ECS_XROLE_" not in hint  # not the variables' fault
    assert not marker.exists()


def test_python3_without_ecs_xrole_is_not_installed(env: dict[str, str], tmp_path: Path) -> None:
    # python3 is there, but the image lacks the package: 127, "not installed".
    # -I -S: no site-packages, no PYTHONPATH, so no ecs_xrole; the standard library only.
    bare = f'exec "{sys.executable}" -I -S "$@"'
    env["PATH"] = str(stub_bin(tmp_path, python3=bare))
    env["ECS_XROLE_ROLE_ARN"] = DEST
    code, _, err = finish(start(env, "true"))
    assert code == 127, err
    assert "ecs-xrole is not installed in this image" in err
    assert "python3's ecs_xrole module" in err
    assert "ECS_XROLE_" not in err.replace("python3's ecs_xrole", "")


def test_neither_tool_found_fails(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env["PATH"] = str(empty)
    proc = subprocess.run(
        [shutil.which("sh") or "/bin/sh", str(ENTRYPOINT), "/bin/true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=9,
    )
    assert proc.returncode == 127
    assert "ecs-xrole is not installed in this image" in proc.stderr
    assert "Fix the ECS_XROLE_*" not in proc.stderr


def test_no_command_is_an_error(env: dict[str, str]) -> None:
    code, _, err = finish(start(env))
    assert code == 64
    assert "no command to run" in err


def test_signals_reach_the_command(env: dict[str, str]) -> None:
    script = 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done'
    proc = start(env, "sh", "-c", script)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)  # what ECS sends to PID 1 when the task stops
    code, out, err = finish(proc)
    assert out == "got-term\n", err
    assert code == 0


def test_runs_the_example_app_against_the_stand_ins(
    ecs_xrole_env: LocalStack, env: dict[str, str]
) -> None:
    task = {**os.environ, "PATH": env["PATH"], "AWS_CONFIG_FILE": env["AWS_CONFIG_FILE"]}
    task["ECS_XROLE_ROLE_ARN"] = ecs_xrole_env.aws.destination_role_arn
    code, out, err = finish(start(task, sys.executable, str(EXAMPLES / "app.py")))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("wrote profile cross-account")
    assert lines[1].startswith("acting as arn:aws:sts::555566667777:assumed-role/")
    assert lines[1].endswith("in account 555566667777")
    assert any(line.endswith(":cluster/destination-cluster") for line in lines[2:])


# ---------------------------------------------------------------------------------------------
# The example documents


def load(name: str) -> object:
    return json.loads((EXAMPLES / name).read_text())


def test_identity_and_trust_policies_are_the_recipes() -> None:
    assert load("identity-policy.json") == policy.identity_policy(TASK_ROLE, DEST)
    assert load("trust-policy.json") == policy.trust_policy(TASK_ROLE)


def test_task_definition_is_the_recipes_and_feeds_write_config() -> None:
    document = load("task-definition.json")
    assert isinstance(document, dict)
    image = document["containerDefinitions"][0]["image"]
    assert document == policy.task_definition(TASK_ROLE, DEST, image=image)
    variables = {e["name"]: e["value"] for e in document["containerDefinitions"][0]["environment"]}
    [profile] = profiles_from_env(variables, command=("ecs-xrole",))
    assert (profile.name, profile.role_arn) == ("cross-account", DEST)


# ---------------------------------------------------------------------------------------------
# The Dockerfile's build context


def dockerignore_patterns() -> list[str]:
    text = (EXAMPLES.parent / ".dockerignore").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, as far as these patterns need it: a pattern excludes a path it matches
    or a directory above it; ``**/`` matches any depth."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            names = [prefix] if bare == pattern else [prefix, prefix.rsplit("/", 1)[-1]]
            if any(fnmatch.fnmatchcase(name, bare) for name in names):
                return True
    return False


def test_dockerignore_keeps_the_context_small_and_the_build_whole() -> None:
    patterns = dockerignore_patterns()
    dockerfile = (EXAMPLES / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE)
    sources = [src for line in copied for src in line.split()]
    assert sources == ["pyproject.toml", "README.md", "src", "examples/entrypoint.sh",
                       "examples/app.py"]  # fmt: skip
    for source in sources:
        assert not ignored(source, patterns), source
    assert not ignored("src/ecs_xrole/cli.py", patterns)
    for junk in (".tox/py311/lib/x.py", ".git/HEAD", ".venv/bin/python", "venv/bin/python",
                 "site/index.html", "src/ecs_xrole/__pycache__/cli.cpython-311.pyc",
                 ".mypy_cache/3.11/x.json", ".pytest_cache/v", ".ruff_cache/x",
                 ".hypothesis/examples/x"):  # fmt: skip
        assert ignored(junk, patterns), junk


def test_dockerfile_builds_a_wheel_and_declares_its_syntax() -> None:
    text = (EXAMPLES / "Dockerfile").read_text()
    assert text.startswith("# syntax=docker/dockerfile:1\n")  # COPY --chmod, RUN --mount
    assert "AS build" in text
    assert "pip wheel" in text
    assert "@sha256:" in text  # how to pin the base image by digest
    runtime = text.split("AS build", 1)[1].split("\nFROM ", 1)[1]
    assert "COPY src" not in runtime  # no source tree in the runtime image
