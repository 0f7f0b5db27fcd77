"""The local-development opt-in, ``ECS_XROLE_SOURCE_PROFILE``, on the loopback stand-ins.

A laptop here is: no container endpoint, the fake AWS (moto on loopback) as ``AWS_ENDPOINT_URL``,
and a temporary AWS config and credentials file whose profile ``dev`` holds the static keys of
an IAM user in the fake source account. The real AWS CLI runs as a subprocess where a test
says so.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
pytest.importorskip("ecs_xrole.testing._stack")

import ecs_xrole
from ecs_xrole import _profiles as profiles
from ecs_xrole import cli
from ecs_xrole._session import clear_caches
from ecs_xrole.cli import _env as cli_env
from ecs_xrole.errors import EndpointNotConfiguredError, InvalidInputError

SOURCE = "111122223333"
DEST = "555566667777"
BIN = Path(sys.executable).parent
AWS = BIN / "aws"
ENDPOINT_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "ECS_CONTAINER_METADATA_URI_V4",
)
AMBIENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    profiles.SOURCE_PROFILE_ENV,
)


def write_files(home: Path, keys: tuple[str, str]) -> tuple[Path, Path]:
    aws_dir = home / ".aws"
    aws_dir.mkdir(parents=True, exist_ok=True)
    config = aws_dir / "config"
    credentials = aws_dir / "credentials"
    config.write_text("[profile dev]\nregion = us-east-1\n\n[profile empty]\nregion = us-east-1\n")
    credentials.write_text(
        f"[dev]\naws_access_key_id = {keys[0]}\naws_secret_access_key = {keys[1]}\n"
    )
    return config, credentials


@pytest.fixture
def laptop(
    fake_aws: Any,
    source_account_keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """No endpoint; profile ``dev`` with static keys of the source account; moto as AWS."""
    for name in (*ENDPOINT_VARIABLES, *AMBIENT):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    config, credentials = write_files(home, source_account_keys)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ENDPOINT_URL", fake_aws.endpoint_url)
    monkeypatch.setenv("AWS_REGION", fake_aws.region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", fake_aws.region)  # the AWS CLI v1 reads only this
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    clear_caches()
    yield fake_aws
    clear_caches()


def run(argv: list[Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=dict(os.environ), timeout=9
    )


# --- the library ------------------------------------------------------------------------------


def test_get_session_assumes_the_role_from_the_source_profile(
    laptop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "dev")
    session = ecs_xrole.get_session(laptop.destination_role_arn)
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == DEST
    assert ":assumed-role/destination-account-role/" in identity["Arn"]
    client = ecs_xrole.get_client("sts", laptop.destination_role_arn)
    assert client.get_caller_identity()["Account"] == DEST
    # get_credentials shares the one assumed-role object, and the one source per profile.
    calls = laptop.assume_role_calls
    credentials = ecs_xrole.get_credentials(laptop.destination_role_arn)
    assert credentials.get_frozen_credentials().access_key
    assert laptop.assume_role_calls == calls
    first, _ = profiles.source_credentials("dev")
    again, region = profiles.source_credentials("dev")
    assert first is again
    assert region == "us-east-1"


def test_the_source_profile_is_cached_apart_from_the_endpoint(
    ecs_xrole_env: Any,
    source_account_keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both an endpoint and the opt-in: the opt-in wins, the endpoint is not called, -v says so."""
    config, credentials = write_files(tmp_path, source_account_keys)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    role = ecs_xrole_env.aws.destination_role_arn
    from_endpoint = ecs_xrole.get_credentials(role)
    requests = ecs_xrole_env.endpoint.requests
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "dev")
    with caplog.at_level(logging.INFO, logger="ecs_xrole"):
        from_profile = ecs_xrole.get_credentials(role)
    assert from_profile is not from_endpoint
    assert ecs_xrole_env.endpoint.requests == requests
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "ECS_XROLE_SOURCE_PROFILE=dev is set, so it wins" in said
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in said
    session = ecs_xrole.get_session(role)
    assert session.client("sts").get_caller_identity()["Account"] == DEST
    monkeypatch.delenv(profiles.SOURCE_PROFILE_ENV)
    assert ecs_xrole.get_credentials(role) is from_endpoint


def test_a_missing_source_profile_is_named_with_the_fix(
    laptop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "nope")
    with pytest.raises(InvalidInputError) as caught:
        ecs_xrole.get_session(laptop.destination_role_arn)
    text = str(caught.value)
    assert "ECS_XROLE_SOURCE_PROFILE 'nope'" in text
    assert "no such profile" in text
    assert "profiles there: dev, empty" in text
    assert "aws configure --profile nope" in text
    assert "aws configure sso --profile nope" in text


def test_a_profile_without_credentials_never_falls_back_to_ambient_ones(
    laptop: Any, source_account_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keys in the environment would be botocore's fallback: the opt-in must not use them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", source_account_keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", source_account_keys[1])
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "empty")
    calls = laptop.assume_role_calls
    with pytest.raises(InvalidInputError) as caught:
        ecs_xrole.get_session(laptop.destination_role_arn)
    assert "holds no credentials" in str(caught.value)
    assert "never falls back" in str(caught.value)
    assert laptop.assume_role_calls == calls


def test_without_endpoint_or_opt_in_the_error_names_the_opt_in(laptop: Any) -> None:
    with pytest.raises(EndpointNotConfiguredError) as caught:
        ecs_xrole.get_session(laptop.destination_role_arn)
    assert "ECS_XROLE_SOURCE_PROFILE=<profile>" in str(caught.value)
    assert "--source-profile" in str(caught.value)


