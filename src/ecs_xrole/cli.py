"""The command-line tool: ``ecs-xrole`` and ``python -m ecs_xrole``.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or input. Errors go to stderr as
``ecs-xrole: error: <message>``; logging goes to stderr through :mod:`logging` and ``-v``
raises the level. Subcommands import what they need when they run, so ``write-config`` never
imports boto3 or botocore: this module imports the sessions layer only inside the ``whoami``
and ``credential-process`` handlers.

Subcommands here: ``write-config``, ``whoami``, ``credential-process``. Others (``doctor``,
``demo``, ``policy``, ``exec``, ``serve``, ``health``) live in their own modules and are
plugged in by :func:`build_parser`.
"""

from __future__ import annotations

import contextlib
import os
import sys

# write-config starts in every container: a plain write-config is parsed without argparse
# (see _parse_write_config_fast), and config and validate are standard library only; every
# other command imports what it needs (argparse, json, logging, boto3...) when it runs.
from ._version import __version__
from .config import (
    DEFAULT_PROFILE,
    Profile,
    WriteResult,
    default_command,
    write_profiles,
)
from .errors import ConfigFileBusyError, ConfigFileError, Error, InvalidInputError
from .validate import (
    check_external_id,
    check_profile_name,
    check_region,
    check_session_name,
    duration_seconds,
    parse_role_arn,
)

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import datetime
    from typing import Any, TextIO

