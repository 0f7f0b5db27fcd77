"""``ecs-xrole write-config``: write the profile(s) into the AWS config file, with a fast parser."""

from __future__ import annotations

import os
import sys

from .._config.files import WriteResult, write_profiles
from .._config.model import DEFAULT_PROFILE, Profile, default_command
from .._option_table import CLI_OPTIONS, PROFILE_OPTIONS
from ..errors import InvalidInputError
from ._common import _SOURCE_PROFILE, EXIT_FAILED, EXIT_OK, _add_verbose
from ._env import _group_events, _profile_from, profiles_from_env, refuse_unprofiled

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

# --------------------------------------------------------------------------------------------
# write-config

_WRITE_CONFIG_DESCRIPTION = """\
Write AWS CLI profiles that assume a role in another account from the ECS task role, into
the config file every AWS tool reads (AWS_CONFIG_FILE, else ~/.aws/config):

    [profile cross-account]
    role_arn = arn:aws:iam::555566667777:role/destination-account-role
    credential_source = EcsContainer

The file is merged, never clobbered: other sections, comments and blank lines stay as they
are, and a second run leaves it byte-identical. In a target section, the keys ecs-xrole
manages (role_arn, credential_source, source_profile, credential_process, external_id,
role_session_name, duration_seconds) are set to exactly what was asked; region is set when
given and kept otherwise; other keys (output, ...) are kept. Keys and tokens are never
written.
"""

_WRITE_CONFIG_EPILOG = """\
several profiles:
  Each --profile starts a profile; the options after it, up to the next --profile, describe
  it. With a single --profile the options may come in any order.
    ecs-xrole write-config --profile billing --role-arn ARN1 --region eu-west-1 \\
                           --profile analytics --role-arn ARN2 --external-id ID

--from-env (for container entrypoints; see examples/entrypoint.sh):
  one profile:     ECS_XROLE_ROLE_ARN (required), ECS_XROLE_PROFILE (default cross-account),
                   ECS_XROLE_EXTERNAL_ID, ECS_XROLE_ROLE_SESSION_NAME,
                   ECS_XROLE_DURATION_SECONDS, ECS_XROLE_REGION,
                   ECS_XROLE_CREDENTIAL_PROCESS (1/true/yes/on or 0/false/no/off)
  more profiles:   ECS_XROLE_PROFILES="billing analytics" (spaces or commas), then per profile
                   ECS_XROLE_<NAME>_ROLE_ARN (required), ECS_XROLE_<NAME>_EXTERNAL_ID, ...
                   with the same suffixes, where <NAME> is the profile name upper-cased with
                   every character other than A-Z and 0-9 turned into _ (my-app -> MY_APP).
  Both forms may be combined. Empty variables count as unset. When no ECS_XROLE_ROLE_ARN
  nor ECS_XROLE_PROFILES is set, nothing is written (exit 0) and a note goes to stderr.

role_session_name:
  In an ECS task (ECS_CONTAINER_METADATA_URI_V4 set), a profile without --role-session-name
  gets the task ID, as the task role's own session has, so the destination account's
  CloudTrail shows which task acted (botocore's default is botocore-session-<epoch>).
  Outside a task, or when the metadata endpoint does not answer, none is written.

--json prints one object (with --dry-run it adds "text", the whole file):
  {"path", "mode": "write" | "check" | "dry-run", "changed", "created",
   "written": [profiles whose section changed or would], "unchanged": [the others]}

the lock file:
  Writes happen under a lock on <config>.lock (for ~/.aws/config: ~/.aws/config.lock),
  created 0600 next to the file and left in place, since removing it would race with the
  next writer. It holds nothing; deleting it while no write runs is harmless. A writer waits
  for it at most 10 s (then exit 1, naming it).

--credential-process writes, instead of role_arn and credential_source,
    credential_process = /path/to/ecs-xrole credential-process --role-arn ARN ...
  for tools whose SDK cannot read credential_source (the AWS CRT, mountpoint-s3).

exit codes:
  0  written, or already up to date
  1  --check: the file would change; or another process held the file's lock for 10 s
  2  bad usage or input, or a config file that cannot be read, parsed (as botocore would)
     or written, or that another user could replace (a directory or symlink they own, a
     directory others may write without the sticky bit); nothing was changed
"""


