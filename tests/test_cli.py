"""The command-line tool: write-config options, exit codes, messages; whoami and
credential-process failures that need no AWS stand-ins."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import botocore.configloader
import pytest

from ecs_xrole import cli
from ecs_xrole.cli import main
from ecs_xrole.cli._env import profiles_from_env
from ecs_xrole.errors import InvalidInputError

DEST = "arn:aws:iam::555566667777:role/destination-account-role"
OTHER = "arn:aws:iam::555566667777:role/other-role"
BIN = Path(sys.executable).parent

EXISTING = """\
# hand-written
[default]
region = eu-west-1

[profile cross-account]
output = json
"""


def profiles_of(path: Path) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = botocore.configloader.load_config(str(path))["profiles"]
    return result


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "aws" / "config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    for name in list(os.environ):
        if name.startswith("ECS_XROLE_"):
            monkeypatch.delenv(name)
    return path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecs_xrole", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=9,
    )


# ---------------------------------------------------------------------------------------------
# Help and the import budget


def test_help_documents_exit_codes_and_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for text in ("write-config", "whoami", "credential-process", "exit codes:", "2  bad usage"):
        assert text in out


def test_write_config_help_documents_groups_and_env(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["write-config", "--help"])
    out = capsys.readouterr().out
    for text in (
        "several profiles",
        "ECS_XROLE_PROFILES",
        "ECS_XROLE_<NAME>_ROLE_ARN",
        "--credential-process",
        "exit codes:",
        "--check",
    ):
        assert text in out


@pytest.mark.parametrize("command", ["whoami", "credential-process", "write-config", "doctor"])
def test_help_texts_fit_the_terminal(command: str) -> None:
    # argparse wraps to $COLUMNS; a raw description must carry its own line breaks.
    env = dict(os.environ, COLUMNS="100")
    done = run(command, "--help", env=env)
    assert done.returncode == 0
    assert max(len(line) for line in done.stdout.splitlines()) <= 100


def test_credential_process_help_lists_its_own_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["credential-process", "--help"])
    out = capsys.readouterr().out
    codes = out.split("exit codes:")[1]
    assert "0  the credentials were printed" in codes
    assert "AssumeRole was refused" in codes
    assert "--check" not in codes  # write-config's, not this command's
    assert "config file" not in codes


def test_whoami_options_without_a_role_name_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["whoami", "--external-id", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--role-arn or --profile is missing" in err
    assert " None " not in err


def test_no_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_write_config_never_imports_boto(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_CONFIG_FILE": str(tmp_path / "config")}
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "ecs_xrole",
            "write-config",
            "--role-arn",
            DEST,
            "--credential-process",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=9,
    )
    assert done.returncode == 0, done.stderr
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "ecs_xrole._config.files" in imported  # the probe works...
    assert not [m for m in imported if m.split(".")[0] in {"boto3", "botocore", "urllib3"}]
    # ...and neither the other modules' subcommands nor the HTTP stack come along.
    assert not {"ecs_xrole.cli.doctor", "ecs_xrole.cli.demo", "ecs_xrole._endpoint"} & set(imported)
    assert not {"http.client", "urllib.request", "ssl"} & set(imported)


def test_write_config_in_process_leaves_boto_out_of_sys_modules(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from ecs_xrole.cli import main\n"
        f"assert main(['write-config', '--role-arn', {DEST!r}, '--config-file', "
        f"{str(tmp_path / 'c')!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=9)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# ---------------------------------------------------------------------------------------------
# write-config


def test_verbose_after_the_subcommand_logs_to_stderr(tmp_path: Path) -> None:
    target = tmp_path / "config"
    done = run("write-config", "--role-arn", DEST, "--config-file", str(target), "-v")
    assert done.returncode == 0, done.stderr
    assert f"ecs-xrole: INFO: wrote profiles cross-account to {target}" in done.stderr
    quiet = run("write-config", "--role-arn", DEST, "--config-file", str(target))
    assert quiet.stderr == ""
    assert quiet.stdout == f"unchanged: profile cross-account in {target}\n"


def test_writes_default_profile_then_reports_unchanged(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["write-config", "--role-arn", DEST]) == 0
    assert capsys.readouterr().out == f"wrote profile cross-account to {cfg}\n"
    assert profiles_of(cfg)["cross-account"] == {
        "role_arn": DEST,
        "credential_source": "EcsContainer",
    }
    data = cfg.read_bytes()

    assert main(["write-config", "--role-arn", DEST]) == 0
    assert capsys.readouterr().out == f"unchanged: profile cross-account in {cfg}\n"
    assert cfg.read_bytes() == data


def test_real_process_writes_and_prints_one_line(tmp_path: Path) -> None:
    target = tmp_path / "x" / "config"
    done = run(
        "write-config", "--profile", "default", "--role-arn", DEST, "--config-file", str(target)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote profile default to {target}\n"
    assert target.read_text().startswith("[default]\n")


def test_all_options_and_merge(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text(EXISTING)
    assert (
        main(
            [
                "write-config",
                "--external-id",
                "ext-1",
                "--role-arn",
                DEST,
                "--role-session-name",
                "worker",
                "--duration-seconds",
                "1800",
                "--region",
                "us-east-2",
            ]
        )
        == 0
    )
    assert profiles_of(cfg)["cross-account"] == {
        "output": "json",
        "role_arn": DEST,
        "credential_source": "EcsContainer",
        "external_id": "ext-1",
        "role_session_name": "worker",
        "duration_seconds": "1800",
        "region": "us-east-2",
    }
    assert cfg.read_text().startswith(EXISTING.rstrip("\n"))


def test_several_profiles_in_one_run(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "write-config",
                "--profile",
                "billing",
                "--role-arn",
                DEST,
                "--region",
                "eu-west-1",
                "--profile",
                "analytics",
                "--external-id",
                "ext-2",
                "--role-arn",
                OTHER,
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == f"wrote profiles billing, analytics to {cfg}\n"
    found = profiles_of(cfg)
    assert found["billing"] == {
        "role_arn": DEST,
        "credential_source": "EcsContainer",
        "region": "eu-west-1",
    }
    assert found["analytics"] == {
        "role_arn": OTHER,
        "credential_source": "EcsContainer",
        "external_id": "ext-2",
    }


def test_single_profile_options_in_any_order(cfg: Path) -> None:
    assert main(["write-config", "--role-arn", DEST, "--profile", "late-name"]) == 0
    assert profiles_of(cfg)["late-name"]["role_arn"] == DEST


def assert_fails_untouched(
    cfg: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, *needles: str
) -> str:
    before = cfg.read_bytes() if cfg.exists() else None
    mtime = cfg.stat().st_mtime_ns if cfg.exists() else None
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ecs-xrole: error: ")
    assert "Fix:" in captured.err
    # Shell users see no Python: no "None" for a missing option, no "timedelta".
    assert " None " not in captured.err
    assert "timedelta" not in captured.err
    for needle in needles:
        assert needle in captured.err
    if before is None:
        assert not cfg.exists()
    else:
        assert cfg.read_bytes() == before
        assert cfg.stat().st_mtime_ns == mtime
    return captured.err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--role-arn", "arn:aws:iam::5555:role/x"], ["--role-arn", "12 digits"]),
        (["--role-arn", "not-an-arn"], ["--role-arn", "arn:aws:iam::<12-digit account>"]),
        (["--role-arn", "arn:aws:iam::555566667777:user/bob"], ["--role-arn", "user ARN"]),
        (["--profile", "a]b", "--role-arn", DEST], ["--profile", "'['"]),
        (["--profile", "a\nb", "--role-arn", DEST], ["--profile", "control character"]),
        (["--role-arn", DEST, "--duration-seconds", "7200"], ["--duration-seconds", "3600"]),
        (["--role-arn", DEST, "--duration-seconds", "soon"], ["--duration-seconds", "3600"]),
        (["--role-arn", DEST, "--external-id", "x"], ["--external-id", "trust policy"]),
        (["--role-arn", DEST, "--region", "Mars-1"], ["--region", "us-east-1"]),
        (["--role-arn", DEST, "--role-session-name", "a b"], ["--role-session-name"]),
        (["--profile", "x"], ["--role-arn is missing", "destination role of profile 'x'"]),
        ([], ["--role-arn is missing: write-config needs the destination role. Fix: pass"]),
        (
            ["--role-arn", DEST, "--duration-seconds", "1h"],
            ["--duration-seconds '1h' is not valid: expected a whole number of seconds"],
        ),
        (["--role-arn", DEST, "--role-arn", OTHER], ["given twice"]),
        (
            ["--role-arn", DEST, "--profile", "a", "--profile", "b", "--role-arn", OTHER],
            ["before the first --profile"],
        ),
        (
            ["--profile", "a", "--role-arn", DEST, "--profile", "a", "--role-arn", OTHER],
            ["more than once"],
        ),
        (["--from-env", "--role-arn", DEST], ["--from-env"]),
    ],
)
def test_bad_input_exits_2_and_touches_nothing(
    cfg: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]
) -> None:
    cfg.parent.mkdir()
    cfg.write_text(EXISTING)
    os.utime(cfg, ns=(10**18, 10**18))
    assert_fails_untouched(cfg, capsys, ["write-config", *argv], 2, *needles)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[default]\nnot a setting\n", ["cannot be parsed", "line 2"]),
        ("[default]\n[profile default]\n", ["defined more than once", "line 1", "line 2"]),
        ("\ufeff[default]\n", ["byte-order mark"]),
    ],
)
def test_bad_existing_file_exits_2_and_is_untouched(
    cfg: Path, capsys: pytest.CaptureFixture[str], text: str, needles: list[str]
) -> None:
    cfg.parent.mkdir()
    cfg.write_text(text)
    assert_fails_untouched(
        cfg, capsys, ["write-config", "--profile", "default", "--role-arn", DEST], 2, *needles
    )


def test_empty_aws_config_file_variable_is_bad_input(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "")
    assert main(["write-config", "--role-arn", DEST]) == 2
    assert "AWS_CONFIG_FILE" in capsys.readouterr().err


def test_check_exit_codes(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["write-config", "--check", "--role-arn", DEST]) == 1
    assert capsys.readouterr().out == f"would change profile cross-account in {cfg}\n"
    assert not cfg.exists()

    cfg.parent.mkdir()
    cfg.write_text(EXISTING)
    mtime = cfg.stat().st_mtime_ns
    assert main(["write-config", "--check", "--role-arn", DEST]) == 1
    assert cfg.read_text() == EXISTING
    assert cfg.stat().st_mtime_ns == mtime

    assert main(["write-config", "--role-arn", DEST]) == 0
    capsys.readouterr()
    assert main(["write-config", "--check", "--role-arn", DEST]) == 0
    assert capsys.readouterr().out == f"unchanged: profile cross-account in {cfg}\n"
    assert main(["write-config", "--check", "--role-arn", OTHER]) == 1


def test_dry_run_prints_the_file_and_writes_nothing(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg.parent.mkdir()
    cfg.write_text(EXISTING)
    mtime = cfg.stat().st_mtime_ns
    assert main(["write-config", "--dry-run", "--role-arn", DEST]) == 0
    captured = capsys.readouterr()
    assert captured.out == EXISTING + f"role_arn = {DEST}\ncredential_source = EcsContainer\n"
    assert captured.err == f"would change profile cross-account in {cfg}\n"
    assert cfg.read_text() == EXISTING
    assert cfg.stat().st_mtime_ns == mtime
    assert not Path(f"{cfg}.lock").exists()


def test_credential_process_line_from_console_script(tmp_path: Path) -> None:
    target = tmp_path / "config"
    script = BIN / "ecs-xrole"
    done = subprocess.run(
        [
            str(script),
            "write-config",
            "--credential-process",
            "--role-arn",
            DEST,
            "--external-id",
            "ext=id/with:colon,@",
            "--region",
            "eu-west-1",
            "--config-file",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=9,
    )
    assert done.returncode == 0, done.stderr
    profile = profiles_of(target)["cross-account"]
    assert set(profile) == {"credential_process", "region"}
    argv = shlex.split(str(profile["credential_process"]))
    assert argv == [
        str(script),
        "credential-process",
        "--role-arn",
        DEST,
        "--external-id",
        "ext=id/with:colon,@",
        "--region",
        "eu-west-1",
    ]


def test_credential_process_line_without_console_script(tmp_path: Path) -> None:
    target = tmp_path / "config"
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = run(
        "write-config",
        "--credential-process",
        "--role-arn",
        DEST,
        "--config-file",
        str(target),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    argv = shlex.split(str(profiles_of(target)["cross-account"]["credential_process"]))
    assert argv == [sys.executable, "-m", "ecs_xrole", "credential-process", "--role-arn", DEST]
    # The recorded command really runs this ecs-xrole.
    check = subprocess.run(
        [*argv[:3], "credential-process", "--help"], capture_output=True, text=True, timeout=9
    )
    assert check.returncode == 0
    assert "credential_process JSON" in check.stdout


# ---------------------------------------------------------------------------------------------
# --from-env


def test_from_env_without_variables_does_nothing(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["write-config", "--from-env"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "neither ECS_XROLE_ROLE_ARN nor ECS_XROLE_PROFILES is set" in captured.err
    assert not cfg.parent.exists()


def test_from_env_single_profile(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECS_XROLE_ROLE_ARN", DEST)
    monkeypatch.setenv("ECS_XROLE_PROFILE", "dest")
    monkeypatch.setenv("ECS_XROLE_EXTERNAL_ID", "ext-9")
    monkeypatch.setenv("ECS_XROLE_ROLE_SESSION_NAME", "task-1")
    monkeypatch.setenv("ECS_XROLE_DURATION_SECONDS", "900")
    monkeypatch.setenv("ECS_XROLE_REGION", "ap-southeast-2")
    monkeypatch.setenv("ECS_XROLE_CREDENTIAL_PROCESS", "0")
    assert main(["write-config", "--from-env"]) == 0
    assert capsys.readouterr().out == f"wrote profile dest to {cfg}\n"
    assert profiles_of(cfg)["dest"] == {
        "role_arn": DEST,
        "credential_source": "EcsContainer",
        "external_id": "ext-9",
        "role_session_name": "task-1",
        "duration_seconds": "900",
        "region": "ap-southeast-2",
    }


def test_from_env_several_profiles(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECS_XROLE_ROLE_ARN", DEST)
    monkeypatch.setenv("ECS_XROLE_PROFILES", "billing, my-app")
    monkeypatch.setenv("ECS_XROLE_BILLING_ROLE_ARN", OTHER)
    monkeypatch.setenv("ECS_XROLE_BILLING_REGION", "eu-west-1")
    monkeypatch.setenv("ECS_XROLE_MY_APP_ROLE_ARN", DEST)
    monkeypatch.setenv("ECS_XROLE_MY_APP_CREDENTIAL_PROCESS", "true")
    monkeypatch.setenv("ECS_XROLE_MY_APP_EXTERNAL_ID", "")  # empty counts as unset
    assert main(["write-config", "--from-env"]) == 0
    found = profiles_of(cfg)
    assert found["cross-account"]["role_arn"] == DEST
    assert found["billing"] == {
        "role_arn": OTHER,
        "credential_source": "EcsContainer",
        "region": "eu-west-1",
    }
    assert "credential-process --role-arn " + DEST in str(found["my-app"]["credential_process"])


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ECS_XROLE_ROLE_ARN": "arn:aws:iam::1:role/x"}, "ECS_XROLE_ROLE_ARN"),
        ({"ECS_XROLE_ROLE_ARN": DEST, "ECS_XROLE_PROFILE": "a]"}, "ECS_XROLE_PROFILE"),
        (
            {"ECS_XROLE_ROLE_ARN": DEST, "ECS_XROLE_DURATION_SECONDS": "5000"},
            "ECS_XROLE_DURATION_SECONDS",
        ),
        (
            {"ECS_XROLE_ROLE_ARN": DEST, "ECS_XROLE_CREDENTIAL_PROCESS": "maybe"},
            "ECS_XROLE_CREDENTIAL_PROCESS",
        ),
        ({"ECS_XROLE_PROFILES": "billing"}, "ECS_XROLE_BILLING_ROLE_ARN"),
        (
            {"ECS_XROLE_PROFILES": "b", "ECS_XROLE_B_ROLE_ARN": DEST, "ECS_XROLE_B_REGION": "x"},
            "ECS_XROLE_B_REGION",
        ),
        ({"ECS_XROLE_PROFILES": "a-b a_b", "ECS_XROLE_A_B_ROLE_ARN": DEST}, "ECS_XROLE_PROFILES"),
        ({"ECS_XROLE_EXTERNAL_ID": "lonely"}, "ECS_XROLE_EXTERNAL_ID"),
        ({"ECS_XROLE_ROLE_ARN": DEST, "ECS_XROLE_REGON": "us-east-1"}, "ECS_XROLE_REGON"),
    ],
)
def test_from_env_errors_name_the_variable(
    cfg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    needle: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    err = assert_fails_untouched(cfg, capsys, ["write-config", "--from-env"], 2, needle)
    assert err.startswith(f"ecs-xrole: error: {needle} ")


def test_profiles_from_env_is_pure() -> None:
    assert profiles_from_env({}) == []
    [profile] = profiles_from_env({"ECS_XROLE_ROLE_ARN": DEST}, command=("/x",))
    assert (profile.name, profile.role_arn) == ("cross-account", DEST)
    with pytest.raises(InvalidInputError):
        profiles_from_env({"ECS_XROLE_PROFILE": "lonely"})


# ---------------------------------------------------------------------------------------------
# whoami and credential-process without an endpoint (the stand-ins are in
# test_write_config_cli.py)


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_whoami_without_endpoint_fails_with_the_reason(
    no_endpoint: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["whoami", "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["task_role"] is None
    assert report["destination"] is None
    assert report["error"]["stage"] == "task_role"
    assert "AWS_CONTAINER_CREDENTIALS" in report["error"]["message"]
    assert set(report) == {"task_role", "destination", "profile", "role_arn", "source", "error"}
    assert report["source"] == "the container credentials endpoint"


def test_whoami_missing_profile_is_bad_input(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whoami", "--profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no such profile" in err
    assert "write-config --profile nope" in err


def test_whoami_bad_role_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whoami", "--role-arn", "arn:aws:iam::1:role/x"]) == 2
    assert "--role-arn" in capsys.readouterr().err


def test_credential_process_without_endpoint_prints_no_json(
    no_endpoint: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["credential-process", "--role-arn", DEST]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ecs-xrole: error: ")


# ---------------------------------------------------------------------------------------------
# The plug-in hook


def test_plugged_modules_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fake_plugged_cmd")

    def add_parser(subparsers: object) -> None:
        parser = subparsers.add_parser("fake-cmd")  # type: ignore[attr-defined]
        parser.set_defaults(func=lambda args: 7)

    module.add_parser = add_parser  # type: ignore[attr-defined]
    module.__spec__ = importlib_spec("fake_plugged_cmd")
    monkeypatch.setitem(sys.modules, "fake_plugged_cmd", module)
    monkeypatch.setattr(cli, "_PLUGGED", ("fake_plugged_cmd", "ecs_xrole.no_such_module"))
    assert main(["fake-cmd"]) == 7


def importlib_spec(name: str) -> object:
    import importlib.machinery

    return importlib.machinery.ModuleSpec(name, None)


def test_read_only_directory_exits_2_untouched(tmp_path: Path) -> None:
    """As an unprivileged user (root ignores permissions: the forked child drops to nobody)."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="ecs-xrole-cli-"))
    try:
        shared.chmod(0o755)
        config = shared / "config"
        config.write_text(EXISTING)
        config.chmod(0o666)
        shared.chmod(0o555)
        data = config.read_bytes()
        mtime = config.stat().st_mtime_ns
        cli.build_parser()  # import every module first: the child may not read the stdlib
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 99
            try:
                os.close(read_end)
                os.dup2(write_end, 2)  # the child's stderr into the pipe
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                sys.stderr = os.fdopen(2, "w")
                code = main(["write-config", "--role-arn", DEST, "--config-file", str(config)])
                sys.stderr.flush()
            except BaseException as exc:
                os.write(write_end, repr(exc).encode())
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end) as handle:
            err = handle.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 2, err
        assert err.startswith("ecs-xrole: error: cannot create the lock file")
        assert "Fix: make" in err
        assert config.read_bytes() == data
        assert config.stat().st_mtime_ns == mtime
    finally:
        shared.chmod(0o755)
        subprocess.run(["rm", "-rf", str(shared)], check=False)


