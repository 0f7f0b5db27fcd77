"""FakeAWS over real HTTP: two accounts, trust policies enforced, STS knobs."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole.errors import Error, InvalidInputError
from ecs_xrole.testing._fake_aws import FakeAWS
from ecs_xrole.testing._iam_policy import _identity_decision
from ecs_xrole.testing.aws import (
    CLUSTER_NAME,
    DESTINATION_ACCOUNT_ID,
    EXTERNAL_ID,
    SOURCE_ACCOUNT_ID,
    TASK_ID,
    TASK_ROLE_NAME,
)

NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


_SESSION: Any = boto3.session.Session(region_name="us-east-1")  # one model cache for every client


def client(aws: FakeAWS, service: str, creds: TemporaryCredentials | dict[str, Any]) -> Any:
    """A boto3 client over HTTP to the fake, signed with ``creds``, without retries."""
    if isinstance(creds, TemporaryCredentials):
        keys = (creds.access_key_id, creds.secret_access_key, creds.session_token)
    else:
        keys = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return _SESSION.client(
        service,
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
        aws_session_token=keys[2],
        config=NO_RETRIES,
    )


@pytest.fixture
def task_sts(fake_aws: FakeAWS) -> Any:
    """An STS client signed with the task role's credentials."""
    return client(fake_aws, "sts", fake_aws.task_role_credentials())


def destination_creds(task_sts: Any, aws: FakeAWS) -> dict[str, Any]:
    answer: dict[str, Any] = task_sts.assume_role(
        RoleArn=aws.destination_role_arn, RoleSessionName="test-session"
    )["Credentials"]
    return answer


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_task_role_credentials_are_the_task_roles_session(fake_aws: FakeAWS) -> None:
    creds = fake_aws.task_role_credentials()
    assert creds.role_arn == fake_aws.task_role_arn
    assert creds.account_id == SOURCE_ACCOUNT_ID
    assert creds.access_key_id.startswith("ASIA")
    left = creds.seconds_left()
    assert left is not None
    assert left > 3600
    identity = client(fake_aws, "sts", creds).get_caller_identity()
    assert identity["Account"] == SOURCE_ACCOUNT_ID
    assert identity["Arn"] == (
        f"arn:aws:sts::{SOURCE_ACCOUNT_ID}:assumed-role/{TASK_ROLE_NAME}/{TASK_ID}"
    )


def test_task_role_credentials_lifetime_sets_the_expiry(fake_aws: FakeAWS) -> None:
    creds = fake_aws.task_role_credentials(lifetime=90)
    left = creds.seconds_left()
    assert left is not None
    assert 80 < left <= 90


def test_assume_destination_role_lands_in_the_destination_account(
    fake_aws: FakeAWS, task_sts: Any
) -> None:
    creds = destination_creds(task_sts, fake_aws)
    identity = client(fake_aws, "sts", creds).get_caller_identity()
    assert identity["Account"] == DESTINATION_ACCOUNT_ID
    assert identity["Arn"] == (
        f"arn:aws:sts::{DESTINATION_ACCOUNT_ID}:assumed-role/destination-account-role/test-session"
    )


def test_the_cluster_is_in_the_destination_account_only(fake_aws: FakeAWS, task_sts: Any) -> None:
    dest = client(fake_aws, "ecs", destination_creds(task_sts, fake_aws))
    assert dest.list_clusters()["clusterArns"] == [
        f"arn:aws:ecs:{fake_aws.region}:{DESTINATION_ACCOUNT_ID}:cluster/{CLUSTER_NAME}"
    ]
    source = client(fake_aws, "ecs", fake_aws.task_role_credentials())
    assert source.list_clusters()["clusterArns"] == []


def test_untrusting_role_is_denied_like_sts_does(fake_aws: FakeAWS, task_sts: Any) -> None:
    with pytest.raises(ClientError) as exc:
        task_sts.assume_role(RoleArn=fake_aws.untrusting_role_arn, RoleSessionName="nope")
    code, status, message = error_of(exc)
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f"User: arn:aws:sts::{SOURCE_ACCOUNT_ID}:assumed-role/{TASK_ROLE_NAME}/{TASK_ID} "
        f"is not authorized to perform: sts:AssumeRole on resource: {fake_aws.untrusting_role_arn}"
    )
    assert dict(exc.value.response["Error"]).get("Type") == "Sender"
    assert exc.value.response["ResponseMetadata"]["RequestId"]


def test_a_role_that_does_not_exist_is_denied(fake_aws: FakeAWS, task_sts: Any) -> None:
    missing = f"arn:aws:iam::{DESTINATION_ACCOUNT_ID}:role/no-such-role"
    with pytest.raises(ClientError) as exc:
        task_sts.assume_role(RoleArn=missing, RoleSessionName="nope")
    assert error_of(exc)[:2] == ("AccessDenied", 403)


