"""STS edge cases of assume_role, with botocore's Stubber (no network), and AssumeRoleParams."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.config
import botocore.session
import pytest
from botocore.stub import Stubber

from ecs_xrole._assume import AssumeRoleParams, assume_role
from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._refresh import RefreshingCredentials
from ecs_xrole._scheduler import Scheduler
from ecs_xrole.errors import AssumeRoleDeniedError, AssumeRoleError, InvalidInputError

ROLE = "arn:aws:iam::555566667777:role/team/destination-account-role"
OTHER_ROLE = "arn:aws:iam::555566667777:role/other-role"
TASK_ROLE = "arn:aws:iam::111122223333:role/my-ECS-task-role"


def sts_client(
    endpoint_url: str | None = None, config: botocore.config.Config | None = None
) -> Any:
    session = botocore.session.Session()
    return session.create_client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=config,
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


class CountingSource:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> TemporaryCredentials:
        self.calls += 1
        return TemporaryCredentials(
            access_key_id="ASIASOURCE",
            secret_access_key="x" * 40,
            session_token="y" * 40,
            expiration=datetime.now(timezone.utc) + timedelta(hours=6),
            role_arn=TASK_ROLE,
        )


def source_credentials() -> tuple[CountingSource, RefreshingCredentials]:
    fetch = CountingSource()
    creds = RefreshingCredentials(
        fetch, method="test", description="task role", scheduler=Scheduler(start_thread=False)
    )
    creds.get_frozen_credentials()
    return fetch, creds


def test_params_request_maps_every_option() -> None:
    params = AssumeRoleParams.build(
        ROLE,
        external_id="ext-123",
        duration_seconds=timedelta(minutes=20),
        policy={"Version": "2012-10-17", "Statement": []},
        policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        tags={"team": "billing"},
        source_identity="alice",
    )
    request = params.request("sess")
    assert request == {
        "RoleArn": ROLE,
        "RoleSessionName": "sess",
        "ExternalId": "ext-123",
        "DurationSeconds": 1200,
        "Policy": '{"Version":"2012-10-17","Statement":[]}',
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        "Tags": [{"Key": "team", "Value": "billing"}],
        "SourceIdentity": "alice",
    }
    assert hash(params) == hash(AssumeRoleParams.build(ROLE, **_same_options()))


def _same_options() -> dict[str, Any]:
    return {
        "external_id": "ext-123",
        "duration_seconds": 1200,
        "policy": '{"Version":"2012-10-17","Statement":[]}',
        "policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "tags": {"team": "billing"},
        "source_identity": "alice",
    }


def test_duration_over_an_hour_explains_role_chaining() -> None:
    with pytest.raises(InvalidInputError) as info:
        AssumeRoleParams.build(ROLE, duration_seconds=timedelta(hours=2))
    text = str(info.value)
    assert "role chaining" in text
    assert "3600" in text


def test_success_returns_destination_credentials() -> None:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_response("assume_role", ok_response(), {"RoleArn": ROLE, "RoleSessionName": "s1"})
        creds = assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert creds.account_id == "555566667777"
    assert creds.role_arn == ROLE
    assert creds.expiration is not None
    assert creds.expiration.tzinfo is not None


def test_expired_token_refreshes_source_and_retries_once(caplog: pytest.LogCaptureFixture) -> None:
    fetch, source = source_credentials()
    sts = sts_client()
    caplog.set_level("INFO", logger="ecs_xrole.assume")
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "ExpiredToken", "The security token is expired")
        stub.add_response("assume_role", ok_response())
        assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1", source=source)
    assert fetch.calls == 2
    assert [r.getMessage() for r in caplog.records if r.name == "ecs_xrole.assume"] == [
        f"STS says the source credentials ({source.description}) have expired; refreshing them "
        "and retrying once"
    ]


def test_expired_token_twice_is_an_error() -> None:
    fetch, source = source_credentials()
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "ExpiredToken", "expired")
        stub.add_client_error("assume_role", "ExpiredToken", "expired")
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1", source=source)
    assert info.value.code == "ExpiredToken"
    assert fetch.calls == 2


def test_access_denied_names_caller_from_the_source_and_builds_policies() -> None:
    _, source = source_credentials()
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "not authorized", http_status_code=403)
        with pytest.raises(AssumeRoleDeniedError) as info:
            assume_role(
                sts,
                AssumeRoleParams.build(ROLE, external_id="ext-1"),
                session_name="s1",
                source=source,
            )
    error = info.value
    assert error.caller_arn == TASK_ROLE
    assert error.trust_policy["Statement"][0]["Principal"] == {"AWS": TASK_ROLE}
    assert error.trust_policy["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": "ext-1"}
    }
    assert error.identity_policy["Statement"][0]["Resource"] == ROLE


def test_access_denied_caller_parsed_from_the_sts_message() -> None:
    sts = sts_client()
    message = (
        "User: arn:aws:sts::111122223333:assumed-role/my-ECS-task-role/abc is not authorized "
        f"to perform: sts:AssumeRole on resource: {ROLE}"
    )
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", message, http_status_code=403)
        with pytest.raises(AssumeRoleDeniedError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert info.value.trust_policy["Statement"][0]["Principal"] == {"AWS": TASK_ROLE}


def test_access_denied_with_unknown_caller_is_still_explained() -> None:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "denied", http_status_code=403)
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert not isinstance(info.value, AssumeRoleDeniedError)
    assert "trust policy" in str(info.value)


def test_chaining_validation_error_from_sts_says_how_to_fix() -> None:
    sts = sts_client()
    message = (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining."
    )
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "ValidationError", message)
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert "3600" in str(info.value)


def test_session_name_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="role_session_name"):
        assume_role(sts_client(), AssumeRoleParams.build(ROLE), session_name="bad name!")


# -- error translation (issue 14) ------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sts_unreachable_is_an_assume_role_error_naming_the_role() -> None:
    from ecs_xrole._assume import sts_config

    session = botocore.session.Session()
    sts = session.create_client(
        "sts",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=sts_config().merge(
            botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
        ),
    )
    with pytest.raises(AssumeRoleError) as info:
        assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1", deadline=8)
    assert type(info.value) is AssumeRoleError
    assert "could not reach STS" in str(info.value)
    assert ROLE in str(info.value)
    assert "AWS_ENDPOINT_URL_STS" in str(info.value)
    assert (info.value.role_arn, info.value.code) == (ROLE, None)


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("RegionDisabledException", "activate STS in this region"),
        ("Throttling", "reduce the AssumeRole rate"),
        ("ThrottlingException", "reduce the AssumeRole rate"),
        ("MalformedPolicyDocument", "fix the session policy"),
        ("PackedPolicyTooLarge", "shorten the session policy or the session tags"),
        ("ValidationError", "see the STS error"),  # not the chaining one
        ("SomethingNew", "see the STS error"),
    ],
)
def test_each_sts_error_code_gets_its_fix(code: str, fix: str) -> None:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", code, f"{code} happened")
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert type(info.value) is AssumeRoleError
    assert info.value.code == code
    assert info.value.role_arn == ROLE
    assert fix in str(info.value)
    assert f"{code} happened" in str(info.value)
    assert ROLE in str(info.value)


def test_expired_token_without_our_source_is_not_retried() -> None:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "ExpiredToken", "expired")
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
        stub.assert_no_pending_responses()
    assert info.value.code == "ExpiredToken"
    assert "host clock" in str(info.value)


def test_access_denied_to_a_user_caller_is_explained_without_policies() -> None:
    sts = sts_client()
    message = (
        "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: sts:AssumeRole"
    )
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", message, http_status_code=403)
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert type(info.value) is AssumeRoleError
    assert info.value.caller_arn == "arn:aws:iam::111122223333:user/bob"
    assert info.value.code == "AccessDenied"
    assert "was denied" in str(info.value)


def test_access_denied_fix_names_both_accounts_and_the_external_id_condition() -> None:
    _, source = source_credentials()
    sts = sts_client()
    for external_id, says_condition in ((None, False), ("ext-1", True)):
        with Stubber(sts) as stub:
            stub.add_client_error("assume_role", "AccessDenied", "no", http_status_code=403)
            with pytest.raises(AssumeRoleDeniedError) as info:
                assume_role(
                    sts,
                    AssumeRoleParams.build(ROLE, external_id=external_id),
                    session_name="s1",
                    source=source,
                )
        text = str(info.value)
        assert "111122223333" in text
        assert "555566667777" in text
        assert ("with the sts:ExternalId condition" in text) is says_condition
        assert info.value.code == "AccessDenied"


def test_expiration_is_always_utc_aware() -> None:
    naive = ok_response()
    naive["Credentials"]["Expiration"] = datetime(2030, 1, 1, 12, 0)
    offset = ok_response()
    offset["Credentials"]["Expiration"] = datetime(
        2030, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))
    )
    for response in (naive, offset):
        sts = sts_client()
        with Stubber(sts) as stub:
            stub.add_response("assume_role", response)
            creds = assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
        assert creds.expiration == datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
        assert creds.expiration.utcoffset() == timedelta(0)
        assert creds.access_key_id == "ASIAEXAMPLEEXAMPLE"
        assert creds.secret_access_key == "s" * 40
        assert creds.session_token == "t" * 100


def test_a_request_without_options_sends_only_role_and_session_name() -> None:
    params = AssumeRoleParams.build(ROLE)
    assert params.request("s1") == {"RoleArn": ROLE, "RoleSessionName": "s1"}
    assert (params.policy_arns, params.tags) == ((), ())


def test_sts_config_bounds_every_call() -> None:
    from ecs_xrole import _assume as assume

    config = assume.sts_config(user_agent_extra="x/1")
    assert config.connect_timeout == assume.STS_CONNECT_TIMEOUT
    assert config.read_timeout == assume.STS_READ_TIMEOUT
    assert config.retries == {"mode": "standard", "total_max_attempts": assume.STS_MAX_ATTEMPTS}
    assert config.user_agent_extra == "x/1"


# -- the STS deadline and its bookkeeping ---------------------------------------------------


def _slow(sts: Any, seconds: float) -> None:
    """Make each call of this client wait ``seconds`` before the Stubber answers (a slow STS)."""

    def wait(**_: Any) -> None:
        time.sleep(seconds)

    sts.meta.events.register("before-parameter-build.sts.AssumeRole", wait)


def test_sts_that_does_not_answer_by_the_deadline_is_a_typed_error() -> None:
    sts = sts_client("http://127.0.0.1:1")  # the late call, after the Stubber, stays on loopback
    _slow(sts, 1.0)
    with Stubber(sts) as stub:
        stub.add_response("assume_role", ok_response())
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1", deadline=0.3)
    assert str(info.value) == (
        f"AssumeRole of {ROLE} got no answer from STS within 0.3 s. Fix: check the network path "
        "to STS (security groups, NAT, proxy, VPC endpoint), the region, and "
        "AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL if set"
    )


def test_each_call_asks_sts_again_once_the_last_one_ended() -> None:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_response("assume_role", ok_response())
        stub.add_client_error("assume_role", "Throttling", "Rate exceeded")
        stub.add_response("assume_role", ok_response())
        assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
        with pytest.raises(AssumeRoleError):
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
        assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
        stub.assert_no_pending_responses()  # three calls, three answers: none was shared


def test_concurrent_calls_for_different_roles_are_not_shared() -> None:
    sts = sts_client("http://127.0.0.1:1")
    _slow(sts, 0.3)
    results: dict[str, Any] = {}

    def call(role: str) -> None:
        try:
            results[role] = assume_role(sts, AssumeRoleParams.build(role), session_name="s1")
        except Exception as exc:  # handed to the test
            results[role] = exc

    with Stubber(sts) as stub:
        for _ in range(2):
            stub.add_response("assume_role", ok_response())
        threads = [threading.Thread(target=call, args=(r,)) for r in (ROLE, OTHER_ROLE)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        stub.assert_no_pending_responses()
    assert {r: c.role_arn for r, c in results.items()} == {ROLE: ROLE, OTHER_ROLE: OTHER_ROLE}


def test_the_expiry_is_in_utc_whatever_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        sts = sts_client()
        with Stubber(sts) as stub:
            stub.add_response("assume_role", ok_response())
            creds = assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert creds.expiration is not None
    assert creds.expiration.utcoffset() == timedelta(0)


def test_sts_that_cannot_be_reached_or_credentials_that_cannot_be_used_say_so() -> None:
    unreachable = sts_client(
        "http://127.0.0.1:1",
        botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    with pytest.raises(AssumeRoleError) as info:
        assume_role(unreachable, AssumeRoleParams.build(ROLE), session_name="s1")
    assert info.value.what.startswith(f"AssumeRole of {ROLE} could not reach STS: ")
    assert info.value.fix == (
        "check the network path to STS, the region, and AWS_ENDPOINT_URL_STS or "
        "AWS_ENDPOINT_URL if set"
    )
    assert info.value.role_arn == ROLE
    # A request that cannot be signed never leaves.
    unsignable = sts_client(
        "http://127.0.0.1:1", botocore.config.Config(signature_version="no-such-signer")
    )
    with pytest.raises(AssumeRoleError) as info:
        assume_role(unsignable, AssumeRoleParams.build(ROLE), session_name="s1")
    assert info.value.what.startswith(f"AssumeRole of {ROLE} failed before reaching STS: ")
    assert info.value.fix == (
        "the source credentials could not be loaded or used; with ECS_XROLE_SOURCE_PROFILE, "
        "`aws sts get-caller-identity --profile <that profile>` shows the same failure"
    )
    assert info.value.role_arn == ROLE
