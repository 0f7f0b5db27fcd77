"""One STS AssumeRole call, validated before it is sent and explained when it fails.

:class:`AssumeRoleParams` validates every option up front and is hashable (the sessions
layer's cache key); :func:`assume_role` makes the call and turns STS's answers into ecs-xrole
errors (``AccessDenied`` carries the policies that would allow it; ``ExpiredToken`` on the
source refreshes it and retries once). Every call ends within :data:`STS_DEADLINE` seconds of
wall clock, whatever STS does: botocore's defaults held a caller for 180 s. See
docs/design.md, "The AssumeRole call", and docs/security.md, "Every STS call has a
wall-clock budget".
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from datetime import timezone
from typing import TYPE_CHECKING, Any

from ._credentials import TemporaryCredentials
from ._deadline import run_within
from ._option_table import STS_OPTIONS, by_name, check_together
from ._policy import (
    PARTITION_FIX,
    cross_partition,
    identity_policy,
    role_arn_from_caller,
    trust_policy,
)
from ._validate import RoleArn, check_session_name, parse_role_arn
from .errors import AssumeRoleDeniedError, AssumeRoleError, InvalidInputError

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_sts import STSClient

    from ._refresh import RefreshingCredentials

#: Seconds to open a connection to STS (botocore's default: 60).
STS_CONNECT_TIMEOUT = 2.0
#: Seconds to wait for each read from STS (botocore's default: 60). AssumeRole answers in well
#: under a second when STS is healthy.
STS_READ_TIMEOUT = 5.0
#: Attempts per AssumeRole in botocore's standard retry mode (throttling, 5xx, timeouts).
STS_MAX_ATTEMPTS = 3
#: The wall-clock bound of one :func:`assume_role`, retries included: a caller waits no longer.
STS_DEADLINE = 20.0

logger = logging.getLogger("ecs_xrole.assume")

_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_CALLER_IN_MESSAGE = re.compile(r"User: (arn:\S+) is not authorized")


@dataclass(frozen=True)
class AssumeRoleParams:
    """Validated AssumeRole options. Build with :meth:`build`; hashable (a cache key).

    ``options`` holds each given option of :data:`~ecs_xrole._option_table.STS_OPTIONS` as
    (name, checked value), in the table's order; :meth:`get` reads one.
    """

    role_arn: RoleArn
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def build(cls, role_arn: str | RoleArn, **options: Any) -> AssumeRoleParams:
        """Validate every option (keyword-only, one per row of the options table with an STS
        parameter; ``None`` is not given); raises :class:`~ecs_xrole.errors.InvalidInputError`,
        and :class:`TypeError` for a keyword that is not such an option."""
        unknown = set(options) - _STS_NAMES
        if unknown:
            raise TypeError(
                f"AssumeRoleParams.build() got an unexpected keyword argument {min(unknown)!r}"
            )
        checked = {
            row.name: row.check(options[row.name])
            for row in STS_OPTIONS
            if options.get(row.name) is not None
        }
        check_together(checked)
        return cls(
            role_arn=parse_role_arn(role_arn),
            # An empty collection is as good as none (STS is sent nothing for it).
            options=tuple((name, value) for name, value in checked.items() if value != ()),
        )

    def get(self, name: str) -> Any:
        """The checked value of option ``name``: ``None`` (``()`` for a collection) if not given."""
        return dict(self.options).get(name, () if by_name(name).repeated else None)

    def __getattr__(self, name: str) -> Any:
        # params.<option> reads an option as get() does (only names that are not attributes).
        if name not in _STS_NAMES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.get(name)

    @property
    def role_session_name(self) -> str | None:
        """The session name asked for, if any."""
        value: str | None = self.get("role_session_name")
        return value

    @property
    def external_id(self) -> str | None:
        """The external ID, if any."""
        value: str | None = self.get("external_id")
        return value

    def request(self, session_name: str) -> dict[str, Any]:
        """The keyword arguments for ``sts.assume_role``."""
        kwargs: dict[str, Any] = {"RoleArn": self.role_arn.arn, "RoleSessionName": session_name}
        for name, value in self.options:
            row = by_name(name)
            if row.sts is not None and row.sts not in kwargs:
                kwargs[row.sts] = row.to_sts(value)
        return kwargs


_STS_NAMES = frozenset(row.name for row in STS_OPTIONS)


def _build_signature() -> inspect.Signature:
    """:meth:`AssumeRoleParams.build`'s signature as the table defines it (for ``help()``,
    editors and the test that holds it equal to :class:`~ecs_xrole.options.AssumeOptions`)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter("role_arn", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(inspect.Parameter(row.name, keyword, default=None) for row in STS_OPTIONS),
        ]
    )


