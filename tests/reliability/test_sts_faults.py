"""STS faults on the AssumeRole into the destination account: retried where botocore's standard
retry mode retries them, otherwise a typed error naming the STS code and a fix."""

from __future__ import annotations

import time
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole.errors import AssumeRoleDeniedError, AssumeRoleError

DESTINATION = "555566667777"


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(["Throttling", "Throttling"], id="throttling"),
        pytest.param(["InternalError", "ServiceUnavailable"], id="5xx"),
    ],
)
def test_transient_sts_faults_are_retried_then_succeed(
    env: Any, secret_guard: Any, faults: list[str]
) -> None:
    env.aws.queue_sts_faults(*faults)
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert sts.get_caller_identity()["Account"] == DESTINATION
    assert env.aws.queued_sts_faults == ()
    assert env.aws.assume_role_calls == len(faults) + 1
    assert env.endpoint.served == 1


def test_throttling_beyond_the_retries_is_a_typed_error(env: Any, secret_guard: Any) -> None:
    env.aws.queue_sts_faults(*["Throttling"] * 3)  # standard mode makes three attempts
    with pytest.raises(AssumeRoleError) as info:
        ecs_xrole.get_session(env.aws.destination_role_arn)
    error = info.value
    secret_guard.seen(error)
    assert error.code == "Throttling"
    assert error.role_arn == env.aws.destination_role_arn
    assert "Rate exceeded" in str(error)
    assert error.fix is not None
    assert "throttling" in error.fix
    assert env.aws.assume_role_calls == 3
    # A caller right behind gets the same error without a new AssumeRole: STS is not hammered.
    with pytest.raises(AssumeRoleError) as again:
        ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert again.value is error
    assert env.aws.assume_role_calls == 3


def test_access_denied_is_not_retried_and_carries_the_policies(env: Any, secret_guard: Any) -> None:
    env.aws.queue_sts_faults("AccessDenied")
    with pytest.raises(AssumeRoleDeniedError) as info:
        ecs_xrole.get_credentials(env.aws.destination_role_arn)
    error = info.value
    secret_guard.seen(error)
    assert error.caller_arn == env.aws.task_role_arn
    assert error.trust_policy["Statement"][0]["Principal"] == {"AWS": env.aws.task_role_arn}
    assert error.identity_policy["Statement"][0]["Resource"] == env.aws.destination_role_arn
    assert env.aws.assume_role_calls == 1


def test_expired_source_token_twice_is_a_typed_error(env: Any, secret_guard: Any) -> None:
    """The first ExpiredToken refreshes the task role's credentials and retries once; a second
    one is reported, with the clock named as the likely cause."""
    env.aws.queue_sts_faults("ExpiredToken", "ExpiredToken")
    with pytest.raises(AssumeRoleError) as info:
        ecs_xrole.get_credentials(env.aws.destination_role_arn)
    error = info.value
    secret_guard.seen(error)
    assert error.code == "ExpiredToken"
    assert error.fix is not None
    assert "clock" in error.fix
    assert env.aws.assume_role_calls == 2
    assert env.endpoint.served == 2  # the source credentials were fetched again once


def test_a_slow_sts_is_waited_for_once(env: Any, secret_guard: Any) -> None:
    """FakeAWS.assume_role_delay (used by the benchmarks) delays AssumeRole answers only."""
    env.aws.assume_role_delay = 0.3
    began = time.monotonic()
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert time.monotonic() - began >= 0.3  # the first call waited for STS
    for _ in range(3):
        assert sts.get_caller_identity()["Account"] == DESTINATION
    assert env.aws.assume_role_calls == 1  # later calls reuse the credentials in hand
    env.aws.reset()
    assert env.aws.assume_role_delay == 0.0
