"""``ecs-xrole doctor``: check every link of the cross-account chain and say how to fix it.

Each check is a small function that takes the :class:`DoctorContext` (the options, and what the
earlier checks found) and returns a frozen :class:`CheckResult`. :func:`run_checks` runs them in
order; a check whose prerequisites did not pass is reported as skipped (``ok`` is ``None``)
instead of being run. The checks, in order:

``endpoint-variables``, ``endpoint-reachable``, ``token``, ``task-role-credentials``,
``task-role-identity``, ``profile``, ``region``, ``duration``, ``clock-skew``, ``assume-role``,
``destination-identity``, ``profile-credentials``, ``credential-process-fallback``.

The checks make fresh calls (one GET to the endpoint, one ``fetch_credentials``, STS
``GetCallerIdentity`` twice and ``AssumeRole`` once) and share no cache with
:func:`ecs_xrole.get_session`, so what they report is what AWS says now. They never print a
secret: keys are shown by their first four characters, tokens by their length.

Importing this module is light; boto3 and botocore load when the checks run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from . import policy
from .endpoint import shown_url
from .errors import Error, InvalidInputError, redact
from .validate import (
    MAX_CHAINED_DURATION,
    check_external_id,
    check_profile_name,
    check_session_name,
    duration_seconds,
    parse_role_arn,
)
from .validate import check_region as valid_region

if TYPE_CHECKING:
    from .credentials import TemporaryCredentials
    from .endpoint import Endpoint
    from .profiles import ProfileSource

__all__ = [
    "CHECKS",
    "CheckResult",
    "DoctorContext",
    "add_parser",
    "format_results",
    "printable",
    "run",
    "run_checks",
]

#: Clock skew above this fails: SigV4 signatures are refused five minutes out.
MAX_SKEW_SECONDS = 300.0
#: Clock skew above this is reported (still a pass).
NOTE_SKEW_SECONDS = 30.0
#: Session name of the doctor's own AssumeRole when none is configured (shows in CloudTrail).
DOCTOR_SESSION_NAME = "ecs-xrole-doctor"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``ok`` is ``True`` (passed), ``False`` (failed) or ``None`` (skipped: a check it depends on
    did not pass, or it does not apply). ``detail`` says what was found; ``fix`` says what to
    do and is set only for failures. ``warning`` is set on a check that passed but found a
    risk (it does not make doctor fail): what to do about it.
    """

    name: str
    ok: bool | None
    detail: str
    fix: str | None = None
    warning: str | None = None

    @property
    def status(self) -> str:
        """``"pass"``, ``"warn"`` (passed, with a warning), ``"fail"`` or ``"skip"``."""
        if self.ok is True and self.warning:
            return "warn"
        return {True: "pass", False: "fail", None: "skip"}[self.ok]

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form: ``{"check", "ok", "detail", "fix", "warning"}``."""
        return {
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": self.fix,
            "warning": self.warning,
        }


@dataclass
class DoctorContext:
    """The options of a doctor run and what its checks found so far (shared between checks).

    Options: ``profile``, ``role_arn``, ``external_id``, ``duration_seconds``,
    ``role_session_name``, ``region_name``, ``config_file`` (default ``AWS_CONFIG_FILE``,
    else ``~/.aws/config``), ``timeout`` (seconds per network step), ``read_pid1`` (look
    for the endpoint variables in PID 1 when this process lacks them) and ``source_profile``
    (the local-development opt-in; default ``ECS_XROLE_SOURCE_PROFILE``).
    Options given here win over the profile's settings.
    """

    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    duration_seconds: int | None = None
    role_session_name: str | None = None
    region_name: str | None = None
    config_file: str | None = None
    timeout: float = 3.0
    read_pid1: bool = True
    source_profile: str | None = None
    # What the plan found before the checks (see _plan): whether the container endpoint is
    # the source at all, and the profile whose credentials are the source when it is not.
    uses_endpoint: bool = True
    credentials_profile: str | None = None
    credentials_origin: str | None = None
    described: ProfileSource | None = None
    # What the checks found.
    endpoint: Endpoint | None = None
    probe_status: int | None = None
    credentials: TemporaryCredentials | None = None
    caller_arn: str | None = None
    sts_date: datetime | None = None
    sts_local_time: datetime | None = None
    settings: dict[str, str] = field(default_factory=dict)
    settings_from: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    region_from: str | None = None
    assumed: TemporaryCredentials | None = None

    def setting(self, key: str) -> str | None:
        """An effective setting: the option when given, else the profile's."""
        value = self.settings.get(key)
        return value if value else None


