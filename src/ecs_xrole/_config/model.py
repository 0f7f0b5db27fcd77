"""The profile model: one ``[profile NAME]`` section ecs-xrole writes, its keys and checks.

:class:`Profile` and the lines it writes, the section names, the keys ecs-xrole manages and
those it keeps unless given, the default ``credential_process`` command, and reading a
``credential_process`` line back into a profile. Standard library only (write-config's path).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import sys

from .._option_table import (
    PROCESS_COMMAND,
    PROFILE_OPTIONS,
    decode_process_line,
    encode_process_line,
)
from .._validate import check_profile_name, parse_role_arn
from .._value import Value
from ..errors import InvalidInputError

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


# The patterns configparser itself uses, taken from it (RawConfigParser defaults: '=' and ':'
# delimiters, '#' and ';' whole-line comments, no inline comments, empty lines allowed in
# values).
_SECTCRE = configparser.RawConfigParser.SECTCRE

_INLINE_COMMENT = re.compile(r"\s[#;]")

_CONTROL = frozenset(map(chr, [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]))


def _profile_of(section: str) -> str | None:
    """The profile botocore's ``build_profile_map`` files a section under, or ``None``."""
    if section.startswith("profile"):
        try:
            parts = shlex.split(section)
        except ValueError:
            return None
        return parts[1] if len(parts) == 2 else None
    if section == "default":
        return "default"
    return None


def _info(message: str, *args: object) -> None:
    """Log ``message`` at INFO on this module's logger, if anything has loaded :mod:`logging`.

    Without logging loaded nothing can have configured it, and an unconfigured INFO record is
    dropped anyway; so write-config (which starts in every container) does not import it.
    """
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger("ecs_xrole.config").info(message, *args)


#: The profile name used when none is given (the name in AWS's recipe).
DEFAULT_PROFILE = "cross-account"
#: botocore and the JS SDK match this value case-sensitively.
CREDENTIAL_SOURCE = "EcsContainer"
#: The keys ecs-xrole sets exactly as asked in a target section (others are left alone).
MANAGED_KEYS = (
    "role_arn",
    "credential_source",
    "source_profile",
    "credential_process",
    *(row.key for row in PROFILE_OPTIONS if row.key),
)
#: Managed keys that are changed only when given: the options that are no AssumeRole parameter
#: (``region``) are not part of how credentials are obtained, and dropping ``region`` from
#: ``[default]`` would change every other command.
KEPT_UNLESS_GIVEN = frozenset(row.key for row in PROFILE_OPTIONS if row.key and row.sts is None)
#: The subcommand a ``credential_process`` line runs.
CREDENTIAL_PROCESS_COMMAND = PROCESS_COMMAND


# --------------------------------------------------------------------------------------------
# What to write


def default_command(argv0: str | None = None) -> tuple[str, ...]:
    """The command that runs this ecs-xrole, for a ``credential_process`` line.

    The running ``ecs-xrole`` console script (``argv0``, default ``sys.argv[0]``) by absolute
    path; else the ``ecs-xrole`` on ``PATH`` if it sits beside :data:`sys.executable` (the same
    installation); else ``sys.executable -m ecs_xrole``. Reads the file system; never raises.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if argv0 and os.path.basename(argv0) == "ecs-xrole" and os.path.isfile(argv0):
        return (os.path.abspath(argv0),)
    python = sys.executable or _which("python3") or "python3"
    found = _which("ecs-xrole")
    if found and os.path.dirname(os.path.abspath(found)) == os.path.dirname(python):
        return (os.path.abspath(found),)
    return (python, "-m", "ecs_xrole")


def _which(name: str) -> str | None:
    """The first executable ``name`` on ``PATH`` (as :func:`shutil.which`, which is costly
    to import at every container start)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Profile(Value):
    """One profile to write: ``name`` assumes ``role_arn`` from the ECS task role.

    Every value is checked by :mod:`ecs_xrole._validate` on construction
    (:class:`InvalidInputError` names the bad one); ``role_arn`` is kept as text and
    ``duration_seconds`` as whole seconds. By default the profile says
    ``credential_source = EcsContainer``; with ``credential_process=True`` it instead runs
    ``command`` (default :func:`default_command`) ``credential-process --role-arn ...``, for
    tools whose SDK cannot read ``credential_source`` (mountpoint-s3's CRT, for one). With
    ``source_profile`` (local development, ``ECS_XROLE_SOURCE_PROFILE``) the profile says
    ``source_profile = <that profile>`` instead of ``credential_source = EcsContainer`` (and a
    ``credential_process`` line passes ``--source-profile``).
    Immutable, compared and hashed by its fields (as a frozen dataclass).
    """

    # The option fields are the table's profile keys (_option_table.PROFILE_OPTIONS), in its
    # order; they are annotated below for type checkers, which need them literally.
    __slots__ = (
        "name",
        "role_arn",
        *(row.key for row in PROFILE_OPTIONS if row.key),
        "credential_process",
        "command",
        "source_profile",
    )
    name: str
    role_arn: str
    external_id: str | None
    role_session_name: str | None
    duration_seconds: int | None
    region: str | None
    credential_process: bool
    command: tuple[str, ...] | None
    source_profile: str | None

    def __init__(
        self,
        name: str,
        role_arn: str,
        *,
        credential_process: bool = False,
        command: tuple[str, ...] | None = None,
        source_profile: str | None = None,
        **options: Any,
    ) -> None:
        check_profile_name(name)
        section_header(name)  # raises if botocore could not read the name back
        if source_profile is not None:
            check_profile_name(source_profile, name="source_profile")
            if source_profile == name and not credential_process:
                raise InvalidInputError(
                    "source_profile",
                    source_profile,
                    f"profile {name!r} cannot be its own source (the AWS CLI reports an "
                    "infinite loop)",
                    fix="name the profile that holds your own credentials (keys or SSO)",
                )
        self._set("name", name)
        self._set("role_arn", parse_role_arn(role_arn).arn)
        for row in PROFILE_OPTIONS:
            assert row.key is not None
            value = options.pop(row.key, None)
            self._set(row.key, None if value is None else row.check(value, name=row.key))
        if options:
            raise TypeError(
                f"Profile() got an unexpected keyword argument {min(options)!r} (a profile "
                f"carries {', '.join(row.key or '' for row in PROFILE_OPTIONS)})"
            )
        self._set("credential_process", credential_process)
        self._set("source_profile", source_profile)
        if command is not None:
            parts = tuple(command)
            if not parts or not all(isinstance(part, str) and part for part in parts):
                raise InvalidInputError(
                    "command",
                    command,
                    "it must be non-empty strings",
                    fix="pass e.g. ('/usr/local/bin/ecs-xrole',)",
                )
            command = parts
        self._set("command", command)

    def process_command(self) -> str:
        """The ``credential_process`` command line (shell-quoted, as botocore splits it)."""
        return encode_process_line(
            self.command or default_command(),
            self.role_arn,
            self.options(),
            source_profile=self.source_profile,
        )

    def options(self) -> list[tuple[Any, Any]]:
        """(row, value) of each option this profile sets, in the table's order."""
        found = [(row, getattr(self, row.key or "")) for row in PROFILE_OPTIONS]
        return [(row, value) for row, value in found if value is not None]

    def settings(self) -> dict[str, str]:
        """The managed keys this profile sets, in the order a new section lists them."""
        if self.credential_process:
            values = {"credential_process": self.process_command()}
        else:
            values = {"role_arn": self.role_arn}
            if self.source_profile is not None:
                values["source_profile"] = self.source_profile
            else:
                values["credential_source"] = CREDENTIAL_SOURCE
        for row, value in self.options():
            # A credential_process line carries the AssumeRole parameters itself.
            if row.key and (row.sts is None or not self.credential_process):
                values[row.key] = str(value)
        for key, value in values.items():
            _check_value(self.name, key, value)
        return values