AssumeRoleParams.build.__func__.__signature__ = _build_signature()  # type: ignore[attr-defined]


def sts_config(**extra: Any) -> Config:
    """The botocore ``Config`` for an STS client used with :func:`assume_role`: the timeouts
    and attempts above, standard retry mode, plus ``extra`` (e.g. ``user_agent_extra``).

    Read at call time, so changing the module's constants affects clients built later.
    """
    from botocore.config import Config

    return Config(
        connect_timeout=STS_CONNECT_TIMEOUT,
        read_timeout=STS_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": STS_MAX_ATTEMPTS},
        **extra,
    )


def assume_role(
    sts: STSClient,
    params: AssumeRoleParams,
    *,
    session_name: str,
    source: RefreshingCredentials | None = None,
    deadline: float | None = None,
) -> TemporaryCredentials:
    """Call AssumeRole once (twice after an ``ExpiredToken`` answer); network I/O.

    ``sts`` is a botocore STS client signing with the source credentials (build it with
    :func:`sts_config` for bounded attempts); ``source`` is those credentials when they are
    ours, so that ``ExpiredToken`` can refresh them. Returns or raises within ``deadline``
    seconds (default :data:`STS_DEADLINE`), whatever STS does; the call runs on a worker
    thread, shared with a caller that made the same request and gave up waiting. Raises
    :class:`~ecs_xrole.errors.AssumeRoleDeniedError` on ``AccessDenied`` and
    :class:`~ecs_xrole.errors.AssumeRoleError` on every other failure, including no answer
    by the deadline (``code`` ``None``).
    """
    request = params.request(check_session_name(session_name))
    seconds = STS_DEADLINE if deadline is None else deadline
    # A caller whose deadline passed leaves its call running; the next caller with the same
    # request (client, options, session name) waits for it instead of starting another.
    key = ("AssumeRole", id(sts), params, request["RoleSessionName"])
    try:
        result = run_within(
            seconds,
            lambda: _assume_role(sts, params, request, source),
            name="ecs-xrole-assume-role",
            key=key,
        )
    except TimeoutError:
        raise AssumeRoleError(
            f"AssumeRole of {params.role_arn} got no answer from STS within {seconds:g} s",
            fix="check the network path to STS (security groups, NAT, proxy, VPC endpoint), "
            "the region, and AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL if set",
            role_arn=params.role_arn.arn,
        ) from None
    return result


def _assume_role(
    sts: STSClient,
    params: AssumeRoleParams,
    request: dict[str, Any],
    source: RefreshingCredentials | None,
) -> TemporaryCredentials:
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    for attempt in (1, 2):
        try:
            response = sts.assume_role(**request)
            break
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", ""))
            if code in _EXPIRED_CODES and source is not None and attempt == 1:
                logger.info(
                    "STS says the source credentials (%s) have expired; refreshing them and "
                    "retrying once",
                    source.description,
                )
                source.force_refresh()
                continue
            # The ClientError stays the cause: it holds STS's request ID, which AWS support
            # asks for, and no secret (an error answer carries no credentials).
            raise explain_client_error(
                exc, params, caller_arn=_caller_arn(message, source)
            ) from exc
        except (BotoConnectionError, HTTPClientError) as exc:
            raise AssumeRoleError(
                f"AssumeRole of {params.role_arn} could not reach STS: {exc}",
                fix="check the network path to STS, the region, and AWS_ENDPOINT_URL_STS or "
                "AWS_ENDPOINT_URL if set",
                role_arn=params.role_arn.arn,
            ) from exc
        except BotoCoreError as exc:
            raise AssumeRoleError(
                f"AssumeRole of {params.role_arn} failed before reaching STS: {exc}",
                fix="the source credentials could not be loaded or used; with "
                "ECS_XROLE_SOURCE_PROFILE, `aws sts get-caller-identity --profile <that "
                "profile>` shows the same failure",
                role_arn=params.role_arn.arn,
            ) from exc
    creds = response["Credentials"]
    expiration = creds["Expiration"]  # botocore parses timestamps into datetimes
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=timezone.utc)
    return TemporaryCredentials(
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
        expiration=expiration.astimezone(timezone.utc),
        role_arn=params.role_arn.arn,
        account_id=params.role_arn.account_id,
    )


