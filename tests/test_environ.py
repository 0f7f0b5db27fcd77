"""ecs_xrole._environ: the one region order, and the callers that keep to it."""

from __future__ import annotations

import pytest

from ecs_xrole import _environ
from ecs_xrole._environ import TASK_METADATA, region_from_environment, resolve_region


def _no_call() -> str:
    raise AssertionError("the task metadata was asked although a region was found before it")


@pytest.mark.parametrize(
    ("region_name", "environ", "expected"),
    [
        ("ap-south-1", {"AWS_REGION": "eu-west-1"}, ("ap-south-1", "region_name")),
        ("", {"AWS_REGION": "eu-west-1"}, ("", "region_name")),  # given is given: caller checks
        (
            None,
            {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"},
            ("eu-west-1", "AWS_REGION"),
        ),
        (
            None,
            {"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-west-2"},
            ("us-west-2", "AWS_DEFAULT_REGION"),
        ),
        (None, {"AWS_DEFAULT_REGION": "us-west-2"}, ("us-west-2", "AWS_DEFAULT_REGION")),
    ],
)
def test_the_order_before_the_task_metadata(
    region_name: str | None, environ: dict[str, str], expected: tuple[str, str]
) -> None:
    assert resolve_region(region_name, environ=environ, task_region=_no_call) == expected


def test_the_task_metadata_comes_last_and_only_when_asked() -> None:
    assert resolve_region(None, environ={}) is None
    assert resolve_region(None, environ={}, task_region=lambda: "eu-north-1") == (
        "eu-north-1",
        TASK_METADATA,
    )
    assert resolve_region(None, environ={"AWS_REGION": ""}, task_region=lambda: None) is None


def test_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert region_from_environment() == ("ca-central-1", "AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "sa-east-1")
    assert region_from_environment() == ("sa-east-1", "AWS_REGION")
    assert _environ.REGION_VARIABLES == ("AWS_REGION", "AWS_DEFAULT_REGION")


def test_the_library_checks_what_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecs_xrole import _session
    from ecs_xrole.errors import InvalidInputError

    monkeypatch.setattr(_session, "task_region", _no_call)
    monkeypatch.setenv("AWS_REGION", "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "not a region")
    with pytest.raises(InvalidInputError, match="AWS_DEFAULT_REGION"):
        _session.resolve_region()
    assert _session.resolve_region("eu-west-3") == "eu-west-3"
    with pytest.raises(InvalidInputError, match="region_name"):
        _session.resolve_region("")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setattr(_session, "task_region", lambda: "me-south-1")
    assert _session.resolve_region() == "me-south-1"


def test_policy_reads_the_environment_but_never_the_task_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ecs_xrole.cli import policy

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert policy._default_region() == "us-east-1"
    monkeypatch.setenv("AWS_REGION", "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert policy._default_region() == "eu-central-1"


def test_doctor_puts_the_profile_s_region_ahead_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ecs_xrole.cli.doctor.context import DoctorContext, _resolve_region

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    ctx = DoctorContext(settings={"region": "us-west-1"}, settings_from={"region": "profile p"})
    assert _resolve_region(ctx) == ("us-west-1", "profile p")
    ctx.settings = {}
    assert _resolve_region(ctx) == ("eu-west-1", "AWS_REGION")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert _resolve_region(ctx) == (None, None)  # the metadata only with use_metadata


def test_the_one_naming_rule_of_the_profile_variables() -> None:
    from ecs_xrole._environ import ENV_PREFIX, profile_env_name

    assert ENV_PREFIX == "ECS_XROLE_"
    assert profile_env_name("cross-account") == "CROSS_ACCOUNT"
    assert profile_env_name("billing.prod-2") == "BILLING_PROD_2"
    assert profile_env_name("é") == "_"  # only ASCII letters and digits are kept
