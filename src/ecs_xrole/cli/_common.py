"""What the commands share: exit codes, role and -v flags, error reports, the whoami printout."""

from __future__ import annotations

import contextlib
import os
import sys

from .._option_table import CLI_OPTIONS, check_together
from .._validate import check_profile_name

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any, TextIO

    from .._option_table import Option


# The local-development opt-in (ecs_xrole._profiles.SOURCE_PROFILE_ENV; not imported, to keep
# write-config light).
_SOURCE_PROFILE = "ECS_XROLE_SOURCE_PROFILE"

_TRUE = frozenset({"1", "true", "yes", "on"})

_FALSE = frozenset({"0", "false", "no", "off"})


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _add_verbose(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """The one -v/--verbose, counted: -v logs INFO to stderr, -vv and more DEBUG (cli.main).

    The top-level parser holds the count (default 0); every subcommand accepts -v after its
    name too, with ``SUPPRESS`` as default so that it keeps a -v given before the name.
    """
    import argparse

    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top_level else argparse.SUPPRESS,
        help="log more to stderr (-vv for debug)" if top_level else "log more to stderr",
    )


def _add_role_options(
    parser: Any,
    *,
    required: bool,
    rows: Sequence[Option] = CLI_OPTIONS,
    helps: Mapping[str, str] | None = None,
    action: Any = None,
) -> None:
    """``--role-arn`` (if ``required``) and one flag per row of the options table that has one
    (repeated ones append); ``helps`` overrides a row's help, by option name."""
    if required:
        parser.add_argument("--role-arn", metavar="ARN", required=True, help="the role to assume")
    for row in rows:
        assert row.flag is not None
        parser.add_argument(
            row.flag,
            metavar=row.metavar,
            help=(helps or {}).get(row.name, row.help),
            action=action or ("append" if row.repeated else "store"),
        )


def _add_source_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source-profile",
        metavar="NAME",
        help="local development: take the source credentials from this AWS profile instead "
        "of the container endpoint (as ECS_XROLE_SOURCE_PROFILE=NAME)",
    )


def role_kwargs(args: argparse.Namespace, rows: Sequence[Option] = CLI_OPTIONS) -> dict[str, Any]:
    """The AssumeRole options given on the command line, validated under their option names."""
    kwargs: dict[str, Any] = {}
    checked: dict[str, Any] = {}
    for row in rows:
        given = getattr(args, row.dest or "", None)
        if given is None or given == []:
            continue
        value = row.from_words(given if isinstance(given, list) else [given])
        checked[row.name] = row.check(value, name=row.flag)
        # A collection stays as the library takes it (a tag mapping, a list of keys).
        kwargs[row.name] = value if row.repeated else checked[row.name]
    check_together(checked)
    return kwargs


def _identity(session: Any) -> dict[str, str]:
    reply = session.client("sts").get_caller_identity()
    return {"account": reply["Account"], "arn": reply["Arn"], "user_id": reply["UserId"]}


@contextlib.contextmanager
def _opt_in(args: argparse.Namespace) -> Iterator[None]:
    """``--source-profile NAME``: the local-development opt-in, as ``ECS_XROLE_SOURCE_PROFILE``
    set for the command's run (the library and child processes read it there), and put back
    as it was afterwards, so that ``main`` called in-process leaves no trace."""
    value = getattr(args, "source_profile", None)
    if value is None:
        yield
        return
    checked = check_profile_name(value, name="--source-profile")
    before = os.environ.get(_SOURCE_PROFILE)
    os.environ[_SOURCE_PROFILE] = checked
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_SOURCE_PROFILE, None)
        else:
            os.environ[_SOURCE_PROFILE] = before


def _error_report(stage: str, exc: BaseException) -> dict[str, Any]:
    from ..errors import AssumeRoleDeniedError

    error: dict[str, Any] = {"stage": stage, "message": str(exc)}
    if isinstance(exc, AssumeRoleDeniedError):
        error["identity_policy"] = exc.identity_policy
        error["trust_policy"] = exc.trust_policy
    return error


def _print_whoami(report: Mapping[str, Any], *, as_json: bool, out: TextIO) -> None:
    import json

    if as_json:
        print(json.dumps(report, indent=2), file=out)
        return
    source = str(report.get("source") or "")
    # The first identity is the task role's only when the source is the endpoint itself.
    endpoint = source in ("", "the container credentials endpoint") or (
        source.endswith("credential_source = EcsContainer") and "source_profile" not in source
    )
    first = "task role" if endpoint else "source"
    for key, label in (("task_role", first), ("destination", "destination")):
        identity = report[key]
        if identity is not None:
            print(f"{label + ':':13}{identity['arn']} (account {identity['account']})", file=out)
    if report.get("profile") is not None or not endpoint:
        print(f"{'via:':13}{report['source']}", file=out)
    error = report["error"]
    if error is None:
        return
    if error["stage"] == "task_role":
        what = "the task role" if endpoint else "the source"
    elif report.get("role_arn"):
        what = f"role {report['role_arn']}"
    else:
        what = f"profile {report['profile']}"
    print(f"ecs-xrole: error: cannot act as {what}: {error['message']}", file=sys.stderr)
    if "identity_policy" in error:
        print(
            f"ecs-xrole: attach this identity policy to the {first}:\n"
            + json.dumps(error["identity_policy"], indent=2)
            + "\necs-xrole: and add this statement to the destination role's trust policy "
            "(keep its other statements):\n"
            + json.dumps(error["trust_policy"]["Statement"][0], indent=2),
            file=sys.stderr,
        )