__all__ = ["build_parser", "main", "profiles_from_env"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_EPILOG = """\
exit codes:
  0  success
  1  the operation failed (for example AssumeRole was denied, or --check found a difference)
  2  bad usage or input, or a config file that cannot be read, parsed or written (nothing
     was changed)
"""

# Subcommands that live in other modules. build_parser imports each one that is installed and
# calls its ``add_parser(subparsers)``, which adds the subcommand and sets ``func`` (the handler,
# ``func(args) -> exit code``) with ``set_defaults``. Importing these modules must stay light
# (standard library only at import time; boto3 and botocore are imported inside the handlers),
# because build_parser runs for --help and for their own commands (main leaves them out when
# the command is one of this module's).
_PLUGGED = (
    "ecs_xrole.doctor",
    "ecs_xrole.demo",
    "ecs_xrole.policy_command",
    "ecs_xrole.exec_command",
    "ecs_xrole.serve_command",
    "ecs_xrole.health_command",
)
_BUILTIN = frozenset({"write-config", "whoami", "credential-process"})

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

_FIELDS = ("role_arn", "external_id", "role_session_name", "duration_seconds", "region")
_ENV_PREFIX = "ECS_XROLE_"
# The local-development opt-in (ecs_xrole.profiles.SOURCE_PROFILE_ENV; not imported, to keep
# write-config light).
_SOURCE_PROFILE = "ECS_XROLE_SOURCE_PROFILE"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# write-config's options for _parse_write_config_fast, each with its destination: per-profile
# options (recorded in order, as _profile_option_action's action records them) and the others.
# An option added to _add_write_config but not here still works: the fast path leaves it to
# argparse.
_FAST_PROFILE_VALUES = {
    "--profile": "profile",
    "--role-arn": "role_arn",
    "--external-id": "external_id",
    "--role-session-name": "role_session_name",
    "--duration-seconds": "duration_seconds",
    "--region": "region",
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


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """Accept -v after the subcommand too (SUPPRESS keeps a -v given before it)."""
    import argparse

    parser.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="log more to stderr"
    )


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
    group.add_argument("--external-id", metavar="ID", action=profile_option)
    group.add_argument("--role-session-name", metavar="NAME", action=profile_option)
    group.add_argument(
        "--duration-seconds", metavar="SECONDS", action=profile_option, help="900-3600"
    )
    group.add_argument("--region", metavar="REGION", action=profile_option)
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


def _group_events(events: Sequence[tuple[str, str, Any]]) -> list[dict[str, tuple[str, Any]]]:
    """Split the recorded options into one mapping per profile (dest -> (option, value))."""
    starts = sum(1 for dest, _, _ in events if dest == "profile")
    groups: list[dict[str, tuple[str, Any]]] = []
    if starts <= 1:
        groups.append({})
    elif events and events[0][0] != "profile":
        raise InvalidInputError(
            events[0][1],
            events[0][2],
            "it comes before the first --profile, and with several profiles each option "
            "belongs to the --profile before it",
            fix="move it after the --profile it describes",
        )
    for dest, option, value in events:
        if dest == "profile" and starts > 1:
            groups.append({})
        group = groups[-1]
        if dest in group:
            raise InvalidInputError(
                option,
                value,
                f"it is given twice for one profile (first {group[dest][1]!r})",
                fix="give each option once per --profile",
            )
        group[dest] = (option, value)
    return groups


def _profile_from(
    values: Mapping[str, tuple[str, Any]], *, name_default: str, command: tuple[str, ...]
) -> Profile:
    """Build a Profile, validating each value under the name the user typed it as."""

    def get(dest: str) -> tuple[str, Any] | None:
        return values.get(dest)

    name_item = get("profile")
    name = check_profile_name(name_item[1], name=name_item[0]) if name_item else name_default
    arn_item = get("role_arn")
    if arn_item is None:
        where = f" of profile {name!r}" if name_item else ""
        raise InvalidInputError(
            "--role-arn",
            None,
            f"write-config needs the destination role{where}",
            fix="pass --role-arn arn:aws:iam::<account>:role/<name>",
            missing=True,
        )
    checked: dict[str, Any] = {}
    checks: dict[str, Callable[..., Any]] = {
        "external_id": check_external_id,
        "role_session_name": check_session_name,
        "duration_seconds": duration_seconds,
        "region": check_region,
    }
    for dest, check in checks.items():
        item = get(dest)
        if item is not None:
            checked[dest] = check(item[1], name=item[0])
    process = get("credential_process")
    source_item = get("source_profile")
    if source_item is not None:
        checked["source_profile"] = check_profile_name(source_item[1], name=source_item[0])
    return Profile(
        name,
        parse_role_arn(arn_item[1], name=arn_item[0]).arn,
        credential_process=bool(process and process[1]),
        command=command if process and process[1] else None,
        **checked,
    )


def _env_name(profile: str) -> str:
    return "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in profile.upper())


def _env_flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInputError(name, value, "expected a yes/no value", fix="set it to 1 or 0")


def profiles_from_env(
    environ: Mapping[str, str], *, command: tuple[str, ...] | None = None
) -> list[Profile]:
    """The profiles the ``ECS_XROLE_*`` variables describe (see ``write-config --help``).

    Returns ``[]`` when neither ``ECS_XROLE_ROLE_ARN`` nor ``ECS_XROLE_PROFILES`` is set.
    Raises :class:`InvalidInputError` naming the variable at fault. Pure: no I/O.
    """
    env = {key: value for key, value in environ.items() if key.startswith(_ENV_PREFIX) and value}
    cmd = command or default_command()
    profiles: list[Profile] = []
    used: set[str] = set()

    def read(prefix: str, name: str) -> Profile:
        values: dict[str, tuple[str, Any]] = {"profile": (f"{prefix}PROFILE", name)}
        for field in _FIELDS:
            variable = f"{prefix}{field.upper()}"
            used.add(variable)
            if variable in env:
                values[field] = (variable, env[variable])
        flag = f"{prefix}CREDENTIAL_PROCESS"
        used.add(flag)
        if flag in env:
            values["credential_process"] = (flag, _env_flag(flag, env[flag]))
        if _SOURCE_PROFILE in env:
            values["source_profile"] = (_SOURCE_PROFILE, env[_SOURCE_PROFILE])
        if "role_arn" not in values:
            raise InvalidInputError(
                f"{prefix}ROLE_ARN",
                None,
                f"it must be set for profile {name!r}",
                fix=f"set {prefix}ROLE_ARN to the destination role's ARN in the task definition",
                missing=True,
            )
        return _profile_from(values, name_default=name, command=cmd)

    used.update({f"{_ENV_PREFIX}PROFILE", f"{_ENV_PREFIX}PROFILES", _SOURCE_PROFILE})
    if f"{_ENV_PREFIX}ROLE_ARN" in env:
        name = check_profile_name(
            env.get(f"{_ENV_PREFIX}PROFILE", DEFAULT_PROFILE), name=f"{_ENV_PREFIX}PROFILE"
        )
        profiles.append(read(_ENV_PREFIX, name))
    listed = env.get(f"{_ENV_PREFIX}PROFILES", "").replace(",", " ").split()
    keys: dict[str, str] = {}
    for name in listed:
        check_profile_name(name, name=f"{_ENV_PREFIX}PROFILES")
        key = _env_name(name)
        if key in keys and keys[key] != name:
            raise InvalidInputError(
                f"{_ENV_PREFIX}PROFILES",
                env[f"{_ENV_PREFIX}PROFILES"],
                f"profiles {keys[key]!r} and {name!r} both use variables {_ENV_PREFIX}{key}_*",
                fix="rename one of them",
            )
        keys[key] = name
        profiles.append(read(f"{_ENV_PREFIX}{key}_", name))
    if not profiles:
        stray = sorted(key for key in env if key != _SOURCE_PROFILE)
        if stray:
            raise InvalidInputError(
                stray[0],
                env[stray[0]],
                f"it is set but neither {_ENV_PREFIX}ROLE_ARN nor {_ENV_PREFIX}PROFILES is",
                fix=f"set {_ENV_PREFIX}ROLE_ARN (or {_ENV_PREFIX}PROFILES), or remove it",
            )
        return []
    unknown = sorted(key for key in env if key not in used)
    if unknown:
        raise InvalidInputError(
            unknown[0],
            env[unknown[0]],
            "ecs-xrole does not know this variable (a typo, or a profile missing from "
            f"{_ENV_PREFIX}PROFILES?)",
            fix="correct its name, or add the profile to ECS_XROLE_PROFILES",
        )
    return profiles


def _run_write_config(args: argparse.Namespace | _WriteConfigArgs) -> int:
    command = default_command()
    events = args.profile_events or []
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
            from .config import config_path

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
    from .metadata import task_metadata
    from .validate import safe_session_name

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


def _add_role_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    if required:
        parser.add_argument("--role-arn", metavar="ARN", required=True, help="the role to assume")
    parser.add_argument("--external-id", metavar="ID")
    parser.add_argument("--role-session-name", metavar="NAME")
    parser.add_argument("--duration-seconds", metavar="SECONDS", help="900-3600")
    parser.add_argument("--region", metavar="REGION", help="the STS region")


def _add_source_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source-profile",
        metavar="NAME",
        help="local development: take the source credentials from this AWS profile instead "
        "of the container endpoint (as ECS_XROLE_SOURCE_PROFILE=NAME)",
    )


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