# write-config's options for _parse_write_config_fast, each with its destination: per-profile
# options (recorded in order, as _profile_option_action's action records them) and the others.
# An option added to _add_write_config but not here still works: the fast path leaves it to
# argparse.
_FAST_PROFILE_VALUES = {
    "--profile": "profile",
    "--role-arn": "role_arn",
    **{row.flag: row.dest for row in PROFILE_OPTIONS if row.flag and row.dest},
}
_FAST_PROFILE_FLAGS = {"--credential-process": "credential_process"}
_FAST_VALUES = {"--config-file": "config_file"}
_FAST_FLAGS = {
    "--from-env": "from_env",
    "--check": "check",
    "--dry-run": "dry_run",
    "--json": "json",
}


class _WriteConfigArgs:
    """write-config's arguments as argparse sets them, from :func:`_parse_write_config_fast`."""

    def __init__(self) -> None:
        self.profile_events: list[tuple[str, str, Any]] = []
        self.from_env = False
        self.config_file: str | None = None
        self.check = False
        self.dry_run = False
        self.json = False
        self.verbose = 0


def _parse_write_config_fast(words: Sequence[str]) -> _WriteConfigArgs | None:
    """Parse ``write-config`` and its options without argparse, or return ``None``.

    Only the exact spellings of write-config's options are understood (``--opt value``,
    ``--opt=value``, flags); for anything else (help, -v, abbreviations, a value that starts
    with ``-``, an unknown or misplaced word) the caller hands the words to argparse, which
    then parses them with the same result or prints its usual help or error. Importing
    argparse (with the gettext, locale and shutil it loads) would cost a write-config at
    container start more than all its own work. Pure.
    """
    if not words or words[0] != "write-config":
        return None
    args = _WriteConfigArgs()
    at = 1
    while at < len(words):
        option, equals, attached = words[at].partition("=")
        if option in _FAST_PROFILE_VALUES or option in _FAST_VALUES:
            if equals and attached != "--":  # argparse drops a "--" value (version-dependent)
                value = attached
            elif not equals and at + 1 < len(words) and not words[at + 1].startswith("-"):
                at += 1
                value = words[at]
            else:
                return None  # a missing value, or one argparse may read as an option
            if option in _FAST_VALUES:
                setattr(args, _FAST_VALUES[option], value)
            else:
                args.profile_events.append((_FAST_PROFILE_VALUES[option], option, value))
        elif not equals and option in _FAST_PROFILE_FLAGS:
            args.profile_events.append((_FAST_PROFILE_FLAGS[option], option, True))
        elif not equals and option in _FAST_FLAGS:
            setattr(args, _FAST_FLAGS[option], True)
        else:
            return None
        at += 1
    return args


def _profile_option_action() -> type[argparse.Action]:
    """The argparse action that records per-profile options in command-line order, so that
    --profile can group them (made on demand: argparse is imported only when needed)."""
    import argparse

    class ProfileOption(argparse.Action):
        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: Any,
            option_string: str | None = None,
        ) -> None:
            events: list[tuple[str, str, Any]] = getattr(namespace, "profile_events", None) or []
            value = True if self.nargs == 0 else values
            events.append((self.dest, option_string or self.dest, value))
            namespace.profile_events = events

    return ProfileOption


def _add_write_config(subparsers: Any) -> None:
    import argparse

    profile_option = _profile_option_action()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "write-config",
        help="write [profile NAME] sections for the AWS CLI and other SDKs",
        description=_WRITE_CONFIG_DESCRIPTION,
        epilog=_WRITE_CONFIG_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(profile_events=[])
    group = parser.add_argument_group("profile options (repeatable: see 'several profiles')")
    group.add_argument(
        "--profile",
        metavar="NAME",
        action=profile_option,
        help="profile name (default cross-account; 'default' writes [default])",
    )
    group.add_argument(
        "--role-arn", metavar="ARN", action=profile_option, help="the destination role (required)"
    )
    helps = {"region_name": "the profile's region (also of STS)"}
    unprofiled = "refused: an AWS CLI profile cannot carry it (use exec, serve or the library)"
    for row in CLI_OPTIONS:
        assert row.flag is not None
        group.add_argument(
            row.flag,
            metavar=row.metavar,
            action=profile_option,
            help=unprofiled if row.key is None else helps.get(row.name, row.help),
        )
    group.add_argument(
        "--credential-process",
        nargs=0,
        action=profile_option,
        help="write credential_process = ecs-xrole credential-process ... instead",
    )
    group.add_argument(
        "--source-profile",
        metavar="NAME",
        action=profile_option,
        help="local development: write source_profile = NAME instead of credential_source = "
        "EcsContainer (default: ECS_XROLE_SOURCE_PROFILE)",
    )
    parser.add_argument(
        "--from-env",
        action="store_true",
        help="take the profiles from ECS_XROLE_* environment variables (see below)",
    )
    parser.add_argument(
        "--config-file", metavar="PATH", help="write this file instead of AWS_CONFIG_FILE"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file would change, 0 if it holds the profiles",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resulting file to stdout; write nothing"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="report what was done as one JSON object on stdout (see below)",
    )
    _add_verbose(parser)
    parser.set_defaults(func=_run_write_config)


