"""Doctor's checks of the profile: its keys, its credentials, the credential_process fallback."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..._deadline import run_within
from ..._option_table import PROFILE_OPTIONS, decode_process_line
from ..._validate import (
    check_external_id,
    check_session_name,
    parse_role_arn,
)
from ..._validate import check_region as valid_region
from ...errors import Error
from .context import CheckResult, DoctorContext, _fail
from .endpoint import _sts_problem

if TYPE_CHECKING:
    pass


def _read_profile(ctx: DoctorContext) -> tuple[str, dict[str, Any]]:
    """Load ``ctx.profile`` from the config file with botocore's own parser.

    Raises :class:`~ecs_xrole.errors.ConfigFileError`.
    """
    from botocore.configloader import load_config
    from botocore.exceptions import ConfigNotFound, ConfigParseError

    from ..._config.safe_io import config_path
    from ...errors import ConfigFileError

    path = os.path.expanduser(ctx.config_file) if ctx.config_file else config_path()
    write = f"ecs-xrole write-config --profile {ctx.profile} --role-arn <destination role ARN>"
    try:
        profiles: dict[str, dict[str, Any]] = load_config(path)["profiles"]
    except ConfigNotFound:
        raise ConfigFileError(
            f"the config file {path} does not exist", fix=f"write the profile: {write}", path=path
        ) from None
    except ConfigParseError as exc:
        raise ConfigFileError(
            f"the config file {path} cannot be parsed: {exc}",
            fix="fix or remove the broken section (a duplicate section is an error), then "
            f"rewrite the profile: {write}",
            path=path,
        ) from None
    assert ctx.profile is not None
    if ctx.profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigFileError(
            f"profile {ctx.profile!r} is not in {path} (profiles there: {known})",
            fix=f"write it: {write} (a section named [{ctx.profile}] without 'profile ' "
            "is ignored in the config file)",
            path=path,
        )
    return path, profiles[ctx.profile]


def _from_credential_process(command: str) -> dict[str, str]:
    """Settings (by profile key) named on an ``ecs-xrole credential-process`` command line,
    as the config writer reads the line back (``_option_table.decode_process_line``)."""
    line = decode_process_line(command)
    if line is None:
        return {}
    found = {"role_arn": line.get("role_arn")}
    found.update({row.key or "": line.get(row.name) for row in PROFILE_OPTIONS})
    return {key: value for key, value in found.items() if value is not None}


# credential_source values botocore accepts besides EcsContainer, and where they lead.
_OTHER_SOURCES = {
    "Environment": "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of the environment",
    "Ec2InstanceMetadata": "the EC2 instance profile, from instance metadata",
}


def check_profile(ctx: DoctorContext) -> CheckResult:
    """Read the profile (if one is named) and settle the effective settings.

    Options win over the profile. Without a profile and a role ARN, the AssumeRole checks are
    skipped.
    """
    name = "profile"
    explicit = [("role_arn", "--role-arn", ctx.role_arn)]
    for row in PROFILE_OPTIONS:
        value = getattr(ctx, row.name)
        explicit.append((row.key or "", row.flag or "", None if value is None else str(value)))
    for key, flag, given in explicit:
        if given is not None:
            ctx.settings[key] = given
            ctx.settings_from[key] = flag
    if ctx.profile is None:
        if ctx.role_arn is None:
            return CheckResult(
                name,
                True,
                "no profile or role named: only the task role is checked (pass --profile NAME "
                "or --role-arn ARN to check the AssumeRole as well)",
            )
        return CheckResult(name, True, "no profile named: using the options given")
    try:
        path, section = _read_profile(ctx)
    except Error as exc:
        return _fail(name, exc)
    found = {k: v for k, v in section.items() if isinstance(v, str)}
    source = found.get("credential_source")
    process = found.get("credential_process")
    if process:
        found = {**_from_credential_process(process), **found}
    for key in ("role_arn", *(row.key or "" for row in PROFILE_OPTIONS)):
        if key not in ctx.settings and found.get(key):
            ctx.settings[key] = found[key]
            ctx.settings_from[key] = f"profile {ctx.profile}"
    where = f"[profile {ctx.profile}] in {path}"
    if ctx.profile == "default":
        where = f"the default profile in {path}"
    role = ctx.setting("role_arn")
    if role is None:
        if ctx.described is not None and (process or ctx.described.kind != "role"):
            # The AWS CLI can use such a profile (keys, SSO, a process, or its fallbacks);
            # profile-credentials says whose credentials it gets.
            return CheckResult(
                name,
                True,
                f"{where} names no role_arn, so it assumes no role: {ctx.described.description}",
            )
        return CheckResult(
            name,
            False,
            f"{where} names no role_arn",
            f"rewrite it: ecs-xrole write-config --profile {ctx.profile} --role-arn <ARN>",
        )
    try:
        parse_role_arn(role, name=f"role_arn of {where}")
        if ctx.setting("external_id"):
            check_external_id(ctx.setting("external_id"), name=f"external_id of {where}")
        if ctx.setting("role_session_name"):
            check_session_name(ctx.setting("role_session_name"), name="role_session_name")
        if ctx.setting("region"):
            valid_region(ctx.setting("region"), name=f"region of {where}")
    except Error as exc:
        return CheckResult(
            name,
            False,
            exc.what,
            f"{exc.fix}; note that the config file keeps inline comments as part of the value "
            "(`role_arn = arn:... # note` sends the comment to STS)",
        )
    if source is not None and found.get("source_profile"):
        return CheckResult(
            name,
            False,
            f"{where} has both source_profile = {found['source_profile']} and "
            f"credential_source = {source}: the AWS CLI refuses it (botocore: the profile "
            "contains both source_profile and credential_source)",
            "keep one: credential_source = EcsContainer to assume the role from the ECS task "
            "role, or source_profile = <profile> to assume it from another profile",
        )
    if process:
        how = f"credential_process = {process}"
    elif source == "EcsContainer":
        how = "credential_source = EcsContainer"
    elif source in _OTHER_SOURCES:
        how = (
            f"credential_source = {source}: {_OTHER_SOURCES[source]}, not the task role, so "
            "the task-role checks do not describe this profile (profile-credentials checks it "
            "as the AWS CLI does)"
        )
    elif source is not None:
        fix = (
            "set credential_source = EcsContainer (spelled exactly so: botocore matches it "
            "case-sensitively)"
            if source.lower() == "ecscontainer"
            else "set credential_source = EcsContainer so the task role is the source"
        )
        return CheckResult(
            name, False, f"{where} has credential_source = {source}, not EcsContainer", fix
        )
    elif found.get("source_profile"):
        how = (
            f"source_profile = {found['source_profile']}: the role is assumed with that "
            "profile's credentials, not the task role's ("
            + (ctx.described.description if ctx.described is not None else "")
            + ")"
        )
    else:
        return CheckResult(
            name,
            False,
            f"{where} has role_arn but neither credential_source nor credential_process",
            f"rewrite it: ecs-xrole write-config --profile {ctx.profile} --role-arn {role} "
            "(it writes credential_source = EcsContainer)",
        )
    return CheckResult(name, True, f"{where}: role_arn = {role}, {how}")


def check_profile_credentials(ctx: DoctorContext) -> CheckResult:
    """What ``aws sts get-caller-identity --profile NAME`` does: resolve the profile through
    botocore (the AWS CLI's own code, so its rules and its refusals), then GetCallerIdentity."""
    from botocore.config import Config

    from ... import _profiles as profiles

    name = "profile-credentials"
    if ctx.profile is None:
        return CheckResult(name, None, "skipped: no profile named")
    profile = ctx.profile
    region = ctx.region or ctx.region_name
    config = Config(
        connect_timeout=ctx.timeout,
        read_timeout=ctx.timeout,
        retries={"mode": "standard", "max_attempts": 2},
    )

    def work() -> dict[str, Any]:
        session, _ = profiles.resolve_profile(profile, config_file=ctx.config_file, region=region)
        client: Any = session.create_client("sts", config=config)
        return dict(client.get_caller_identity())

    # The chain may run a credential_process or call an endpoint that never answers: doctor
    # must still report.
    deadline = max(3 * ctx.timeout, 5.0)
    try:
        reply = run_within(deadline, work, name="ecs-xrole-doctor-profile")
    except TimeoutError:
        return CheckResult(
            name,
            False,
            f"the AWS CLI's way of loading profile {profile} did not finish within {deadline:g} s",
            "run `aws sts get-caller-identity --profile "
            f"{profile}` to see where it waits (a credential_process, an endpoint or STS)",
        )
    except Error as exc:
        explained = _explain_profile_denial(ctx, exc)
        return CheckResult(name, False, explained.what, explained.fix)
    except Exception as exc:  # GetCallerIdentity's own errors
        detail, fix = _sts_problem(exc)
        return CheckResult(name, False, detail, fix)
    described = ctx.described.description if ctx.described is not None else ""
    detail = (
        f"the AWS CLI gets {reply['Arn']} (account {reply['Account']}) for --profile {profile}"
        + (f": {described}" if described else "")
    )
    role = ctx.described.role_arn if ctx.described is not None else None
    if role:
        try:
            wanted = parse_role_arn(role).account_id
        except Error:
            wanted = None
        if wanted is not None and str(reply["Account"]) != wanted:
            return CheckResult(
                name,
                False,
                f"{detail}, not account {wanted}",
                "check the role ARN and AWS_ENDPOINT_URL_STS: the answer came from another account",
            )
    return CheckResult(name, True, detail)


#: What each SDK does when a profile's credential_process fails, as measured on the loopback
#: stand-ins (docs/how-to/credential-process.md has the matrix and the versions).
FALLS_THROUGH = "the AWS SDK for JavaScript v3 (measured with 3.1178)"
STOPS = "botocore, the AWS CLI v1 and v2 and the AWS SDKs for Go v1 and v2"


def check_credential_process_fallback(ctx: DoctorContext) -> CheckResult:
    """Would a failing credential_process leave an SDK acting as the task role?

    Some SDKs take a failing process as "try the next provider" and go on down their default
    chain, to the container endpoint: the task role in the task's own account, with exit 0.
    Warns when the profile runs a credential_process and the endpoint variables are set in
    this environment, unless the endpoint serves the profile's own role (``ecs-xrole exec``).
    """
    from ..._endpoint import FULL_URI, RELATIVE_URI

    name = "credential-process-fallback"
    described = ctx.described
    if ctx.profile is None:
        return CheckResult(name, None, "skipped: no profile named")
    if described is None or described.kind != "process":
        return CheckResult(name, None, f"skipped: profile {ctx.profile} runs no credential_process")
    present = [variable for variable in (RELATIVE_URI, FULL_URI) if os.environ.get(variable)]
    if not present:
        return CheckResult(
            name,
            True,
            "no container endpoint variable in this environment: an SDK that goes on after a "
            "failing credential_process does not reach the task role from here",
        )
    served = ctx.credentials.role_arn if ctx.credentials is not None else None
    wanted = ctx.setting("role_arn")
    if served and wanted and served == wanted:
        return CheckResult(
            name,
            True,
            f"the container endpoint serves {served}, the profile's own role (ecs-xrole "
            "exec or serve): an SDK that goes on after a failing credential_process gets the "
            "same role",
        )
    whom = f"the task role {served}" if served else "the task role"
    return CheckResult(
        name,
        True,
        f"if the credential_process of profile {ctx.profile} fails (its role refused, STS "
        f"down), {FALLS_THROUGH} goes on to the container endpoint ({', '.join(present)}) and "
        f"acts as {whom}, in the task's own account, without an error; {STOPS} stop at the "
        "failure",
        warning="for Node.js tools, write the credential_source profile instead (ecs-xrole "
        f"write-config --profile {ctx.profile} --role-arn <ARN>, without --credential-process: "
        "the JavaScript SDK stops when that AssumeRole is refused), or run the tool under "
        "`ecs-xrole exec`, whose endpoint serves the destination role; see "
        "docs/how-to/credential-process.md",
    )


def _explain_profile_denial(ctx: DoctorContext, exc: Error) -> Error:
    """AccessDenied from the profile's own AssumeRole, explained as ecs-xrole explains its own."""
    from botocore.exceptions import ClientError

    from ..._assume import AssumeRoleParams, explain_client_error

    cause = exc.__cause__
    role = ctx.described.role_arn if ctx.described is not None else None
    if not (isinstance(cause, ClientError) and cause.operation_name == "AssumeRole" and role):
        return exc
    try:
        params = AssumeRoleParams.build(role, external_id=ctx.setting("external_id"))
    except Error:
        return exc
    return explain_client_error(cause, params, caller_arn=ctx.caller_arn)