@pytest.mark.parametrize("external_id", [None, "wrong-id"])
def test_external_id_role_needs_the_right_external_id(
    fake_aws: FakeAWS, task_sts: Any, external_id: str | None
) -> None:
    extra = {} if external_id is None else {"ExternalId": external_id}
    with pytest.raises(ClientError) as exc:
        task_sts.assume_role(RoleArn=fake_aws.external_id_role_arn, RoleSessionName="ext", **extra)
    assert error_of(exc)[:2] == ("AccessDenied", 403)


def test_external_id_role_with_the_right_external_id(fake_aws: FakeAWS, task_sts: Any) -> None:
    creds = task_sts.assume_role(
        RoleArn=fake_aws.external_id_role_arn, RoleSessionName="ext", ExternalId=EXTERNAL_ID
    )["Credentials"]
    assert (
        client(fake_aws, "sts", creds)
        .get_caller_identity()["Arn"]
        .endswith(":assumed-role/external-id-role/ext")
    )


def test_removing_the_identity_policy_denies_and_restoring_allows(
    fake_aws: FakeAWS, task_sts: Any
) -> None:
    fake_aws.remove_identity_policy()
    with pytest.raises(ClientError) as exc:
        destination_creds(task_sts, fake_aws)
    assert error_of(exc)[:2] == ("AccessDenied", 403)
    assert fake_aws.task_role_arn.split(":")[4] in error_of(exc)[2]
    fake_aws.restore_identity_policy()
    assert destination_creds(task_sts, fake_aws)["AccessKeyId"]


def test_reset_restores_a_removed_identity_policy(fake_aws: FakeAWS, task_sts: Any) -> None:
    fake_aws.remove_identity_policy()
    fake_aws.reset()
    assert destination_creds(task_sts, fake_aws)["AccessKeyId"]


def test_chained_role_from_the_destination_role_only(fake_aws: FakeAWS, task_sts: Any) -> None:
    dest_sts = client(fake_aws, "sts", destination_creds(task_sts, fake_aws))
    chained = dest_sts.assume_role(RoleArn=fake_aws.chained_role_arn, RoleSessionName="hop")
    identity = client(fake_aws, "sts", chained["Credentials"]).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{DESTINATION_ACCOUNT_ID}:assumed-role/chained-role/hop"
    # The task role is neither trusted by the chained role nor allowed by its own policy.
    with pytest.raises(ClientError) as exc:
        task_sts.assume_role(RoleArn=fake_aws.chained_role_arn, RoleSessionName="skip")
    assert error_of(exc)[:2] == ("AccessDenied", 403)


def test_role_chaining_is_limited_to_one_hour(fake_aws: FakeAWS, task_sts: Any) -> None:
    with pytest.raises(ClientError) as exc:
        task_sts.assume_role(
            RoleArn=fake_aws.destination_role_arn, RoleSessionName="long", DurationSeconds=3601
        )
    code, status, message = error_of(exc)
    assert (code, status) == ("ValidationError", 400)
    assert "1 hour session limit for roles assumed by role chaining" in message
    answer = task_sts.assume_role(
        RoleArn=fake_aws.destination_role_arn, RoleSessionName="hour", DurationSeconds=3600
    )
    assert answer["Credentials"]["AccessKeyId"]


@pytest.fixture
def extra_role(fake_aws: FakeAWS) -> Iterator[str]:
    """A destination role trusting the whole source account (identity policies decide)."""
    iam = fake_aws.admin_client("iam", DESTINATION_ACCOUNT_ID)
    name = f"account-trusting-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{SOURCE_ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    yield arn
    iam.delete_role(RoleName=name)


def test_account_trust_defers_to_managed_and_inline_identity_policies(
    fake_aws: FakeAWS, task_sts: Any, extra_role: str
) -> None:
    iam = fake_aws.admin_client("iam", SOURCE_ACCOUNT_ID)
    with pytest.raises(ClientError) as exc:  # not in the task role's identity policy
        task_sts.assume_role(RoleArn=extra_role, RoleSessionName="acct")
    assert error_of(exc)[:2] == ("AccessDenied", 403)

    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:Assume*", "Resource": "*"}],
    }
    policy_arn = iam.create_policy(
        PolicyName=f"allow-{uuid.uuid4().hex[:8]}", PolicyDocument=json.dumps(allow)
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=TASK_ROLE_NAME, PolicyArn=policy_arn)
    try:
        task_sts.assume_role(RoleArn=extra_role, RoleSessionName="acct")  # allowed now
        deny = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "Action": "STS:AssumeRole", "Resource": extra_role[:-3] + "???"}
            ],
        }
        iam.put_role_policy(
            RoleName=TASK_ROLE_NAME, PolicyName="deny-extra", PolicyDocument=json.dumps(deny)
        )
        with pytest.raises(ClientError) as exc:  # an explicit Deny wins
            task_sts.assume_role(RoleArn=extra_role, RoleSessionName="acct")
        assert error_of(exc)[:2] == ("AccessDenied", 403)
        # The Deny names only extra_role: the destination role is still allowed.
        assert destination_creds(task_sts, fake_aws)["AccessKeyId"]
    finally:
        iam.delete_role_policy(RoleName=TASK_ROLE_NAME, PolicyName="deny-extra")
        iam.detach_role_policy(RoleName=TASK_ROLE_NAME, PolicyArn=policy_arn)


