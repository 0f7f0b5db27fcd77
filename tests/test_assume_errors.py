"""What an AssumeRole refusal says: the external ID, a role that may not exist, STS's request ID
and its ClientError as the cause (with no secret in the traceback), and partitions.

STS edge cases use botocore's Stubber (no network); the rest runs on the loopback stand-ins.
"""

from __future__ import annotations

import json
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ecs_xrole import cli
from ecs_xrole._assume import AssumeRoleParams, assume_role, explain_client_error
from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._policy import PARTITION_FIX
from ecs_xrole._refresh import RefreshingCredentials
from ecs_xrole._scheduler import Scheduler
from ecs_xrole.cli.policy import documents
from ecs_xrole.errors import AssumeRoleDeniedError, AssumeRoleError, InvalidInputError

ROLE = "arn:aws:iam::555566667777:role/destination-account-role"
CN_ROLE = "arn:aws-cn:iam::555566667777:role/destination-account-role"
TASK_ROLE = "arn:aws:iam::111122223333:role/my-ECS-task-role"
CLIENT_SECRET = "client-secret-Zq8vXw2LmN4pR6tY"
SOURCE_SECRET = "source-secret-Hk3jU9oP1aS5dF7g"
SOURCE_TOKEN = "source-token-Bv6nM2cX8zL4kJ0h"
REQUEST_ID = "c0ffee00-1234-4abc-9def-0123456789ab"


def sts_client() -> Any:
    return botocore.session.Session().create_client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=CLIENT_SECRET,
    )


def source(role_arn: str = TASK_ROLE) -> RefreshingCredentials:
    def fetch() -> TemporaryCredentials:
        return TemporaryCredentials(
            access_key_id="ASIASOURCEEXAMPLE",
            secret_access_key=SOURCE_SECRET,
            session_token=SOURCE_TOKEN,
            expiration=datetime.now(timezone.utc) + timedelta(hours=6),
            role_arn=role_arn,
        )

    creds = RefreshingCredentials(
        fetch, method="test", description="task role", scheduler=Scheduler(start_thread=False)
    )
    creds.get_frozen_credentials()
    return creds


def denied(params: AssumeRoleParams, *, caller: str = TASK_ROLE, code: str = "AccessDenied") -> Any:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error(
            "assume_role",
            code,
            f"User: {caller} is not authorized to perform: sts:AssumeRole",
            http_status_code=403,
            response_meta={"RequestId": REQUEST_ID},
        )
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, params, session_name="s1", source=source(caller))
    return info.value


def test_denied_without_external_id_says_the_trust_policy_may_require_one() -> None:
    error = denied(AssumeRoleParams.build(ROLE))
    assert isinstance(error, AssumeRoleDeniedError)
    text = str(error)
    assert "sts:ExternalId" in text
    assert "external_id=" in text
    assert "--external-id" in text
    assert f"check the ARN {ROLE}" in text
    assert "does not exist" in text


def test_denied_with_an_external_id_says_to_check_that_it_matches() -> None:
    error = denied(AssumeRoleParams.build(ROLE, external_id="ext-1"))
    text = str(error)
    assert "matches the sts:ExternalId" in text
    assert "with the sts:ExternalId condition" in text
    assert f"check the ARN {ROLE}" in text


