"""Doctor's checks of the container endpoint: variables, reachability, token, task role."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..._endpoint import shown_url
from ...errors import Error, redact
from .context import CheckResult, DoctorContext, _ago, _fail, _resolve_region

if TYPE_CHECKING:
    from ..._credentials import TemporaryCredentials

# --- the checks -------------------------------------------------------------------------------


def check_endpoint_variables(ctx: DoctorContext) -> CheckResult:
    """Find the endpoint variables (this process, else PID 1) and judge the URL's host."""
    from ..._endpoint import detect_endpoint

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
    reachable. Made by the library's own client (:func:`ecs_xrole._http.http_get`): the URL
    passed the allow-list when the endpoint was found, a redirect is reported and never
    followed (it would carry the token elsewhere), the body is read up to the library's limit
    and dropped, and the whole probe ends within ``--timeout`` seconds."""
    from ..._http import MAX_BODY, WallClockTimeout, http_get

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
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

        from ..._fetch import _describe

        if isinstance(exc, WallClockTimeout):
            reason = "it was still answering when the time was up"
        else:  # in the words of the fetch itself, never urllib3's internal names
            reason = _describe(exc, connect=ctx.timeout, read=ctx.timeout)
        timed_out = isinstance(
            exc, (WallClockTimeout, ConnectTimeoutError, ReadTimeoutError)
        ) and not isinstance(exc, NewConnectionError)  # a subclass of ConnectTimeoutError
        return CheckResult(
            name,
            False,
            f"{shown} did not answer within {ctx.timeout:g} s ({reason})"
            if timed_out
            else f"{shown} did not answer: {reason}",
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
    from ..._fetch import fetch_credentials

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
    from ... import _profiles as profiles
    from ..._credentials import TemporaryCredentials

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

    from ..._redaction import install as install_log_redaction

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
        elif code in ("Throttling", "ThrottlingException", "RequestLimitExceeded"):
            fix = (
                "STS is throttling this account's calls: run doctor again in a minute; if it "
                "lasts, find what else calls STS so often (CloudTrail), since ecs-xrole shares "
                "one AssumeRole per role and refreshes it in the background"
            )
        else:
            fix = f"act on STS's message ({code})"
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
