"""``ecs-xrole doctor``: check every link of the cross-account chain and say how to fix it.

This module holds the command: its parser, the plan of checks (:func:`run_checks` runs them
in order and reports a check whose prerequisites failed as skipped) and the printing, as text
or JSON. The checks live in :mod:`.endpoint`, :mod:`.profile` and :mod:`.role`, their shared
result and context in :mod:`.context`. They make fresh calls and share no cache with the
library, so what they report is what AWS says now, and they never print a secret. Importing
this package is light; boto3 and botocore load when the checks run. See docs/design.md,
"The command line".
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..._option_table import PROFILE_OPTIONS
from ..._validate import check_profile_name, parse_role_arn
from ...errors import Error, InvalidInputError
from .._common import _add_role_options, _add_verbose, role_kwargs
from .context import DOCTOR_SESSION_NAME, Check, CheckResult, DoctorContext, _fail
from .endpoint import (
    _not_used_reason,
    check_endpoint_reachable,
    check_endpoint_variables,
    check_task_role_credentials,
    check_task_role_identity,
    check_token,
)
from .profile import check_credential_process_fallback, check_profile, check_profile_credentials
from .role import (
    check_assume_role,
    check_clock_skew,
    check_destination_identity,
    check_duration,
    check_region,
)

if TYPE_CHECKING:
    pass


def _plan(ctx: DoctorContext) -> None:
    """Before the checks: is the container endpoint this run's source at all, and if not,
    which profile's credentials are? Reads the config files (no network)."""
    from ... import _profiles as profiles

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
    # A bad option is bad input (exit 2), as in every other command; a bad
    # duration_seconds in the profile is a finding of the duration check (exit 1).
    options = role_kwargs(args, rows=PROFILE_OPTIONS)
    if not args.timeout > 0:
        raise InvalidInputError(
            "--timeout", args.timeout, "it must be a positive number of seconds", fix="pass e.g. 3"
        )
    source_profile = getattr(args, "source_profile", None)
    if source_profile is not None:
        check_profile_name(source_profile, name="--source-profile")
    else:
        from ..._profiles import source_profile as opt_in

        opt_in()  # a malformed ECS_XROLE_SOURCE_PROFILE is bad input (exit 2)
    results = run_checks(
        source_profile=source_profile,
        profile=args.profile,
        role_arn=args.role_arn,
        config_file=args.config_file,
        timeout=args.timeout,
        **options,
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
    # The options a profile can carry: doctor checks what a profile would do.
    helps = {
        "external_id": "the external ID to pass",
        "duration_seconds": "the session duration to check (900-3600)",
        "role_session_name": f"default: {DOCTOR_SESSION_NAME}",
        "region_name": "the region for STS",
    }
    _add_role_options(parser, required=False, rows=PROFILE_OPTIONS, helps=helps)
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
    _add_verbose(parser)
    parser.set_defaults(func=run)
    return parser