Check = Callable[[DoctorContext], CheckResult]


def _ago(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{int(abs(seconds))} s"


def _fail(name: str, exc: Error) -> CheckResult:
    return CheckResult(name, False, exc.what, exc.fix)


# --- the checks -------------------------------------------------------------------------------


def check_endpoint_variables(ctx: DoctorContext) -> CheckResult:
    """Find the endpoint variables (this process, else PID 1) and judge the URL's host."""
    from .endpoint import detect_endpoint

    name = "endpoint-variables"
    try:
        ctx.endpoint = detect_endpoint(read_pid1=ctx.read_pid1)
    except Error as exc:
        return _fail(name, exc)
    where = {
        "environment": "this process's environment",
        "pid1": "the environment of PID 1 (/proc/1/environ): this shell lost them",
        "explicit": "the mapping passed in",
    }[ctx.endpoint.source]
    names = ", ".join(ctx.endpoint.variables) or "endpoint variables"
    return CheckResult(name, True, f"{names} from {where} -> {shown_url(ctx.endpoint.url)}")


def check_endpoint_reachable(ctx: DoctorContext) -> CheckResult:
    """One GET to the endpoint (no retries, no redirects), timed. Any HTTP answer counts as
    reachable. Made by the library's own client (:func:`ecs_xrole.fetch.http_get`): the URL
    passed the allow-list when the endpoint was found, a redirect is reported and never
    followed (it would carry the token elsewhere), the body is read up to the library's limit
    and dropped, and the whole probe ends within ``--timeout`` seconds."""
    from .fetch import MAX_BODY, WallClockTimeout, http_get

    name = "endpoint-reachable"
    assert ctx.endpoint is not None
    shown = shown_url(ctx.endpoint.url)
    headers: dict[str, str] = {}
    try:
        header = ctx.endpoint.authorization()
    except Error:
        header = None  # the token check reports it; still see whether the endpoint answers
    if header is not None:
        headers["Authorization"] = header
    started = time.monotonic()
    try:
        answer = http_get(
            ctx.endpoint.url,
            headers=headers,
            deadline=started + ctx.timeout,
            connect_timeout=ctx.timeout,
            read_timeout=ctx.timeout,
        )
    except Exception as exc:  # urllib3, http.client and socket errors: all mean "no answer"
        if isinstance(exc, WallClockTimeout):
            reason = "it was still answering when the time was up"
        else:
            reason = str(getattr(exc, "reason", None) or exc)
        return CheckResult(
            name,
            False,
            f"{shown} did not answer within {ctx.timeout:g} s ({reason})",
            "in ECS the agent serves this address: check that the container runs in the task "
            "(not on the host) and, for bridge or host networking, that ECS_ENABLE_TASK_IAM_ROLE "
            "is on; in EKS check that the Pod Identity agent DaemonSet runs; on a laptop start "
            "the local stand-ins (`ecs-xrole demo` shows them)",
        )
    ctx.probe_status = answer.status
    elapsed_ms = (time.monotonic() - started) * 1000
    detail = f"{shown} answered HTTP {answer.status} in {elapsed_ms:.0f} ms"
    if 300 <= answer.status <= 399:
        detail += " (a redirect: not followed, it would carry the token to another address)"
    if answer.body is None:
        detail += f" with a body over {MAX_BODY} bytes (not read)"
    return CheckResult(name, True, detail)


def check_token(ctx: DoctorContext) -> CheckResult:
    """Read the authorization token (re-read from its file) and see whether the endpoint took it."""
    name = "token"
    assert ctx.endpoint is not None
    endpoint = ctx.endpoint
    try:
        header = endpoint.authorization()
    except Error as exc:
        return _fail(name, exc)
    if endpoint.auth == "none" or header is None:
        if ctx.probe_status in (401, 403):
            return CheckResult(
                name,
                False,
                f"the endpoint answered HTTP {ctx.probe_status} and no token is set",
                "set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (or AWS_CONTAINER_AUTHORIZATION_TOKEN)"
                " as the platform provides it; it is lost when a shell drops the environment "
                "(use `sudo -E`, or read it from /proc/1/environ)",
            )
        return CheckResult(name, True, "no token needed (the endpoint takes none)")
    source = (
        f"token file {endpoint.token_file}"
        if endpoint.auth == "token_file"
        else "AWS_CONTAINER_AUTHORIZATION_TOKEN"
    )
    if ctx.probe_status in (401, 403):
        return CheckResult(
            name,
            False,
            f"the endpoint refused the token from {source} ({redact(header)}) with HTTP "
            f"{ctx.probe_status}",
            "use the token the platform gives this container: do not set or copy "
            "AWS_CONTAINER_AUTHORIZATION_TOKEN by hand; with a token file, make sure it is the "
            "mounted one (EKS rotates it) and holds no trailing newline",
        )
    checked = "accepted" if ctx.probe_status is not None else "not verified"
    return CheckResult(name, True, f"{source} read ({redact(header)}), {checked} by the endpoint")


def check_task_role_credentials(ctx: DoctorContext) -> CheckResult:
    """Fetch the task role's credentials as the library does, and show their expiry."""
    from .fetch import fetch_credentials

    name = "task-role-credentials"
    if ctx.credentials_profile is not None:
        return _profile_credentials(ctx, name)
    if not ctx.uses_endpoint:
        return CheckResult(name, None, f"not used: {_not_used_reason(ctx)}")
    try:
        creds = fetch_credentials(ctx.endpoint, deadline=ctx.timeout)
    except Error as exc:
        return _fail(name, exc)
    ctx.credentials = creds
    whose = creds.role_arn or "an unnamed role (the endpoint sent no RoleArn)"
    key = creds.access_key_id[:4] + "..."
    left = creds.seconds_left()
    if creds.expiration is None or left is None:
        return CheckResult(name, True, f"{key} for {whose}, no expiry given")
    when = creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    if left <= 0:
        return CheckResult(
            name,
            False,
            f"{key} for {whose} expired at {when}, {_ago(left)} ago by this machine's clock",
            "check the clock (see clock-skew); in ECS the agent renews them well before expiry, "
            "so stale credentials mean the clock or the agent is wrong",
        )
    return CheckResult(name, True, f"{key} for {whose}, expire {when} (in {_ago(left)})")


def _not_used_reason(ctx: DoctorContext) -> str:
    if ctx.described is not None:
        return (
            f"profile {ctx.profile} does not take its credentials from the container endpoint "
            f"({ctx.described.description})"
        )
    return (
        f"the source credentials come from profile {ctx.credentials_profile} "
        f"({ctx.credentials_origin})"
    )


def _profile_credentials(ctx: DoctorContext, name: str) -> CheckResult:
    """The source credentials from a profile (the opt-in, or the profile's source_profile)."""
    from . import profiles
    from .credentials import TemporaryCredentials

    assert ctx.credentials_profile is not None
    profile = ctx.credentials_profile
    try:
        if ctx.profile is None:  # the opt-in: strict, no fallback to ambient credentials
            creds, _ = profiles.source_credentials(profile, origin=ctx.credentials_origin or "")
        else:  # a source_profile: exactly as the AWS CLI loads it
            _, creds = profiles.resolve_profile(profile, config_file=ctx.config_file)
        frozen = creds.get_frozen_credentials()
    except Error as exc:
        return _fail(name, exc)
    ctx.credentials = TemporaryCredentials(
        access_key_id=str(frozen.access_key),
        secret_access_key=str(frozen.secret_key),
        session_token=frozen.token,
        expiration=None,
    )
    return CheckResult(
        name,
        True,
        f"{str(frozen.access_key)[:4]}... from profile {profile} ({ctx.credentials_origin}; "
        f"botocore method {creds.method}), not from the container endpoint",
    )


def _sts_client(ctx: DoctorContext, creds: TemporaryCredentials) -> Any:
    import boto3
    from botocore.config import Config

    from .redaction import install as install_log_redaction

    install_log_redaction()

    session = boto3.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
    )
    config = Config(
        connect_timeout=ctx.timeout,
        read_timeout=ctx.timeout,
        retries={"mode": "standard", "max_attempts": 2},
    )
    return session.client("sts", region_name=_resolve_region(ctx)[0], config=config)


