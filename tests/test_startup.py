"""What the commands a container starts load: ``write-config`` (every container start) and
``credential-process`` (every credential load). No timings here (those are in
tests/benchmarks/bench_write_config.py): these tests fail when a heavy module comes back on
the path, which is how start-up time regresses silently.

Also: write-config's own argument parser (which spares it argparse) agrees with argparse
wherever it answers at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_xrole.cli import build_parser
from ecs_xrole.cli.write_config import _parse_write_config_fast

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

DEST = "arn:aws:iam::555566667777:role/destination-account-role"

#: Modules write-config once loaded (issue 10 §4) and must not load again, and the libraries
#: it never needs.
HEAVY = frozenset(
    {
        "argparse",
        "ast",
        "boto3",
        "botocore",
        "bz2",
        "dataclasses",
        "datetime",
        "dis",
        "gettext",
        "inspect",
        "json",
        "locale",
        "logging",
        "lzma",
        "random",
        "shutil",
        "tempfile",
        "threading",
        "tokenize",
        "typing",
        "urllib3",
    }
)


def imported(argv: list[str], env: dict[str, str] | None = None) -> tuple[set[str], str, int]:
    """Run ``python -X importtime ARGV``; return the modules it imported, its stderr without
    the import lines, and its exit code."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        timeout=9,
        env=env,
    )
    modules, rest = set(), []
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
        else:
            rest.append(line)
    return modules, "\n".join(rest), done.returncode


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "how",
    [
        ["-m", "ecs_xrole"],
        # as the console script (what examples/entrypoint.sh runs) starts it
        ["-c", "import sys; from ecs_xrole.cli import main; sys.exit(main())"],
    ],
    ids=["python -m", "console script"],
)
@pytest.mark.parametrize("mode", [[], ["--check"], ["--dry-run"]], ids=["write", "check", "dry"])
def test_write_config_loads_no_heavy_module(
    tmp_path: Path, how: list[str], mode: list[str]
) -> None:
    cfg = tmp_path / "aws" / "config"
    args = ["write-config", "--profile", "p", "--role-arn", DEST, "--region", "eu-west-1"]
    modules, stderr, code = imported([*how, *args, "--config-file", str(cfg), *mode])

    assert code == (1 if mode == ["--check"] else 0), stderr
    assert "configparser" in modules  # the measurement works: it sees what was loaded
    assert heavy_in(modules) == []
    if not mode:
        assert f"role_arn = {DEST}" in cfg.read_text()


def test_write_config_from_env_loads_no_heavy_module(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {
        **os.environ,
        "ECS_XROLE_ROLE_ARN": DEST,
        "ECS_XROLE_EXTERNAL_ID": "ext-1",
        "ECS_XROLE_DURATION_SECONDS": "900",
        "AWS_CONFIG_FILE": str(cfg),
    }
    modules, stderr, code = imported(["-m", "ecs_xrole", "write-config", "--from-env"], env)

    assert code == 0, stderr
    assert heavy_in(modules) == []
    assert "external_id = ext-1" in cfg.read_text()


def test_a_refused_write_loads_no_heavy_module_either(tmp_path: Path) -> None:
    """The file-safety checks run on the same light path, refusals included."""
    wide = tmp_path / "wide"
    wide.mkdir()
    wide.chmod(0o777)
    args = ["-m", "ecs_xrole", "write-config", "--role-arn", DEST]
    modules, stderr, code = imported([*args, "--config-file", str(wide / "config")])

    assert code == 2
    assert "no sticky bit" in stderr
    assert heavy_in(modules) == []


def test_write_config_with_verbose_or_help_still_works_through_argparse(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    args = ["-m", "ecs_xrole", "-v", "write-config", "--role-arn", DEST]
    modules, stderr, code = imported([*args, "--config-file", str(cfg)])
    assert code == 0, stderr
    assert "argparse" in modules
    assert f"INFO: wrote profiles cross-account to {cfg}" in stderr

    done = subprocess.run(
        [sys.executable, "-m", "ecs_xrole", "write-config", "--help"],
        capture_output=True,
        text=True,
        timeout=9,
    )
    assert done.returncode == 0
    assert "--credential-process" in done.stdout


@pytest.mark.slow
def test_credential_process_does_not_load_boto3(ecs_xrole_env: LocalStack) -> None:
    """credential-process needs botocore to sign AssumeRole, not boto3 (nor s3transfer)."""
    argv = ["-m", "ecs_xrole", "credential-process"]
    modules, stderr, code = imported([*argv, "--role-arn", ecs_xrole_env.aws.destination_role_arn])

    assert code == 0, stderr
    assert "botocore.session" in modules
    assert "boto3" not in modules
    assert "s3transfer" not in modules


# --------------------------------------------------------------------------------------------
# The fast parser agrees with argparse

_OPTIONS = [
    "--profile",
    "--role-arn",
    "--external-id",
    "--role-session-name",
    "--duration-seconds",
    "--region",
    "--config-file",
]
_FLAGS = ["--credential-process", "--from-env", "--check", "--dry-run", "--json"]
_VALUES = ["a", "", "x=y", "-5", "-", "--", "-v", "arn:aws:iam::1:role/r", "two words", "-a b"]
_word = st.one_of(
    st.sampled_from(_OPTIONS + _FLAGS + _VALUES + ["-v", "--verbose", "--prof", "--check=1"]),
    st.builds(lambda o, v: f"{o}={v}", st.sampled_from(_OPTIONS), st.sampled_from(_VALUES)),
)


_parsers: list[argparse.ArgumentParser] = []


def parsed_by_argparse(words: list[str]) -> dict[str, object] | None:
    if not _parsers:
        _parsers.append(build_parser(plugged=False))
    try:
        args = _parsers[0].parse_args(words)
    except SystemExit:
        return None
    return {
        "profile_events": args.profile_events,
        "from_env": args.from_env,
        "config_file": args.config_file,
        "check": args.check,
        "dry_run": args.dry_run,
        "json": args.json,
        "verbose": args.verbose,
    }


@settings(max_examples=100, deadline=None)
@given(words=st.lists(_word, max_size=8))
def test_the_fast_parser_answers_as_argparse_or_not_at_all(words: list[str]) -> None:
    argv = ["write-config", *words]
    fast = _parse_write_config_fast(argv)
    if fast is None:
        return  # argparse parses it (or explains why not)
    expected = parsed_by_argparse(argv)
    assert expected is not None, f"argparse refuses {argv!r}, the fast parser accepted it"
    assert vars(fast) == expected


def test_the_fast_parser_takes_the_plain_forms() -> None:
    argv = ["write-config", "--profile", "a", "--role-arn=R", "--credential-process"]
    fast = _parse_write_config_fast([*argv, "--config-file", "/c", "--check", "--dry-run"])
    assert fast is not None
    assert json.loads(json.dumps(vars(fast))) == {
        "profile_events": [
            ["profile", "--profile", "a"],
            ["role_arn", "--role-arn", "R"],
            ["credential_process", "--credential-process", True],
        ],
        "from_env": False,
        "config_file": "/c",
        "check": True,
        "dry_run": True,
        "json": False,
        "verbose": 0,
    }
    for other in (["-v", "write-config"], ["write-config", "-h"], ["write-config", "--role"]):
        assert _parse_write_config_fast(other) is None