def test_keys_the_fake_did_not_issue_are_not_checked(fake_aws: FakeAWS) -> None:
    stranger = {"AccessKeyId": "AKIASTRANGER0000", "SecretAccessKey": "x", "SessionToken": None}
    answer = client(fake_aws, "sts", stranger).assume_role(
        RoleArn=fake_aws.untrusting_role_arn, RoleSessionName="setup"
    )
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/untrusting-role/setup")


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("Throttling", 400),
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("ExpiredToken", 400),
        ("AccessDenied", 403),
    ],
)
def test_queued_faults_answer_one_assume_role_each(
    fake_aws: FakeAWS, task_sts: Any, fault: str, status: int
) -> None:
    fake_aws.queue_sts_faults(fault)
    with pytest.raises(ClientError) as exc:
        destination_creds(task_sts, fake_aws)
    code, got_status, message = error_of(exc)
    assert (code, got_status) == (fault, status)
    if fault == "ExpiredToken":
        assert message == "The security token included in the request is expired"
    if fault == "AccessDenied":
        assert f"assumed-role/{TASK_ROLE_NAME}/{TASK_ID}" in message
        assert fake_aws.destination_role_arn in message
    assert fake_aws.queued_sts_faults == ()
    assert destination_creds(task_sts, fake_aws)["AccessKeyId"]  # consumed: the next one works


def test_faults_are_served_in_order_and_only_to_assume_role(
    fake_aws: FakeAWS, task_sts: Any
) -> None:
    fake_aws.queue_sts_faults("Throttling", "InternalError")
    assert task_sts.get_caller_identity()["Account"] == SOURCE_ACCOUNT_ID  # not consumed
    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            destination_creds(task_sts, fake_aws)
        codes.append(error_of(exc)[0])
    assert codes == ["Throttling", "InternalError"]


def test_an_unknown_fault_is_refused(fake_aws: FakeAWS) -> None:
    with pytest.raises(InvalidInputError, match="Throttling"):
        fake_aws.queue_sts_faults("Throttled")
    assert fake_aws.queued_sts_faults == ()


def test_sts_down_fails_every_sts_call_but_not_other_services(
    fake_aws: FakeAWS, task_sts: Any
) -> None:
    dest_ecs = client(fake_aws, "ecs", destination_creds(task_sts, fake_aws))
    fake_aws.sts_down = True
    for call in (task_sts.get_caller_identity, lambda: destination_creds(task_sts, fake_aws)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc)[:2] == ("ServiceUnavailable", 503)
    assert dest_ecs.list_clusters()["clusterArns"]
    # The fake's own plumbing keeps working: the endpoint can still hand out task credentials.
    assert fake_aws.task_role_credentials().access_key_id
    fake_aws.sts_down = False
    assert task_sts.get_caller_identity()["Account"] == SOURCE_ACCOUNT_ID


def test_sts_lifetime_rewrites_the_expiration(fake_aws: FakeAWS, task_sts: Any) -> None:
    fake_aws.sts_lifetime = 120
    before = datetime.now(timezone.utc)
    expiration = destination_creds(task_sts, fake_aws)["Expiration"]
    left = (expiration - before).total_seconds()
    assert 115 <= left <= 121
    fake_aws.sts_lifetime = None
    later = destination_creds(task_sts, fake_aws)["Expiration"]
    assert (later - before).total_seconds() > 3000  # moto's own one hour


def test_counters_count_assume_role_requests_per_role(fake_aws: FakeAWS, task_sts: Any) -> None:
    assert fake_aws.assume_role_calls == 0  # task_role_credentials() is not counted
    destination_creds(task_sts, fake_aws)
    fake_aws.queue_sts_faults("Throttling")
    with pytest.raises(ClientError):
        destination_creds(task_sts, fake_aws)
    with pytest.raises(ClientError):
        task_sts.assume_role(RoleArn=fake_aws.untrusting_role_arn, RoleSessionName="nope")
    task_sts.get_caller_identity()
    assert fake_aws.assume_role_calls == 3
    assert fake_aws.assume_role_calls_for(fake_aws.destination_role_arn) == 2
    assert fake_aws.assume_role_calls_for(fake_aws.untrusting_role_arn) == 1
    assert fake_aws.assume_role_calls_for(fake_aws.chained_role_arn) == 0
    fake_aws.reset()
    assert fake_aws.assume_role_calls == 0


