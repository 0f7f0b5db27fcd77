"""``ecs-xrole whoami``: the recipe's verification, the identity in the other account."""

from __future__ import annotations

import sys

from .._validate import (
    check_profile_name,
    parse_role_arn,
)
from ..errors import Error, InvalidInputError
from ._common import (
    _SOURCE_PROFILE,
    EXIT_FAILED,
    EXIT_OK,
    _add_role_options,
    _add_source_profile,
    _add_verbose,
    _error_report,
    _identity,
    _print_whoami,
    role_kwargs,
)

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import Any

# --------------------------------------------------------------------------------------------
# whoami

_WHOAMI_EPILOG = """\
--profile NAME shows what the AWS CLI gets for `aws --profile NAME`: the profile is resolved
by botocore, the AWS CLI's own code, so a profile the AWS CLI cannot use fails here with the
same reason (a source_profile that does not exist, a loop, ...) and the fix. The source line
is the task role for credential_source = EcsContainer, the source profile's identity for
source_profile = OTHER; "via:" says how the profile gets its credentials.

--json prints one object:
  {"task_role": {"account", "arn", "user_id"} | null,   (the source identity)
   "destination": {"account", "arn", "user_id"} | null,
   "profile": NAME | null, "role_arn": ARN | null, "source": TEXT,
   "error": null | {"stage": "task_role" | "destination", "message",
                    "identity_policy"?, "trust_policy"?}}
  (the policies are given when AssumeRole was denied: attach the first to the task role, add
  the second's statement to the destination role's trust policy, keeping its other statements)

exit codes:
  0  every identity was found
  1  one failed (the reason is printed)
  2  bad usage or input
"""


def _add_whoami(subparsers: Any) -> None:
    import argparse

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "whoami",
        help="show the task role's identity and, given a profile or role, the destination's",
        description=(
            "AWS's verification step as one command: call sts get-caller-identity with the\n"
            "container's task-role credentials, then (given --profile or --role-arn) with the\n"
            "assumed destination role."
        ),
        epilog=_WHOAMI_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--profile", metavar="NAME", help="read role_arn and its options from this profile"
    )
    target.add_argument("--role-arn", metavar="ARN", help="assume this role")
    _add_role_options(parser, required=False)
    parser.add_argument(
        "--config-file", metavar="PATH", help="read --profile from this file, not AWS_CONFIG_FILE"
    )
    _add_source_profile(parser)
    parser.add_argument("--json", action="store_true", help="print JSON (shape below)")
    _add_verbose(parser)
    parser.set_defaults(func=_run_whoami)


def _identity_with(credentials: Any, region: str | None) -> dict[str, str]:
    """GetCallerIdentity signed with botocore ``credentials`` (one STS call)."""
    import botocore.session

    frozen = credentials.get_frozen_credentials()
    client: Any = botocore.session.Session().create_client(
        "sts",
        region_name=region,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
    )
    reply = client.get_caller_identity()
    return {"account": reply["Account"], "arn": reply["Arn"], "user_id": reply["UserId"]}