def _check_value(profile: str, key: str, value: str) -> None:
    """Refuse a value configparser would read back differently (or as a comment)."""
    problem = None
    if not value:
        problem = "it is empty"
    elif not _CONTROL.isdisjoint(value):
        problem = "it holds a control character (a newline would end the value)"
    elif value != value.strip():
        problem = "it has leading or trailing white space, which the parser strips"
    elif _INLINE_COMMENT.search(value):
        problem = (
            "it holds white space followed by '#' or ';', which the JavaScript SDK and other "
            "INI readers take as the start of a comment"
        )
    if problem is not None:
        raise InvalidInputError(
            f"{key} of profile {profile!r}", value, problem, fix=f"pass a plain {key} value"
        )


def section_header(name: str) -> str:
    """The section name botocore reads back as profile ``name``: ``default`` or ``profile NAME``.

    A name botocore's ``shlex`` split would change is quoted (``profile "my app"``). Raises
    :class:`InvalidInputError` when no spelling reads back as ``name``.
    """
    if name == "default":
        return "default"
    for candidate in (f"profile {name}", f'profile "{name}"', f"profile '{name}'"):
        match = _SECTCRE.match(f"[{candidate}]")
        if match and match["header"] == candidate and _profile_of(candidate) == name:
            return candidate
    raise InvalidInputError(
        "profile",
        name,
        "botocore could not read it back as a section name",
        fix="use letters, digits and -_. such as 'cross-account'",
    )


def _opt(values: Mapping[str, str], key: str, where: str, check: Callable[..., str]) -> str | None:
    value = values.get(key)
    return None if value is None else check(value, name=f"{key} {where}")


def _from_process(name: str, process: str, region: str | None, where: str) -> Profile:
    line = decode_process_line(process)
    if line is None:
        raise InvalidInputError(
            f"credential_process {where}",
            process,
            "it does not run `ecs-xrole credential-process`",
            fix="use a role_arn profile, or pass --role-arn instead of --profile",
        )
    role_arn = line.get("role_arn")
    if role_arn is None:
        raise InvalidInputError(
            f"credential_process {where}",
            process,
            "it has no --role-arn",
            fix=f"rewrite it with `ecs-xrole write-config --profile {name} --credential-process`",
        )
    options: dict[str, Any] = {}
    for row_name in line.values:
        row = next((r for r in PROFILE_OPTIONS if r.name == row_name), None)
        if row is None and row_name not in ("role_arn", "source_profile"):
            raise InvalidInputError(
                f"credential_process {where}",
                process,
                f"it passes {row_name}, which a profile cannot carry",
                fix="run that command with `ecs-xrole exec` or `serve`, or use the library",
            )
    for row in PROFILE_OPTIONS:
        assert row.key is not None
        assert row.flag is not None
        words = line.values.get(row.name)
        if words:
            options[row.key] = row.check(
                row.from_words(words), name=f"{row.flag} of credential_process {where}"
            )
    if options.get("region") is None and region is not None:
        options["region"] = region
    return Profile(
        name,
        role_arn,
        source_profile=line.get("source_profile"),
        credential_process=True,
        command=line.command or None,
        **options,
    )