def test_reset_clears_every_knob(fake_aws: FakeAWS, task_sts: Any) -> None:
    fake_aws.queue_sts_faults("Throttling")
    fake_aws.sts_down = True
    fake_aws.sts_lifetime = 5
    fake_aws.reset()
    state: tuple[object, ...] = (
        fake_aws.queued_sts_faults,
        fake_aws.sts_down,
        fake_aws.sts_lifetime,
    )
    assert state == ((), False, None)
    assert destination_creds(task_sts, fake_aws)["AccessKeyId"]


def test_stop_refuses_connections_and_restart_keeps_port_and_state(
    fake_aws: FakeAWS, task_sts: Any
) -> None:
    port, url = fake_aws.port, fake_aws.endpoint_url
    fake_aws.stop()
    assert not fake_aws.running
    with pytest.raises(EndpointConnectionError):
        task_sts.get_caller_identity()
    fake_aws.start()
    assert (fake_aws.port, fake_aws.endpoint_url) == (port, url)
    # Keys issued before the outage still work, and are still checked.
    assert destination_creds(task_sts, fake_aws)["AccessKeyId"]
    with pytest.raises(ClientError):
        task_sts.assume_role(RoleArn=fake_aws.untrusting_role_arn, RoleSessionName="nope")


def test_a_second_instance_shares_the_accounts_but_not_the_knobs(fake_aws: FakeAWS) -> None:
    with FakeAWS() as other:
        assert other.port != fake_aws.port
        assert other.ensure_accounts() is False  # already set up in this process
        other.queue_sts_faults("Throttling")
        sts = client(other, "sts", other.task_role_credentials())
        with pytest.raises(ClientError):
            destination_creds(sts, other)
        assert destination_creds(sts, other)["AccessKeyId"]
        assert fake_aws.assume_role_calls == 0
    assert fake_aws.running


def test_only_loopback_hosts_are_accepted() -> None:
    with pytest.raises(InvalidInputError, match="loopback"):
        FakeAWS(host="0.0.0.0")
    assert FakeAWS(host="::1").endpoint_url == "http://[::1]:0"


def test_repr_shows_no_secrets(fake_aws: FakeAWS) -> None:
    creds = fake_aws.task_role_credentials()
    for text in (repr(fake_aws), repr(creds)):
        assert creds.secret_access_key not in text
        assert creds.access_key_id not in text


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        ([{"Effect": "Allow", "Action": "sts:*", "Resource": "arn:aws:iam::*:role/dest-?"}], True),
        (
            [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/x"}],
            False,
        ),
        ([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], False),
        (
            [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"},
            ],
            False,
        ),
        ([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}], True),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": "*",
                    "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
                }
            ],
            False,  # an unsupported condition never grants
        ),
    ],
)
def test_identity_policy_evaluation(statements: list[dict[str, Any]], allowed: bool) -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    assert (
        _identity_decision(
            [document],
            action="sts:AssumeRole",
            resource="arn:aws:iam::555566667777:role/dest-a",
            context={"sts:externalid": None},
        )
        is allowed
    )


def test_reset_recreates_the_accounts_after_moto_state_is_wiped(fake_aws: FakeAWS) -> None:
    from moto import mock_aws

    generation = fake_aws.generation
    with mock_aws():  # starting and stopping moto's mock resets every moto backend
        pass
    iam = fake_aws.admin_client("iam", SOURCE_ACCOUNT_ID)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=TASK_ROLE_NAME)
    fake_aws.reset()
    assert fake_aws.generation == generation + 1
    sts = client(fake_aws, "sts", fake_aws.task_role_credentials())
    dest = client(fake_aws, "ecs", destination_creds(sts, fake_aws))
    assert [arn.rsplit("/", 1)[1] for arn in dest.list_clusters()["clusterArns"]] == [CLUSTER_NAME]
    with pytest.raises(ClientError):
        sts.assume_role(RoleArn=fake_aws.untrusting_role_arn, RoleSessionName="nope")


def test_moto_account_id_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "123456789012")
    aws = FakeAWS()
    with pytest.raises(Error, match="MOTO_ACCOUNT_ID"):
        aws.start()
    assert not aws.running


def test_ipv6_loopback(fake_aws: FakeAWS) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    with FakeAWS(host="::1") as aws:
        assert aws.endpoint_url.startswith("http://[::1]:")
        sts = client(aws, "sts", aws.task_role_credentials())
        assert destination_creds(sts, aws)["AccessKeyId"]