def test_the_client_error_is_the_cause_and_the_request_id_is_shown() -> None:
    error = denied(AssumeRoleParams.build(ROLE))
    assert isinstance(error.__cause__, ClientError)
    assert error.__cause__.response["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert error.request_id == REQUEST_ID
    assert f"STS request ID {REQUEST_ID}" in str(error)
    assert error.__suppress_context__  # `from exc`: the cause is shown, not a second context


def test_other_sts_errors_keep_the_cause_and_request_id_too() -> None:
    sts = sts_client()
    with Stubber(sts) as stub:
        stub.add_client_error(
            "assume_role",
            "RegionDisabledException",
            "STS is not activated in this region",
            response_meta={"RequestId": REQUEST_ID},
        )
        with pytest.raises(AssumeRoleError) as info:
            assume_role(sts, AssumeRoleParams.build(ROLE), session_name="s1")
    assert isinstance(info.value.__cause__, ClientError)
    assert REQUEST_ID in str(info.value)
    assert info.value.code == "RegionDisabledException"


def test_no_secret_reaches_the_traceback_even_with_locals() -> None:
    """The chained ClientError goes into tracebacks (and error trackers that capture locals):
    neither the message, the cause nor any frame's locals may hold a secret."""
    error = denied(AssumeRoleParams.build(ROLE, external_id="ext-1"))
    plain = "".join(traceback.format_exception(error))
    with_locals = "".join(
        traceback.TracebackException.from_exception(error, capture_locals=True).format()
    )
    for text in (plain, with_locals, repr(error), repr(error.__cause__)):
        for secret in (CLIENT_SECRET, SOURCE_SECRET, SOURCE_TOKEN):
            assert secret not in text
    assert "ClientError" in plain
    assert REQUEST_ID in plain


def test_across_partitions_the_error_says_so_instead_of_policies() -> None:
    error = denied(AssumeRoleParams.build(CN_ROLE))
    assert not isinstance(error, AssumeRoleDeniedError)
    text = str(error)
    assert "across partitions" in text
    assert "'aws'" in text
    assert "'aws-cn'" in text
    assert "trust policy" not in text
    assert isinstance(error.__cause__, ClientError)
    # Whatever STS answers (here the keys are unknown to the other partition).
    error = denied(AssumeRoleParams.build(CN_ROLE), code="InvalidClientTokenId")
    assert "across partitions" in str(error)


def test_the_policy_command_refuses_roles_in_two_partitions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(InvalidInputError, match="across partitions"):
        documents(TASK_ROLE, CN_ROLE)
    code = cli.main(["policy", "--task-role-arn", TASK_ROLE, "--role-arn", CN_ROLE])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "across partitions" in captured.err
    assert "no policy can allow it" in captured.err


# --- on the stand-ins -------------------------------------------------------------------------


@pytest.fixture
def env(request: pytest.FixtureRequest) -> Any:
    pytest.importorskip("moto")
    pytest.importorskip("ecs_xrole.testing._stack")
    return request.getfixturevalue("ecs_xrole_env")


def test_a_role_that_does_not_exist_says_to_check_the_arn(env: Any) -> None:
    import ecs_xrole

    missing = "arn:aws:iam::555566667777:role/no-such-role"
    with pytest.raises(AssumeRoleDeniedError) as info:
        ecs_xrole.get_session(missing)
    text = str(info.value)
    assert f"check the ARN {missing}" in text
    assert "sts:ExternalId" in text
    assert isinstance(info.value.__cause__, ClientError)
    request_id = info.value.__cause__.response["ResponseMetadata"]["RequestId"]
    assert request_id
    assert f"STS request ID {request_id}" in text


def test_whoami_denied_mentions_the_external_id_and_the_arn(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    role = env.aws.external_id_role_arn
    assert cli.main(["whoami", "--role-arn", role]) == 1
    err = capsys.readouterr().err
    assert "sts:ExternalId" in err
    assert "--external-id" in err
    assert f"check the ARN {role}" in err
    assert "add this statement to the destination role's trust policy" in err
    assert cli.main(["whoami", "--role-arn", role, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "sts:ExternalId" in report["error"]["message"]


def test_doctor_says_a_partition_mismatch_cannot_work(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["doctor", "--timeout", "2", "--role-arn", CN_ROLE])
    out = capsys.readouterr().out
    assert code == 1
    line = next(text for text in out.splitlines() if " assume-role " in text)
    assert line.split()[0] == "FAIL"
    assert "across partitions" in out
    assert "add the statement" not in out


# -- explain_client_error, whole messages (pure: no client needed) ----------------------------


def client_error(code: str, message: str, request_id: str | None = REQUEST_ID) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": message}}
    if request_id is not None:
        response["ResponseMetadata"] = {"RequestId": request_id}
    return ClientError(response, "AssumeRole")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "message", "fix"),
    [
        ("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for "
         "roles assumed by role chaining.",
         "pass duration_seconds=3600 or less (the task role is itself an assumed role)"),
        ("ValidationError", "1 validation error detected", "see the STS error above"),
        ("ExpiredToken", "The security token included in the request is expired",
         "the source credentials expired; check the host clock and the credentials source"),
        ("ExpiredTokenException", "expired",
         "the source credentials expired; check the host clock and the credentials source"),
        ("RequestExpired", "Request has expired",
         "the source credentials expired; check the host clock and the credentials source"),
        ("RegionDisabledException", "STS is not activated in this region",
         "activate STS in this region (IAM console, Account settings) or use another region"),
        ("Throttling", "Rate exceeded",
         "STS is throttling this account; calls are retried, so reduce the AssumeRole rate"),
        ("ThrottlingException", "Rate exceeded",
         "STS is throttling this account; calls are retried, so reduce the AssumeRole rate"),
        ("MalformedPolicyDocument", "Syntax errors in policy", "fix the session policy document"),
        ("PackedPolicyTooLarge", "Packed size 120%",
         "shorten the session policy or the session tags"),
        ("SomethingNew", "Something new", "see the STS error above"),
    ],
)  # fmt: skip
def test_each_sts_error_reads_with_its_fix_and_request_id(
    code: str, message: str, fix: str
) -> None:
    error = explain_client_error(client_error(code, message), AssumeRoleParams.build(ROLE))
    assert type(error) is AssumeRoleError
    assert error.what == (
        f"AssumeRole of {ROLE} failed: {code}: {message.rstrip('.')} (STS request ID {REQUEST_ID})"
    )
    assert error.fix == fix
    assert str(error) == f"{error.what}. Fix: {fix}"
    assert (error.role_arn, error.code, error.request_id, error.caller_arn) == (
        ROLE, code, REQUEST_ID, None,
    )  # fmt: skip


def test_an_sts_error_without_code_or_request_id_says_error() -> None:
    error = explain_client_error(
        client_error("", "something broke", request_id=None), AssumeRoleParams.build(ROLE)
    )
    assert error.what == f"AssumeRole of {ROLE} failed: error: something broke"
    assert (error.code, error.request_id) == (None, None)


DENIED_BY = f"User: {TASK_ROLE} is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
NO_EXTERNAL_ID_HINT = (
    "If the trust policy requires an sts:ExternalId, pass it: external_id=... (Python), "
    "--external-id (command line) or external_id in the profile. STS also answers AccessDenied "
    f"when the role does not exist: check the ARN {ROLE} (account, path and name)"
)
EXTERNAL_ID_HINT = (
    "Check that the external ID given matches the sts:ExternalId of the trust policy's "
    "condition exactly. STS also answers AccessDenied when the role does not exist: check the "
    f"ARN {ROLE} (account, path and name)"
)


@pytest.mark.parametrize(
    ("external_id", "condition", "hint"),
    [(None, "", NO_EXTERNAL_ID_HINT),
     ("ext-1", " with the sts:ExternalId condition", EXTERNAL_ID_HINT)],
)  # fmt: skip
def test_a_denial_by_a_known_role_names_both_policies_to_change(
    external_id: str | None, condition: str, hint: str
) -> None:
    params = AssumeRoleParams.build(ROLE, external_id=external_id)
    error = explain_client_error(client_error("AccessDenied", DENIED_BY), params)
    assert isinstance(error, AssumeRoleDeniedError)
    assert error.what == (
        f"{TASK_ROLE} may not assume {ROLE}: STS answered AccessDenied ({DENIED_BY}) "
        f"(STS request ID {REQUEST_ID})"
    )
    assert error.fix == (
        "(1) attach an identity policy to my-ECS-task-role (account 111122223333) allowing "
        f"sts:AssumeRole on {ROLE}; (2) add a statement naming {TASK_ROLE} to the trust policy of "
        f"destination-account-role (account 555566667777){condition}. The exact documents are "
        "on this error as .identity_policy and .trust_policy, and `ecs-xrole policy` prints "
        f"them. {hint}"
    )
    assert (error.role_arn, error.caller_arn, error.code) == (ROLE, TASK_ROLE, "AccessDenied")
    assert error.identity_policy["Statement"][0]["Resource"] == ROLE
    assert error.identity_policy["Statement"][0]["Action"] == "sts:AssumeRole"
    trust = error.trust_policy["Statement"][0]
    assert trust["Principal"] == {"AWS": TASK_ROLE}
    assert ("Condition" in trust) is (external_id is not None)


def test_a_denial_names_the_role_of_an_assumed_role_caller_given_by_the_caller() -> None:
    session = "arn:aws:sts::111122223333:assumed-role/my-ECS-task-role/1a2b3c"
    error = explain_client_error(
        client_error("AccessDenied", "Not authorized"), AssumeRoleParams.build(ROLE),
        caller_arn=session,
    )  # fmt: skip
    assert isinstance(error, AssumeRoleDeniedError)
    assert error.what.startswith(f"{TASK_ROLE} may not assume {ROLE}: ")
    assert error.caller_arn == session


@pytest.mark.parametrize(
    ("message", "caller"),
    [("Not authorized to perform sts:AssumeRole", None),
     ("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: sts:AssumeRole",
      "arn:aws:iam::111122223333:user/alice")],
)  # fmt: skip
def test_a_denial_of_an_unknown_or_non_role_caller_gives_the_general_fix(
    message: str, caller: str | None
) -> None:
    error = explain_client_error(
        client_error("AccessDenied", message, request_id=None), AssumeRoleParams.build(ROLE)
    )
    assert type(error) is AssumeRoleError
    assert error.what == f"AssumeRole of {ROLE} was denied: {message}"
    assert error.fix == (
        "allow sts:AssumeRole on the role in the caller's identity policy, and add a statement "
        f"naming the caller to the role's trust policy. {NO_EXTERNAL_ID_HINT}"
    )
    assert (error.role_arn, error.code, error.caller_arn) == (ROLE, "AccessDenied", caller)


def test_a_denial_across_partitions_says_so_instead_of_policies() -> None:
    cn_caller = "arn:aws-cn:iam::111122223333:role/my-ECS-task-role"
    error = explain_client_error(
        client_error("AccessDenied", "denied", request_id=None), AssumeRoleParams.build(ROLE),
        caller_arn=cn_caller,
    )  # fmt: skip
    assert type(error) is AssumeRoleError
    assert error.what.startswith(f"AssumeRole of {ROLE} failed: AccessDenied: denied. ")
    assert "aws-cn" in error.what
    assert error.fix == PARTITION_FIX
    assert (error.code, error.caller_arn) == ("AccessDenied", cn_caller)


def test_an_sts_error_missing_its_code_or_message_reads_plainly() -> None:
    params = AssumeRoleParams.build(ROLE)
    no_code = explain_client_error(ClientError({"Error": {"Message": "odd"}}, "AssumeRole"), params)  # type: ignore[arg-type]
    assert (no_code.what, no_code.code) == (f"AssumeRole of {ROLE} failed: error: odd", None)
    no_message = explain_client_error(ClientError({"Error": {"Code": "Odd"}}, "AssumeRole"), params)  # type: ignore[arg-type]
    assert no_message.what == f"AssumeRole of {ROLE} failed: Odd: "


def test_the_caller_is_kept_on_every_sts_error_and_across_partitions_without_a_code() -> None:
    params = AssumeRoleParams.build(ROLE)
    error = explain_client_error(client_error("Throttling", "Rate exceeded"), params,
                                 caller_arn=TASK_ROLE)  # fmt: skip
    assert error.caller_arn == TASK_ROLE
    cn_caller = "arn:aws-cn:iam::111122223333:role/my-ECS-task-role"
    across = explain_client_error(client_error("", "denied", request_id=None), params,
                                  caller_arn=cn_caller)  # fmt: skip
    assert across.what.startswith(f"AssumeRole of {ROLE} failed: error: denied. ")