def _run_write_config(args: argparse.Namespace | _WriteConfigArgs) -> int:
    command = default_command()
    events = args.profile_events or []
    refuse_unprofiled(events)
    if args.from_env:
        if events:
            raise InvalidInputError(
                events[0][1],
                events[0][2],
                "--from-env takes the profiles from the environment only",
                fix="drop --from-env, or drop the profile options",
            )
        profiles = profiles_from_env(os.environ, command=command)
        if not profiles and args.json:
            from .._config.safe_io import config_path

            nothing = WriteResult(
                os.path.abspath(args.config_file) if args.config_file else config_path(),
                False,
                "",
                (),
            )
            return _report_write_json(args, nothing)
        if not profiles:
            print(
                "ecs-xrole: write-config --from-env: neither ECS_XROLE_ROLE_ARN nor "
                "ECS_XROLE_PROFILES is set; nothing to write",
                file=sys.stderr,
            )
            return EXIT_OK
    else:
        groups = _group_events(events)
        opt_in = os.environ.get(_SOURCE_PROFILE)
        if opt_in:  # the local-development opt-in, unless --source-profile says otherwise
            groups = [{"source_profile": (_SOURCE_PROFILE, opt_in), **g} for g in groups]
        profiles = [
            _profile_from(group, name_default=DEFAULT_PROFILE, command=command) for group in groups
        ]
    profiles = _with_task_session_name(profiles)
    result = write_profiles(profiles, path=args.config_file, dry_run=args.dry_run, check=args.check)
    if args.json:
        return _report_write_json(args, result)
    names = ", ".join(result.profiles)
    noun = "profile" if len(result.profiles) == 1 else "profiles"
    if args.dry_run:
        sys.stdout.write(result.text)
        sys.stdout.flush()
    status = sys.stderr if args.dry_run else sys.stdout
    if args.check or args.dry_run:
        verdict = "would change" if result.changed else "unchanged:"
        print(f"{verdict} {noun} {names} in {result.path}", file=status)
        return EXIT_FAILED if args.check and result.changed else EXIT_OK
    if result.changed:
        print(f"wrote {noun} {names} to {result.path}", file=status)
    else:
        print(f"unchanged: {noun} {names} in {result.path}", file=status)
    return EXIT_OK


def _with_task_session_name(profiles: list[Profile]) -> list[Profile]:
    """Give each credential_source profile without a session name the ECS task ID.

    botocore's own default (``botocore-session-<epoch>``) tells CloudTrail nothing; the task
    ID is what ECS names the task role's session and what the library uses. Outside a task
    (no ``ECS_CONTAINER_METADATA_URI_V4``) or when the metadata endpoint does not answer,
    nothing is added. credential_process profiles are left alone: the command they run
    defaults to the task ID itself, at each call.
    """
    if not os.environ.get("ECS_CONTAINER_METADATA_URI_V4"):
        return profiles  # not in a task: no request, no import
    wanting = [p for p in profiles if p.role_session_name is None and not p.credential_process]
    if not wanting:
        return profiles
    from .._metadata import task_metadata
    from .._validate import safe_session_name

    metadata = task_metadata()
    if metadata is None or not metadata.task_id:
        return profiles
    name = safe_session_name(metadata.task_id)
    return [
        p.replace(role_session_name=name)
        if p.role_session_name is None and not p.credential_process
        else p
        for p in profiles
    ]


def _report_write_json(args: argparse.Namespace | _WriteConfigArgs, result: WriteResult) -> int:
    """``write-config --json``: one JSON object on stdout saying what was (or would be) done."""
    import json

    changed = set(result.changed_profiles)
    report: dict[str, Any] = {
        "path": result.path,
        "mode": "check" if args.check else "dry-run" if args.dry_run else "write",
        "changed": result.changed,
        "created": result.created,
        "written": [name for name in result.profiles if name in changed],
        "unchanged": [name for name in result.profiles if name not in changed],
    }
    if args.dry_run and result.profiles:
        report["text"] = result.text
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    sys.stdout.flush()
    return EXIT_FAILED if args.check and result.changed else EXIT_OK