def role_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The AssumeRole options given on the command line, validated under their option names."""
    kwargs: dict[str, Any] = {}
    if args.external_id is not None:
        kwargs["external_id"] = check_external_id(args.external_id, name="--external-id")
    if args.role_session_name is not None:
        kwargs["role_session_name"] = check_session_name(
            args.role_session_name, name="--role-session-name"
        )
    if args.duration_seconds is not None:
        kwargs["duration_seconds"] = duration_seconds(
            args.duration_seconds, name="--duration-seconds"
        )
    if args.region is not None:
        kwargs["region_name"] = check_region(args.region, name="--region")
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

    from . import profiles
    from . import session as sessions

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


def _error_report(stage: str, exc: BaseException) -> dict[str, Any]:
    from .errors import AssumeRoleDeniedError

    error: dict[str, Any] = {"stage": stage, "message": str(exc)}
    if isinstance(exc, AssumeRoleDeniedError):
        error["identity_policy"] = exc.identity_policy
        error["trust_policy"] = exc.trust_policy
    return error


def _whoami_profile(args: argparse.Namespace, *, region: str | None) -> int:
    """whoami --profile: what the AWS CLI gets for ``--profile NAME``, resolved by botocore."""
    from botocore.exceptions import BotoCoreError, ClientError

    from . import profiles
    from . import session as sessions

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

    from .assume import AssumeRoleParams, explain_client_error

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


# --------------------------------------------------------------------------------------------
# credential-process


_CREDENTIAL_PROCESS_EPILOG = """\
exit codes:
  0  the credentials were printed
  1  no credentials: the task role's endpoint failed, or AssumeRole was refused (the reason
     goes to stderr; the AWS tool that ran this command shows it)
  2  bad usage or input (a malformed --role-arn, --duration-seconds outside 900-3600, ...)