def _sts_problem(exc: Exception) -> tuple[str, str]:
    """What went wrong with an STS call, and the fix (no secrets: botocore puts none there)."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        if code in ("SignatureDoesNotMatch", "InvalidClientTokenId", "RequestExpired"):
            fix = "check the clock (see clock-skew) and that the credentials are not altered"
        elif code == "ExpiredToken":
            fix = "the credentials expired: check the clock and the task-role-credentials line"
        else:
            fix = "see the STS message above"
        return f"STS answered {code}: {message}", fix
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return (
            f"STS could not be reached: {exc}",
            "the task needs a route to STS: a NAT gateway, or a VPC endpoint for "
            "com.amazonaws.<region>.sts with private DNS; AWS_ENDPOINT_URL_STS overrides the URL",
        )
    return f"STS call failed: {type(exc).__name__}: {exc}", "see the error above"


def check_task_role_identity(ctx: DoctorContext) -> CheckResult:
    """``GetCallerIdentity`` with the task role's credentials; keeps the STS ``Date`` header."""
    name = "task-role-identity"
    assert ctx.credentials is not None
    try:
        client = _sts_client(ctx, ctx.credentials)
        before = datetime.now(timezone.utc)
        response = client.get_caller_identity()
        after = datetime.now(timezone.utc)
    except Exception as exc:  # botocore's errors; reported, never raised
        detail, fix = _sts_problem(exc)
        return CheckResult(name, False, detail, fix)
    ctx.caller_arn = str(response["Arn"])
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        from email.utils import parsedate_to_datetime

        try:
            ctx.sts_date = parsedate_to_datetime(date)
            ctx.sts_local_time = before + (after - before) / 2
        except (TypeError, ValueError):
            ctx.sts_date = None
    return CheckResult(name, True, f"{ctx.caller_arn} (account {response['Account']})")