# ---------------------------------------------------------------------------------------------
# write-config --json and the session name


def write_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["write-config", *argv, "--json"])
    captured = capsys.readouterr()
    assert captured.err == ""
    report: dict[str, object] = json.loads(captured.out)
    return code, report


def test_write_config_json_reports_written_and_unchanged(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ["--profile", "a", "--role-arn", DEST, "--profile", "b", "--role-arn", OTHER]
    code, report = write_json(capsys, *first)
    assert code == 0
    assert report == {
        "path": str(cfg),
        "mode": "write",
        "changed": True,
        "created": True,
        "written": ["a", "b"],
        "unchanged": [],
    }
    # b changes, a stays as it is.
    again = ["--profile", "a", "--role-arn", DEST, "--profile", "b", "--role-arn", DEST]
    code, report = write_json(capsys, *again, "--check")
    assert code == 1
    assert (report["mode"], report["written"], report["unchanged"]) == ("check", ["b"], ["a"])
    code, report = write_json(capsys, *again, "--dry-run")
    assert code == 0
    assert report["mode"] == "dry-run"
    assert f"[profile b]\nrole_arn = {DEST}\n" in str(report["text"])
    assert profiles_of(cfg)["b"]["role_arn"] == OTHER  # nothing written yet
    code, report = write_json(capsys, *again)
    assert (report["changed"], report["created"], report["written"]) == (True, False, ["b"])
    code, report = write_json(capsys, *again)
    assert (report["changed"], report["written"], report["unchanged"]) == (False, [], ["a", "b"])


def test_write_config_json_errors_stay_text_with_exit_2(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["write-config", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ecs-xrole: error: --role-arn is missing")


def test_write_config_json_keeps_the_import_path_light(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_CONFIG_FILE": str(tmp_path / "config")}
    env.pop("ECS_CONTAINER_METADATA_URI_V4", None)
    done = run("write-config", "--role-arn", DEST, env=env)
    assert done.returncode == 0, done.stderr
    probe = (
        "import sys, runpy; sys.argv = ['ecs-xrole', 'write-config', '--role-arn', "
        f"{DEST!r}]; "
        "code = 0\n"
        "try:\n    runpy.run_module('ecs_xrole', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('ecs_xrole.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=9
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.splitlines()[-1]
    assert "ecs_xrole._metadata" not in loaded  # outside a task no metadata request is made


def test_session_name_is_not_guessed_outside_a_task(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4", raising=False)
    assert main(["write-config", "--role-arn", DEST]) == 0
    assert profiles_of(cfg)["cross-account"] == {
        "role_arn": DEST,
        "credential_source": "EcsContainer",
    }


def test_session_name_given_wins_over_the_task_id(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A metadata URI nobody answers: with a name given, no request is made at all.
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", "http://127.0.0.1:9/v4/x")
    assert main(["write-config", "--role-arn", DEST, "--role-session-name", "batch-7"]) == 0
    assert profiles_of(cfg)["cross-account"]["role_session_name"] == "batch-7"


def test_write_config_json_from_env_with_nothing_to_write(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A script still gets an object to parse, saying nothing was written.
    code, report = write_json(capsys, "--from-env")
    assert code == 0
    assert report == {
        "path": str(cfg),
        "mode": "write",
        "changed": False,
        "created": False,
        "written": [],
        "unchanged": [],
    }
    assert not cfg.exists()
