"""The one table of the AssumeRole options (_option_table), and transitive_tag_keys through it."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from ecs_xrole import _option_table as table
from ecs_xrole._assume import AssumeRoleParams, assume_role
from ecs_xrole._config.model import MANAGED_KEYS, Profile, _from_process
from ecs_xrole.cli import main
from ecs_xrole.errors import InvalidInputError
from ecs_xrole.options import AssumeOptions

ROLE = "arn:aws:iam::555566667777:role/team/destination-account-role"


def sts_client() -> Any:
    return botocore.session.Session().create_client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def ok_response() -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE",
            "SecretAccessKey": "s" * 40,
            "SessionToken": "t" * 100,
            "Expiration": datetime.now(timezone.utc) + timedelta(hours=1),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLE:sess",
            "Arn": "arn:aws:sts::555566667777:assumed-role/destination-account-role/sess",
        },
    }


# The value type each kind of row takes from the library (AssumeOptions' annotations).
KIND_TYPES: dict[str, Any] = {
    "text": str | None,
    "seconds": int | timedelta | None,
    "arns": Iterable[str] | None,
    "tags": Mapping[str, str] | None,
    "keys": Sequence[str] | None,
}


def test_assume_options_are_the_table_rows_in_order_with_their_types() -> None:
    import boto3

    hints = typing.get_type_hints(AssumeOptions, localns={"boto3": boto3})
    assert list(hints) == [row.name for row in table.OPTIONS]
    special = {
        "policy": Mapping[str, Any] | str | None,
        "source_session": boto3.Session | None,
    }
    for row in table.OPTIONS:
        assert hints[row.name] == special.get(row.name, KIND_TYPES[row.kind]), row.name


def test_every_checker_is_in_validate_and_every_profile_row_has_a_flag() -> None:
    from ecs_xrole import _validate

    for row in table.OPTIONS:
        assert row.checker is None or callable(getattr(_validate, row.checker)), row.name
    for row in table.PROFILE_OPTIONS:
        assert row.flag is not None
        assert row.env is not None
        assert row.key in MANAGED_KEYS


def test_the_request_carries_transitive_tag_keys() -> None:
    params = AssumeRoleParams.build(
        ROLE, tags={"team": "billing", "env": "prod"}, transitive_tag_keys=["team"]
    )
    assert params.request("s1")["TransitiveTagKeys"] == ["team"]
    sts = sts_client()
    with Stubber(sts) as stub:
        expected = {
            "RoleArn": ROLE,
            "RoleSessionName": "s1",
            "Tags": [{"Key": "team", "Value": "billing"}, {"Key": "env", "Value": "prod"}],
            "TransitiveTagKeys": ["team"],
        }
        stub.add_response("assume_role", ok_response(), expected)
        assume_role(sts, params, session_name="s1")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"transitive_tag_keys": ["team"]}, "must be the key of a session tag"),
        ({"tags": {"env": "x"}, "transitive_tag_keys": ["team"]}, "must be the key of a session"),
        ({"tags": {"team": "x"}, "transitive_tag_keys": "team"}, "expected a list of tag keys"),
        ({"tags": {"team": "x"}, "transitive_tag_keys": ["bad!key"]}, "a tag key is 1-128"),
        ({"tags": {"team": "x"}, "transitive_tag_keys": [""]}, "a tag key is 1-128"),
        ({"tags": {"team": "x"}, "transitive_tag_keys": ["k"] * 51}, "at most 50"),
    ],
)
def test_bad_transitive_tag_keys_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        AssumeRoleParams.build(ROLE, **options)
    assert "transitive_tag_keys" in str(info.value)


def test_the_library_takes_transitive_tag_keys_and_refuses_them_before_any_call() -> None:
    import ecs_xrole

    with pytest.raises(InvalidInputError, match="must be the key of a session tag"):
        ecs_xrole.get_credentials(ROLE, tags={"a": "b"}, transitive_tag_keys=["team"])


def test_the_cli_flags_give_tags_and_transitive_keys() -> None:
    import argparse

    from ecs_xrole.cli._common import _add_role_options, role_kwargs

    parser = argparse.ArgumentParser()
    _add_role_options(parser, required=True)
    args = parser.parse_args(
        ["--role-arn", ROLE, "--tag", "team=billing", "--tag", "env=", "--transitive-tag-key",
         "team", "--duration-seconds", "900"]
    )  # fmt: skip
    assert role_kwargs(args) == {
        "duration_seconds": 900,
        "tags": {"team": "billing", "env": ""},
        "transitive_tag_keys": ["team"],
    }
    bad = parser.parse_args(["--role-arn", ROLE, "--transitive-tag-key", "team"])
    with pytest.raises(InvalidInputError, match="must be the key of a session tag"):
        role_kwargs(bad)
    with pytest.raises(InvalidInputError, match=r"--tag.*expected KEY=VALUE"):
        role_kwargs(parser.parse_args(["--role-arn", ROLE, "--tag", "team"]))


@pytest.mark.parametrize("flags", [["--tag", "team=x"], ["--transitive-tag-key", "team"]])
def test_write_config_refuses_what_a_profile_cannot_carry(
    tmp_path: Path, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("[profile other]\nregion = eu-west-1\n")
    before = cfg.read_bytes()
    argv = ["write-config", "--config-file", str(cfg), "--role-arn", ROLE, *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "an AWS CLI profile cannot carry" in err
    assert "ecs-xrole exec" in err
    assert cfg.read_bytes() == before


def test_the_credential_process_line_round_trips_and_credential_process_reads_it() -> None:
    import argparse
    import shlex

    from ecs_xrole.cli._common import _add_role_options, _add_source_profile

    profile = Profile(
        "p",
        ROLE,
        external_id="-starts-with-dash",
        role_session_name="s-1",
        duration_seconds=1200,
        region="eu-west-1",
        source_profile="dev",
        credential_process=True,
        command=("/opt/ecs xrole",),
    )
    line = profile.process_command()
    assert _from_process("p", line, None, "here") == profile
    # credential-process's own parser reads the same values from the line.
    parser = argparse.ArgumentParser()
    _add_role_options(parser, required=True)
    _add_source_profile(parser)
    words = shlex.split(line)
    args = parser.parse_args(words[words.index("credential-process") + 1 :])
    assert (args.role_arn, args.external_id, args.duration_seconds, args.region) == (
        ROLE,
        "-starts-with-dash",
        "1200",
        "eu-west-1",
    )


def test_a_hand_written_line_with_tags_is_refused_on_reading_back() -> None:
    line = f"/opt/ecs-xrole credential-process --role-arn {ROLE} --tag team=x"
    with pytest.raises(InvalidInputError, match="a profile cannot carry"):
        _from_process("p", line, None, "here")