def _read_profile(ctx: DoctorContext) -> tuple[str, dict[str, Any]]:
    """Load ``ctx.profile`` from the config file with botocore's own parser.

    Raises :class:`~ecs_xrole.errors.ConfigFileError`.
    """
    from botocore.configloader import load_config
    from botocore.exceptions import ConfigNotFound, ConfigParseError

    from .config import config_path
    from .errors import ConfigFileError

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
    """Settings named on an ``ecs-xrole credential-process`` command line."""
    try:
        words = shlex.split(command)
    except ValueError:
        return {}
    flags = {
        "--role-arn": "role_arn",
        "--external-id": "external_id",
        "--duration-seconds": "duration_seconds",
        "--role-session-name": "role_session_name",
        "--region": "region",
    }
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        flag, eq, value = word.partition("=")
        if flag in flags:
            if not eq and i + 1 < len(words):
                value = words[i + 1]
            found[flags[flag]] = value
    return found


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
    explicit = {
        "role_arn": ctx.role_arn,
        "external_id": ctx.external_id,
        "duration_seconds": None if ctx.duration_seconds is None else str(ctx.duration_seconds),
        "role_session_name": ctx.role_session_name,
        "region": ctx.region_name,
    }
    for key, value in explicit.items():
        if value is not None:
            ctx.settings[key] = value
            ctx.settings_from[key] = "--" + key.replace("_", "-")
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
    for key in ("role_arn", "external_id", "duration_seconds", "role_session_name", "region"):
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


