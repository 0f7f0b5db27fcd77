"""Doctor's checks of the destination: region, duration, clock skew, AssumeRole, identity."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ... import _policy as policy
from ..._option_table import PROFILE_OPTIONS
from ..._validate import (
    MAX_CHAINED_DURATION,
    duration_seconds,
    parse_role_arn,
)
from ...errors import Error
from .context import (
    DOCTOR_SESSION_NAME,
    MAX_SKEW_SECONDS,
    NOTE_SKEW_SECONDS,
    CheckResult,
    DoctorContext,
    _ago,
    _fail,
    _resolve_region,
)
from .endpoint import _sts_client, _sts_problem

if TYPE_CHECKING:
    pass


def check_region(ctx: DoctorContext) -> CheckResult:
    """Name the region and the STS endpoint the calls go to."""
    name = "region"
    region, origin = _resolve_region(ctx, use_metadata=True)
    ctx.region, ctx.region_from = region, origin
    import boto3

    # Placeholder keys: only the endpoint resolution is wanted, not the credential chain.
    client = boto3.Session(region_name=region).client(
        "sts",
        aws_access_key_id="unused",
        aws_secret_access_key="unused",  # noqa: S106 - a placeholder, never sent
    )
    url = client.meta.endpoint_url
    if region is None:
        return CheckResult(
            name,
            False,
            f"no region set; STS calls go to the global endpoint {url}",
            "set AWS_REGION (ECS sets it on Fargate), or region in the profile, or --region: "
            "clients for other services fail with NoRegionError without one",
        )
    return CheckResult(name, True, f"{region} (from {origin}); STS endpoint {url}")


def check_duration(ctx: DoctorContext) -> CheckResult:
    """Judge the session duration against the one-hour role-chaining limit."""
    name = "duration"
    raw = ctx.setting("duration_seconds")
    if raw is None:
        return CheckResult(
            name,
            True,
            f"not set: STS gives {MAX_CHAINED_DURATION} s, the role-chaining maximum "
            "(ecs-xrole refreshes before expiry)",
        )
    try:
        origin = ctx.settings_from.get("duration_seconds", "--duration-seconds")
        value: int | str = int(raw) if raw.isdigit() else raw
        seconds = duration_seconds(value, name=f"duration_seconds (from {origin})")
    except Error as exc:
        return _fail(name, exc)
    return CheckResult(
        name, True, f"{seconds} s, within the {MAX_CHAINED_DURATION} s role-chaining limit"
    )


def check_clock_skew(ctx: DoctorContext) -> CheckResult:
    """Compare the ``Date`` header of STS's answer with this machine's clock."""
    name = "clock-skew"
    if ctx.sts_date is None or ctx.sts_local_time is None:
        return CheckResult(name, None, "skipped: STS's answer carried no Date header")
    skew = (ctx.sts_local_time - ctx.sts_date).total_seconds()
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"this clock is {abs(skew):.0f} s {direction} STS (Date header, 1 s resolution)"
    if abs(skew) > MAX_SKEW_SECONDS:
        return CheckResult(
            name,
            False,
            detail,
            "synchronise the clock (chrony or systemd-timesyncd with the Amazon Time Sync "
            "Service at 169.254.169.123): AWS refuses signatures more than 5 minutes off",
        )
    if abs(skew) > NOTE_SKEW_SECONDS:
        detail += "; within the 5 minutes AWS allows, but worth synchronising"
    return CheckResult(name, True, detail)


def _denied_fix(ctx: DoctorContext, role: str, message: str) -> str:
    """The statements to add on each side, built from the real identities."""
    assert ctx.caller_arn is not None
    if ctx.credentials is not None and ctx.credentials.role_arn:
        task_role = parse_role_arn(ctx.credentials.role_arn, name="task role")
    else:
        task_role = policy.role_arn_from_caller(ctx.caller_arn)
    target = parse_role_arn(role)
    external_id = ctx.setting("external_id")
    identity = policy.identity_policy(task_role, target)["Statement"][0]
    trust = policy.trust_policy(task_role, external_id=external_id)["Statement"][0]
    side = ""
    if "identity-based policy" in message:
        side = " (STS says the identity policy is what is missing)"
    again = f"ecs-xrole policy --task-role-arn {task_role.arn} --role-arn {target.arn}"
    if external_id:
        again += f" --external-id {external_id}"
    lines = [
        f"allow the call on both sides (add whichever is missing{side}):",
        f"  1. identity policy of the task role {task_role.name} (account "
        f"{task_role.account_id}), add the statement:",
        f"     {json.dumps(identity)}",
        f"  2. trust policy of {target.name} (account {target.account_id}), add the statement:",
        f"     {json.dumps(trust)}",
        f"  The full documents and the aws iam commands: {again}",
    ]
    if not external_id:
        lines.append(
            "  If the trust policy requires an sts:ExternalId, pass it (--external-id, or "
            "external_id in the profile)."
        )
    else:
        lines.append(
            "  Check that the external ID matches the trust policy's sts:ExternalId exactly."
        )
    lines.append(
        f"  STS also answers AccessDenied when the role does not exist: check the ARN {target}."
    )
    return "\n".join(lines)


def check_assume_role(ctx: DoctorContext) -> CheckResult:
    """``AssumeRole`` into the destination role with the task role's credentials."""
    name = "assume-role"
    role = ctx.setting("role_arn")
    if role is None:
        return CheckResult(
            name, None, "skipped: no destination role (pass --role-arn or --profile)"
        )
    assert ctx.credentials is not None
    across = policy.cross_partition(ctx.caller_arn, role)
    if across is not None:
        return CheckResult(name, False, f"not attempted: {across}", policy.PARTITION_FIX)
    kwargs: dict[str, Any] = {
        "RoleArn": role,
        "RoleSessionName": ctx.setting("role_session_name") or DOCTOR_SESSION_NAME,
    }
    for row in PROFILE_OPTIONS:  # the settings a profile carries, as STS takes them
        value = ctx.setting(row.key or "")
        if value and row.sts is not None and row.sts not in kwargs:
            kwargs[row.sts] = int(str(value)) if row.kind == "seconds" else value
    from botocore.exceptions import ClientError

    from ..._credentials import TemporaryCredentials

    try:
        response = _sts_client(ctx, ctx.credentials).assume_role(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        if code == "AccessDenied":
            return CheckResult(
                name,
                False,
                f"STS refused {ctx.caller_arn} -> {role}: AccessDenied: {message}",
                _denied_fix(ctx, role, message),
            )
        detail, fix = _sts_problem(exc)
        return CheckResult(name, False, detail, fix)
    except Exception as exc:  # network and other botocore errors
        detail, fix = _sts_problem(exc)
        return CheckResult(name, False, detail, fix)
    raw = response["Credentials"]
    ctx.assumed = TemporaryCredentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expiration=raw["Expiration"],
        role_arn=role,
    )
    left = ctx.assumed.seconds_left()
    expires = f", expire in {_ago(left)}" if left is not None else ""
    return CheckResult(name, True, f"{response['AssumedRoleUser']['Arn']}{expires}")


def check_destination_identity(ctx: DoctorContext) -> CheckResult:
    """``GetCallerIdentity`` with the destination credentials: are we in the right account?"""
    name = "destination-identity"
    assert ctx.assumed is not None
    role = parse_role_arn(ctx.setting("role_arn"))
    try:
        response = _sts_client(ctx, ctx.assumed).get_caller_identity()
    except Exception as exc:
        detail, fix = _sts_problem(exc)
        return CheckResult(name, False, detail, fix)
    account = str(response["Account"])
    if account != role.account_id:
        return CheckResult(
            name,
            False,
            f"{response['Arn']} is in account {account}, not {role.account_id}",
            "check the role ARN and AWS_ENDPOINT_URL_STS: the answer came from another account",
        )
    return CheckResult(name, True, f"{response['Arn']} (account {account})")