def explain_client_error(
    exc: Any, params: AssumeRoleParams, *, caller_arn: str | None = None
) -> AssumeRoleError:
    """ecs-xrole's error for STS's refusal ``exc`` (a botocore ``ClientError``) of an AssumeRole.

    ``caller_arn`` is the identity that made the call, when known (else it is read from STS's
    message). The message names the STS request ID. Raise it ``from exc`` to keep the
    ``ClientError`` as the cause. Pure.
    """
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId") or None
    if caller_arn is None:
        match = _CALLER_IN_MESSAGE.search(message)
        caller_arn = match.group(1) if match else None
    result = _translate(code, message, params, caller_arn)
    result.request_id = request_id
    if request_id:
        result.what = f"{result.what.rstrip('.')} (STS request ID {request_id})"
        Exception.__init__(result, result._render())
    return result


def _translate(
    code: str, message: str, params: AssumeRoleParams, caller_arn: str | None
) -> AssumeRoleError:
    target = params.role_arn.arn
    across = cross_partition(caller_arn, params.role_arn)
    if across is not None:
        return AssumeRoleError(
            f"AssumeRole of {target} failed: {code or 'error'}: {message}. {across}",
            fix=PARTITION_FIX,
            role_arn=target,
            code=code or None,
            caller_arn=caller_arn,
        )
    if code == "AccessDenied":
        return _denied(message, params, caller_arn)
    if code == "ValidationError" and "chaining" in message:
        fix = "pass duration_seconds=3600 or less (the task role is itself an assumed role)"
    elif code in _EXPIRED_CODES:
        fix = "the source credentials expired; check the host clock and the credentials source"
    elif code == "RegionDisabledException":
        fix = "activate STS in this region (IAM console, Account settings) or use another region"
    elif code in ("Throttling", "ThrottlingException"):
        fix = "STS is throttling this account; calls are retried, so reduce the AssumeRole rate"
    elif code == "MalformedPolicyDocument":
        fix = "fix the session policy document"
    elif code == "PackedPolicyTooLarge":
        fix = "shorten the session policy or the session tags"
    else:
        fix = "see the STS error above"
    return AssumeRoleError(
        f"AssumeRole of {target} failed: {code or 'error'}: {message}",
        fix=fix,
        role_arn=target,
        code=code or None,
        caller_arn=caller_arn,
    )


def _caller_arn(message: str, source: RefreshingCredentials | None) -> str | None:
    current = source.current if source is not None else None
    if current is not None and current.role_arn:
        return current.role_arn
    match = _CALLER_IN_MESSAGE.search(message)
    return match.group(1) if match else None


def denied_hints(role_arn: RoleArn, external_id: str | None) -> str:
    """What else an AccessDenied may mean: an external ID, or a role that does not exist."""
    if external_id is None:
        hint = (
            "If the trust policy requires an sts:ExternalId, pass it: external_id=... "
            "(Python), --external-id (command line) or external_id in the profile"
        )
    else:
        hint = (
            "Check that the external ID given matches the sts:ExternalId of the trust "
            "policy's condition exactly"
        )
    return (
        f"{hint}. STS also answers AccessDenied when the role does not exist: check the ARN "
        f"{role_arn} (account, path and name)"
    )


def _denied(message: str, params: AssumeRoleParams, caller_arn: str | None) -> AssumeRoleError:
    target = params.role_arn
    hints = denied_hints(target, params.external_id)
    try:
        caller_role: RoleArn | None = role_arn_from_caller(caller_arn) if caller_arn else None
    except InvalidInputError:
        caller_role = None
    if caller_role is None:
        return AssumeRoleError(
            f"AssumeRole of {target} was denied: {message}",
            fix="allow sts:AssumeRole on the role in the caller's identity policy, and add a "
            f"statement naming the caller to the role's trust policy. {hints}",
            role_arn=target.arn,
            code="AccessDenied",
            caller_arn=caller_arn,
        )
    allow = identity_policy(caller_role, target)
    trust = trust_policy(caller_role, external_id=params.external_id)
    return AssumeRoleDeniedError(
        f"{caller_role} may not assume {target}: STS answered AccessDenied ({message})",
        fix=(
            f"(1) attach an identity policy to {caller_role.name} (account "
            f"{caller_role.account_id}) allowing sts:AssumeRole on {target}; (2) add a statement "
            f"naming {caller_role} to the trust policy of {target.name} (account "
            f"{target.account_id})"
            + (" with the sts:ExternalId condition" if params.external_id else "")
            + ". The exact documents are on this error as .identity_policy and .trust_policy, "
            f"and `ecs-xrole policy` prints them. {hints}"
        ),
        role_arn=target.arn,
        caller_arn=caller_arn,
        identity_policy=allow,
        trust_policy=trust,
    )