"""


def _add_credential_process(subparsers: Any) -> None:
    import argparse

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "credential-process",
        help="print the destination role's credentials in the AWS credential_process format",
        description=(
            "Assume the role from the ECS task role and print its temporary credentials as the\n"
            'AWS credential_process JSON: {"Version": 1, "AccessKeyId", "SecretAccessKey",\n'
            '"SessionToken", "Expiration"}. This is the only command that prints secrets,\n'
            "because that is its contract: run it from a credential_process line (see\n"
            "write-config --credential-process), not by hand."
        ),
        epilog=_CREDENTIAL_PROCESS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_role_options(parser, required=True)
    _add_source_profile(parser)
    _add_verbose(parser)
    parser.set_defaults(func=_run_credential_process)


def _iso_utc(moment: datetime) -> str:
    from datetime import timezone

    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_credential_process(args: argparse.Namespace) -> int:
    role_arn = parse_role_arn(args.role_arn, name="--role-arn").arn
    kwargs = role_kwargs(args)

    import json

    from botocore.exceptions import BotoCoreError, ClientError

    from . import session as sessions

    try:
        credentials = sessions.get_credentials(role_arn, **kwargs)
        frozen = credentials.get_frozen_credentials()
    except (BotoCoreError, ClientError) as exc:
        print(f"ecs-xrole: error: cannot assume {role_arn}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    document: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": frozen.access_key,
        "SecretAccessKey": frozen.secret_key,
        "SessionToken": frozen.token,
    }
    expiry = sessions.credential_expiry(credentials)
    if expiry is not None:
        document["Expiration"] = _iso_utc(expiry)
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# The parser and main


def build_parser(*, plugged: bool = True) -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand.

    With ``plugged=False`` the subcommands of other modules are left out (``main`` does that
    when the command is one of this module's, so write-config does not import them).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="ecs-xrole",
        description="Act as an IAM role in another AWS account from an Amazon ECS task.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more to stderr (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_write_config(subparsers)
    _add_whoami(subparsers)
    _add_credential_process(subparsers)
    if plugged:
        import importlib
        import importlib.util
    for module_name in _PLUGGED if plugged else ():
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    # write-config runs at every container start: its plain form skips argparse and logging
    # (it logs nothing at WARNING and above), and the others skip the other modules' commands.
    fast = _parse_write_config_fast(words)
    if fast is not None:
        return _run(_run_write_config, fast)
    import logging

    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(plugged=command not in _BUILTIN)
    args = parser.parse_args(words)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="ecs-xrole: %(levelname)s: %(message)s"
    )
    if level <= logging.INFO:
        # Before any request: botocore and urllib3 log secrets at DEBUG (see redaction).
        from .redaction import install as install_log_redaction

        install_log_redaction()
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _run(func, args)


def _run(func: Callable[[Any], int], args: Any) -> int:
    """Run a command's handler; map ecs-xrole's errors to exit codes and messages."""
    try:
        with _opt_in(args):
            code: int = func(args)
    except ConfigFileBusyError as exc:  # another writer holds the lock: may pass on a retry
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (InvalidInputError, ConfigFileError) as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Error as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return code