def _resolve_region(
    ctx: DoctorContext, *, use_metadata: bool = False
) -> tuple[str | None, str | None]:
    """The region to use and where it came from: the option, the profile, the environment,
    then (with ``use_metadata``, one HTTP call) the ECS task metadata."""
    if ctx.region is not None:
        return ctx.region, ctx.region_from
    candidates = [
        (ctx.region_name, "--region"),
        (ctx.setting("region"), ctx.settings_from.get("region", "--region")),
        (os.environ.get("AWS_REGION"), "AWS_REGION"),
        (os.environ.get("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"),
    ]
    for value, origin in candidates:
        if value:
            return value, origin
    if not use_metadata:
        return None, None
    try:
        from .metadata import task_region

        region = task_region()
    except Exception:  # metadata absent or unreachable: not a region source then
        region = None
    if region:
        return region, "the ECS task metadata (the task ARN)"
    return None, None


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
    if ctx.setting("external_id"):
        kwargs["ExternalId"] = ctx.setting("external_id")
    if ctx.setting("duration_seconds"):
        kwargs["DurationSeconds"] = int(str(ctx.setting("duration_seconds")))
    from botocore.exceptions import ClientError

    from .credentials import TemporaryCredentials

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


def _within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run ``work`` on a daemon thread and wait at most ``seconds`` of wall-clock time for it.

    A profile's chain may run a credential_process or call an endpoint that never answers:
    doctor must still report. Raises what ``work`` raised, or :class:`TimeoutError`.
    """
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="ecs-xrole-doctor-profile", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def check_profile_credentials(ctx: DoctorContext) -> CheckResult:
    """What ``aws sts get-caller-identity --profile NAME`` does: resolve the profile through
    botocore (the AWS CLI's own code, so its rules and its refusals), then GetCallerIdentity."""
    from botocore.config import Config

    from . import profiles

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

    deadline = max(3 * ctx.timeout, 5.0)
    try:
        reply = _within(deadline, work)
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
    from .endpoint import FULL_URI, RELATIVE_URI

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

    from .assume import AssumeRoleParams, explain_client_error

    cause = exc.__cause__
    role = ctx.described.role_arn if ctx.described is not None else None
    if not (isinstance(cause, ClientError) and cause.operation_name == "AssumeRole" and role):
        return exc
    try:
        params = AssumeRoleParams.build(role, external_id=ctx.setting("external_id"))
    except Error:
        return exc
    return explain_client_error(cause, params, caller_arn=ctx.caller_arn)


def _plan(ctx: DoctorContext) -> None:
    """Before the checks: is the container endpoint this run's source at all, and if not,
    which profile's credentials are? Reads the config files (no network)."""
    from . import profiles

    if ctx.profile is None:
        opt_in, origin = ctx.source_profile, "--source-profile"
        if opt_in is None:
            try:
                opt_in, origin = profiles.source_profile(), profiles.SOURCE_PROFILE_ENV
            except Error:
                opt_in = None  # run() refuses a malformed value before the checks
        if opt_in is not None:
            ctx.uses_endpoint = False
            ctx.credentials_profile, ctx.credentials_origin = opt_in, origin
        return
    try:
        session = profiles.botocore_session(ctx.profile, config_file=ctx.config_file)
        ctx.described = profiles.describe_profile(
            ctx.profile, session.full_config.get("profiles", {})
        )
    except Exception:  # the profile check says what is wrong
        return
    described = ctx.described
    # A profile with nothing in it falls back to, among others, the container endpoint.
    ctx.uses_endpoint = described.uses_endpoint or described.kind == "none"
    if described.kind == "role" and described.source_profile and not described.credential_source:
        ctx.credentials_profile = described.source_profile
        ctx.credentials_origin = f"the source_profile of profile {ctx.profile}"


#: The checks that only concern the container endpoint: "not used" when it is not the source.
_ENDPOINT_CHECKS = ("endpoint-variables", "endpoint-reachable", "token")

#: The checks in order: (name, function, names of the checks that must have passed first).
CHECKS: tuple[tuple[str, Check, tuple[str, ...]], ...] = (
    ("endpoint-variables", check_endpoint_variables, ()),
    ("endpoint-reachable", check_endpoint_reachable, ("endpoint-variables",)),
    ("token", check_token, ("endpoint-variables",)),
    ("task-role-credentials", check_task_role_credentials, ("endpoint-reachable", "token")),
    ("task-role-identity", check_task_role_identity, ("task-role-credentials",)),
    ("profile", check_profile, ()),
    ("region", check_region, ()),
    ("duration", check_duration, ("profile",)),
    ("clock-skew", check_clock_skew, ("task-role-identity",)),
    ("assume-role", check_assume_role, ("task-role-identity", "profile", "duration")),
    ("destination-identity", check_destination_identity, ("assume-role",)),
    # Needs nothing: it is the AWS CLI's own verdict, shown whatever the checks above found.
    ("profile-credentials", check_profile_credentials, ()),
    # Needs nothing either: it judges the profile and the environment, whatever else passed.
    ("credential-process-fallback", check_credential_process_fallback, ()),
)


def run_checks(
    *,
    profile: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    duration_seconds: int | None = None,
    role_session_name: str | None = None,
    region_name: str | None = None,
    config_file: str | None = None,
    timeout: float = 3.0,
    read_pid1: bool = True,
    source_profile: str | None = None,
) -> list[CheckResult]:
    """Run every check in order and return their results; never raises for a failing check.

    Does I/O: reads the endpoint variables, the token file and the AWS config file, calls the
    endpoint and STS (each network step bounded by ``timeout`` seconds). Shares nothing with
    the library's credential caches. The process environment (``os.environ``) is read as
    boto3 reads it.

    When the source is not the container endpoint — ``source_profile`` or
    ``ECS_XROLE_SOURCE_PROFILE`` without a profile, or a profile whose chain does not start
    at the endpoint — the endpoint checks say "not used" (they do not fail), and
    ``task-role-credentials`` and ``task-role-identity`` describe the source profile's
    credentials. With a profile, ``profile-credentials`` loads it exactly as the AWS CLI
    does, so doctor fails where ``aws sts get-caller-identity --profile NAME`` fails.
    """
    ctx = DoctorContext(
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
        duration_seconds=duration_seconds,
        role_session_name=role_session_name,
        region_name=region_name,
        config_file=config_file,
        timeout=timeout,
        read_pid1=read_pid1,
        source_profile=source_profile,
    )
    _plan(ctx)
    results: dict[str, CheckResult] = {}
    for name, check, needs in CHECKS:
        blocked = [
            need
            for need in needs
            if results[need].ok is not True
            and not (need in _ENDPOINT_CHECKS and not ctx.uses_endpoint)
        ]
        if name in _ENDPOINT_CHECKS and not ctx.uses_endpoint:
            result = CheckResult(name, None, f"not used: {_not_used_reason(ctx)}")
        elif blocked:
            result = CheckResult(
                name, None, f"skipped: needs {' and '.join(blocked)} to pass first"
            )
        else:
            try:
                result = check(ctx)
            except Error as exc:
                result = _fail(name, exc)
            except Exception as exc:  # a diagnostic must report, not crash
                result = CheckResult(
                    name, False, f"unexpected {type(exc).__name__}: {exc}",
                    "please report this with the output of `ecs-xrole -vv doctor`",
                )  # fmt: skip
        results[name] = result
    return list(results.values())


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape.

    Control characters (ANSI escape sequences start with one), line and paragraph separators,
    bidirectional overrides and other invisible format characters become ``\\x1b``,
    ``\\n``, ``\\u202e``...: a value that came from the network (the endpoint's RoleArn, an
    error message) can neither recolour the terminal nor forge a line of the report.
    """
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def format_results(results: list[CheckResult]) -> str:
    """The human form: one line per check (PASS, WARN, FAIL or SKIP), each fix (or what to
    do about a warning) indented below.

    Details are escaped with :func:`printable`; a fix keeps its own line breaks, each line
    escaped likewise.
    """
    width = max(len(r.name) for r in results)
    lines = []
    for result in results:
        detail = printable(result.detail)
        lines.append(f"{result.status.upper():4}  {result.name:{width}}  {detail}")
        advice = result.fix if result.ok is False else result.warning
        if advice and result.ok is not None:
            fix_lines = [printable(part) for part in advice.split("\n")]
            pad = " " * (width + 8)
            lines.append(f"{pad}fix: {fix_lines[0]}")
            lines.extend(f"{pad}     {line}" for line in fix_lines[1:])
    failed = sum(1 for r in results if r.ok is False)
    warned = sum(1 for r in results if r.status == "warn")
    summary = f"{failed} check(s) failed" if failed else "all checks passed"
    lines.append(summary + (f", {warned} warning(s)" if warned else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """The handler of ``ecs-xrole doctor``: 0 when no check failed, 1 otherwise.

    Raises :class:`~ecs_xrole.errors.InvalidInputError` (exit 2) for a malformed option.
    """
    out = out or sys.stdout
    if args.role_arn is not None:
        parse_role_arn(args.role_arn, name="--role-arn")
    if args.external_id is not None:
        check_external_id(args.external_id, name="--external-id")
    if args.region is not None:
        valid_region(args.region, name="--region")
    if args.role_session_name is not None:
        check_session_name(args.role_session_name, name="--role-session-name")
    seconds = None
    if args.duration_seconds is not None:
        # A bad option is bad input (exit 2), as in every other command; a bad
        # duration_seconds in the profile is a finding of the duration check (exit 1).
        seconds = duration_seconds(args.duration_seconds, name="--duration-seconds")
    if not args.timeout > 0:
        raise InvalidInputError(
            "--timeout", args.timeout, "it must be a positive number of seconds", fix="pass e.g. 3"
        )
    source_profile = getattr(args, "source_profile", None)
    if source_profile is not None:
        check_profile_name(source_profile, name="--source-profile")
    else:
        from .profiles import source_profile as opt_in

        opt_in()  # a malformed ECS_XROLE_SOURCE_PROFILE is bad input (exit 2)
    results = run_checks(
        source_profile=source_profile,
        profile=args.profile,
        role_arn=args.role_arn,
        external_id=args.external_id,
        duration_seconds=seconds,
        role_session_name=args.role_session_name,
        region_name=args.region,
        config_file=args.config_file,
        timeout=args.timeout,
    )
    if args.json:
        out.write(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    else:
        out.write(format_results(results) + "\n")
    return 1 if any(r.ok is False for r in results) else 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``doctor`` subcommand (called by :func:`ecs_xrole.cli.build_parser`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="check the endpoint, the task role, the profile and the AssumeRole, with fixes",
        description=(
            "Check every link from the container credentials endpoint to the destination role,\n"
            "one line per check (PASS, FAIL or SKIP), and print the fix under each failure.\n"
            "Checks that depend on a failed one are skipped. Without --profile or --role-arn\n"
            "only the task role is checked. Nothing is written; secrets are never printed."
        ),
        epilog=(
            "checks, in order:\n  " + "\n  ".join(name for name, _, _ in CHECKS) + "\n\n"
            "exit codes: 0 no check failed, 1 a check failed, 2 bad option\n"
            '--json prints a list of {"check", "ok", "detail", "fix"}; ok is true, false, or '
            "null for skipped"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--profile", metavar="NAME", help="check this profile of the config file")
    target.add_argument("--role-arn", metavar="ARN", help="check AssumeRole into this role")
    parser.add_argument("--external-id", metavar="ID", help="the external ID to pass")
    parser.add_argument(
        "--duration-seconds",
        metavar="SECONDS",
        help="the session duration to check (900-3600)",
    )
    parser.add_argument(
        "--role-session-name", metavar="NAME", help=f"default: {DOCTOR_SESSION_NAME}"
    )
    parser.add_argument("--region", metavar="REGION", help="the region for STS")
    parser.add_argument(
        "--config-file", metavar="PATH", help="read --profile from this file, not AWS_CONFIG_FILE"
    )
    parser.add_argument(
        "--source-profile",
        metavar="NAME",
        help="local development: the source credentials come from this AWS profile, not the "
        "container endpoint (as ECS_XROLE_SOURCE_PROFILE=NAME; not with --profile, whose own "
        "settings decide)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="bound for each network step (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    # -v after the subcommand too, as the built-in subcommands accept (SUPPRESS keeps a -v
    # given before it).
    parser.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="log more to stderr"
    )
    parser.set_defaults(func=run)
    return parser