def test_a_malformed_opt_in_is_bad_input(laptop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "[dev]")
    with pytest.raises(InvalidInputError, match="ECS_XROLE_SOURCE_PROFILE"):
        ecs_xrole.get_session(laptop.destination_role_arn)


# --- the command line -------------------------------------------------------------------------


def test_write_config_writes_source_profile_and_the_aws_cli_uses_it(
    laptop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed next to this Python")
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "dev")
    assert cli.main(["write-config", "--role-arn", laptop.destination_role_arn]) == 0
    text = Path(os.environ["AWS_CONFIG_FILE"]).read_text()
    assert "[profile cross-account]\n" in text
    assert "source_profile = dev\n" in text
    assert "credential_source" not in text
    done = run([AWS, "sts", "get-caller-identity", "--profile", "cross-account"])
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert identity["Account"] == DEST
    assert ":assumed-role/destination-account-role/" in identity["Arn"]


def test_write_config_source_profile_option_wins_over_the_variable(
    laptop: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "dev")
    argv = ["write-config", "--role-arn", laptop.destination_role_arn]
    assert cli.main([*argv, "--profile", "a", "--source-profile", "empty"]) == 0
    assert cli.main([*argv, "--profile", "b"]) == 0
    monkeypatch.delenv(profiles.SOURCE_PROFILE_ENV)
    assert cli.main([*argv, "--profile", "c"]) == 0
    text = Path(os.environ["AWS_CONFIG_FILE"]).read_text()
    a, b, c = (text.split(f"[profile {n}]\n")[1].split("\n\n")[0] for n in "abc")
    assert "source_profile = empty" in a
    assert "credential_source" not in a
    assert "source_profile = dev" in b
    assert "credential_source" not in b
    assert "credential_source = EcsContainer" in c
    assert "source_profile" not in c
    # A profile may not be its own source: nothing is written.
    before = Path(os.environ["AWS_CONFIG_FILE"]).read_bytes()
    assert cli.main([*argv, "--profile", "d", "--source-profile", "d"]) == 2
    assert "cannot be its own source" in capsys.readouterr().err
    assert Path(os.environ["AWS_CONFIG_FILE"]).read_bytes() == before


def test_write_config_from_env_takes_the_opt_in() -> None:
    [profile] = cli_env.profiles_from_env(
        {
            "ECS_XROLE_ROLE_ARN": f"arn:aws:iam::{DEST}:role/x",
            "ECS_XROLE_SOURCE_PROFILE": "dev",
        },
        command=("/x",),
    )
    assert profile.settings() == {
        "role_arn": f"arn:aws:iam::{DEST}:role/x",
        "source_profile": "dev",
    }
    # On its own the opt-in is not a stray variable: there is just nothing to write.
    assert cli_env.profiles_from_env({"ECS_XROLE_SOURCE_PROFILE": "dev"}) == []


def test_credential_process_line_carries_the_source_profile() -> None:
    from ecs_xrole._config.model import Profile

    profile = Profile(
        "p",
        f"arn:aws:iam::{DEST}:role/x",
        credential_process=True,
        command=("/bin/ecs-xrole",),
        source_profile="dev",
    )
    assert profile.settings()["credential_process"].endswith("--source-profile dev")


def test_whoami_with_the_opt_in_shows_the_source_and_the_destination(
    laptop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    role = laptop.destination_role_arn
    assert cli.main(["whoami", "--source-profile", "dev", "--role-arn", role, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task_role"]["account"] == SOURCE
    assert ":user/developer-" in report["task_role"]["arn"]
    assert report["destination"]["account"] == DEST
    assert report["source"] == "profile dev (ECS_XROLE_SOURCE_PROFILE)"
    assert profiles.SOURCE_PROFILE_ENV not in os.environ  # set for the run only
    assert cli.main(["whoami", "--source-profile", "dev", "--role-arn", role]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("source:")
    assert f"(account {SOURCE})" in lines[0]
    assert lines[1].startswith("destination:")
    assert f"(account {DEST})" in lines[1]
    assert lines[2] == "via:         profile dev (ECS_XROLE_SOURCE_PROFILE)"


def test_whoami_without_endpoint_or_opt_in_names_the_opt_in(
    laptop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["whoami", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "ECS_XROLE_SOURCE_PROFILE" in report["error"]["message"]


def test_whoami_missing_source_profile_is_bad_input(
    laptop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["whoami", "--source-profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--source-profile" not in err or "'nope'" in err
    assert "no such profile" in err
    assert "nope" in err


def test_credential_process_with_the_opt_in(
    laptop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    role = laptop.destination_role_arn
    assert cli.main(["credential-process", "--source-profile", "dev", "--role-arn", role]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["Version"] == 1
    assert document["AccessKeyId"]


def test_the_fast_front_sees_the_opt_in_come_and_go(
    ecs_xrole_env: Any,
    source_account_keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """get_client's cached fast path is keyed by the opt-in too: setting or clearing
    ECS_XROLE_SOURCE_PROFILE between two calls changes the source."""
    config, credentials = write_files(tmp_path, source_account_keys)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    role = ecs_xrole_env.aws.destination_role_arn
    from_endpoint = ecs_xrole.get_client("sts", role)
    monkeypatch.setenv(profiles.SOURCE_PROFILE_ENV, "dev")
    requests = ecs_xrole_env.endpoint.requests
    from_profile = ecs_xrole.get_client("sts", role)
    assert from_profile is not from_endpoint
    assert from_profile.get_caller_identity()["Account"] == DEST
    assert ecs_xrole_env.endpoint.requests == requests
    monkeypatch.delenv(profiles.SOURCE_PROFILE_ENV)
    assert ecs_xrole.get_client("sts", role) is from_endpoint