def _run_whoami(args: argparse.Namespace) -> int:
    kwargs = role_kwargs(args)
    role_arn: str | None = None
    if args.profile is not None:
        extra = sorted(kwargs.keys() - {"region_name"})
        if extra:
            option = "--" + extra[0].replace("_", "-")
            raise InvalidInputError(
                option,
                getattr(args, extra[0]),
                "with --profile the AWS CLI takes it from the profile, and whoami shows what "
                "the AWS CLI would do",
                fix=f"drop {option} (or change the profile: ecs-xrole write-config --profile "
                f"{args.profile} ...), or use --role-arn instead of --profile",
            )
        return _whoami_profile(args, region=kwargs.get("region_name"))
    if args.role_arn is not None:
        role_arn = parse_role_arn(args.role_arn, name="--role-arn").arn
    elif kwargs.keys() - {"region_name"}:
        raise InvalidInputError(
            "--role-arn or --profile",
            None,
            "--external-id, --role-session-name and --duration-seconds need a role to assume",
            fix="add --role-arn ARN or --profile NAME",
            missing=True,
        )

    from botocore.exceptions import BotoCoreError, ClientError

    from .. import _profiles as profiles
    from .. import _session as sessions

    opt_in = profiles.source_profile()
    report: dict[str, Any] = {
        "task_role": None,
        "destination": None,
        "profile": None,
        "role_arn": role_arn,
        "source": (
            f"profile {opt_in} ({_SOURCE_PROFILE})"
            if opt_in
            else "the container credentials endpoint"
        ),
        "error": None,
    }
    stage = "task_role"
    try:
        if opt_in is None:
            report["task_role"] = _identity(
                sessions.get_task_role_session(region_name=kwargs.get("region_name"))
            )
        else:
            profiles.note_endpoint_ignored(opt_in)
            credentials, profile_region = profiles.source_credentials(opt_in)
            region = sessions.resolve_region(kwargs.get("region_name")) or profile_region
            report["task_role"] = _identity_with(credentials, region)
        if role_arn is not None:
            stage = "destination"
            report["destination"] = _identity(sessions.get_session(role_arn, **kwargs))
    except InvalidInputError:
        raise
    except (Error, BotoCoreError, ClientError) as exc:
        report["error"] = _error_report(stage, exc)
    _print_whoami(report, as_json=args.json, out=sys.stdout)
    return EXIT_FAILED if report["error"] else EXIT_OK


def _whoami_profile(args: argparse.Namespace, *, region: str | None) -> int:
    """whoami --profile: what the AWS CLI gets for ``--profile NAME``, resolved by botocore."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .. import _profiles as profiles
    from .. import _session as sessions

    name = check_profile_name(args.profile, name="--profile")
    session = profiles.botocore_session(
        name,
        config_file=args.config_file,
        missing_fix=f"write it: ecs-xrole write-config --profile {name} --role-arn ARN",
    )
    described = profiles.describe_profile(name, session.full_config.get("profiles", {}))
    report: dict[str, Any] = {
        "task_role": None,
        "destination": None,
        "profile": name,
        "role_arn": described.role_arn,
        "source": described.description,
        "error": None,
    }
    stage = "task_role"
    try:
        if described.kind == "role" and described.credential_source == "EcsContainer":
            report["task_role"] = _identity(sessions.get_task_role_session(region_name=region))
        elif (
            described.kind == "role"
            and described.source_profile
            and not described.credential_source
        ):
            try:
                _, source = profiles.resolve_profile(
                    described.source_profile, config_file=args.config_file, region=region
                )
            except Error:
                source = None  # the profile's own resolution below gives the AWS CLI's reason
            if source is not None:
                report["task_role"] = _identity_with(source, region)
        stage = "destination"
        try:
            profiles.resolve_profile(
                name, config_file=args.config_file, region=region, session=session
            )
        except Error as exc:
            raise _denied_in_profile(exc, described, report) from exc.__cause__
        client: Any = session.create_client("sts")  # the profile's credentials and region
        reply = client.get_caller_identity()
        report["destination"] = {
            "account": reply["Account"],
            "arn": reply["Arn"],
            "user_id": reply["UserId"],
        }
    except InvalidInputError:
        raise
    except (Error, BotoCoreError, ClientError) as exc:
        report["error"] = _error_report(stage, exc)
    _print_whoami(report, as_json=args.json, out=sys.stdout)
    return EXIT_FAILED if report["error"] else EXIT_OK


def _denied_in_profile(exc: Error, described: Any, report: Mapping[str, Any]) -> Error:
    """The profile's own AssumeRole was refused: explain it as ecs-xrole explains its own."""
    from botocore.exceptions import ClientError

    from .._assume import AssumeRoleParams, explain_client_error

    cause = exc.__cause__
    if not (
        isinstance(cause, ClientError)
        and cause.operation_name == "AssumeRole"
        and described.role_arn
    ):
        return exc
    try:
        params = AssumeRoleParams.build(described.role_arn)
    except InvalidInputError:
        return exc
    source = report.get("task_role")
    return explain_client_error(cause, params, caller_arn=source["arn"] if source else None)
