"""Write ``[profile NAME]`` sections into the AWS config file, safely.

Most programs in a container are not Python (the AWS CLI, shell scripts, other SDKs), but they
all read ``~/.aws/config``. This module writes the profile of AWS's cross-account recipe::

    [profile cross-account]
    role_arn = arn:aws:iam::555566667777:role/destination-account-role
    credential_source = EcsContainer

or, for tools that cannot read ``credential_source`` (see ``credential_process`` below)::

    [profile cross-account]
    credential_process = /usr/local/bin/ecs-xrole credential-process --role-arn arn:...

How it edits
    The file is edited line by line, never round-tripped through :mod:`configparser`: every
    section, comment, blank line and line ending outside the target section's managed keys
    stays byte-for-byte. The *managed keys* (:data:`MANAGED_KEYS`) of a target section are set
    to exactly what was asked: a managed key that was not asked for is removed (switching to
    ``credential_process`` removes ``role_arn`` and ``credential_source``; leaving out
    ``external_id`` removes a stale one), except ``region``, which is set when given and
    otherwise left as it is. Other keys (``output = json``, ``mfa_serial``...) are kept.
    A key that already holds the wanted value keeps its line as it is; a replaced key keeps its
    position and indentation; a missing key is added after the section's last setting. A new
    section is appended at the end of the file after one blank line. Running twice leaves the
    file byte-identical.

What it refuses (:class:`~ecs_xrole.errors.InvalidInputError` or
:class:`~ecs_xrole.errors.ConfigFileError`; the file is then untouched)
    Invalid values (checked by :mod:`ecs_xrole.validate`); an existing file that botocore could
    not parse (checked with the same :class:`configparser.RawConfigParser` botocore uses, plus
    its nested-value rule; a UTF-8 byte-order mark is such a file: botocore fails on it); a
    profile defined by more than one section (``[default]`` and ``[profile default]`` both
    define ``default``); and any result that would not read back, through the same parser and
    botocore's section naming, as exactly the intended values with every other section intact.

How it writes (:func:`write_profiles`)
    Under an exclusive :func:`fcntl.flock` on ``<config>.lock`` (created 0600 and left in place:
    removing a lock file races with the next writer; waited for at most ``lock_timeout``
    seconds), it re-reads the file, merges, writes a temporary file in the same directory,
    fsyncs it, :func:`os.replace` s it over the config and fsyncs the directory. A killed writer
    leaves the old file or the new one, never a torn one; its temporary file is removed by the
    next writer. A new directory is made 0700 and a new file 0600; an existing file keeps its
    mode (and its owner, when running as root). A symlinked config file is written through: the
    link's target is replaced, the link stays.

What it will not write into (:class:`~ecs_xrole.errors.ConfigFileError`, also for ``check``
and ``dry_run``)
    A file another local user could swap, since AWS tools run a profile's ``credential_process``
    as whoever loads it: a path through a symlink that someone other than this user or root
    owns; a directory (the file's own or any parent) that another user owns, or that its group
    or others may write without the sticky bit; in a shared sticky directory, a config or lock
    file another user owns. And anything but a regular file (a FIFO or a device is refused
    before it is opened, so nothing blocks) or a file over :data:`MAX_CONFIG_BYTES`.

It never writes access keys or tokens: there is no way to ask for them. Standard library only:
this module must not import botocore or boto3 (``write-config`` runs before the application and
must stay fast).
"""

from __future__ import annotations

import configparser
import errno
import fcntl
import io
import os
import pwd
import re
import shlex
import stat
import sys
import time

from ._value import Value
from .errors import ConfigFileBusyError, ConfigFileError, InvalidInputError
from .validate import (
    check_external_id,
    check_profile_name,
    check_region,
    check_session_name,
    duration_seconds,
    parse_role_arn,
)

_duration_seconds = duration_seconds  # Profile.__init__ has a parameter of that name

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "CREDENTIAL_SOURCE",
    "DEFAULT_PROFILE",
    "KEPT_UNLESS_GIVEN",
    "LOCK_TIMEOUT",
    "MANAGED_KEYS",
    "MAX_CONFIG_BYTES",
    "Profile",
    "WriteResult",
    "config_path",
    "default_command",
    "merge",
    "read_profile",
    "section_header",
    "write_profiles",
]


def _info(message: str, *args: object) -> None:
    """Log ``message`` at INFO on this module's logger, if anything has loaded :mod:`logging`.

    Without logging loaded nothing can have configured it, and an unconfigured INFO record is
    dropped anyway; so write-config (which starts in every container) does not import it.
    """
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(__name__).info(message, *args)


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
    "external_id",
    "role_session_name",
    "duration_seconds",
    "region",
)
#: Managed keys that are changed only when given: ``region`` is not part of how credentials are
#: obtained, and dropping it from ``[default]`` would change every other command.
KEPT_UNLESS_GIVEN = frozenset({"region"})
#: The subcommand a ``credential_process`` line runs.
CREDENTIAL_PROCESS_COMMAND = "credential-process"

#: A config file larger than this is refused: an AWS config file is a few KiB, and botocore
#: reads the whole file on every load.
MAX_CONFIG_BYTES = 1024 * 1024
#: How long :func:`write_profiles` waits, by default, for another writer's lock (seconds).
LOCK_TIMEOUT = 10.0
_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_TEMP_SUFFIX = ".ecs-xrole.tmp"
_BOM = "\ufeff"

# The patterns configparser itself uses, taken from it (RawConfigParser defaults: '=' and ':'
# delimiters, '#' and ';' whole-line comments, no inline comments, empty lines allowed in
# values).
_SECTCRE = configparser.RawConfigParser.SECTCRE
_OPTCRE = configparser.RawConfigParser.OPTCRE
_NONSPACECRE = configparser.RawConfigParser.NONSPACECRE
_NEWLINE = re.compile(r"\r\n|\r|\n")
_INLINE_COMMENT = re.compile(r"\s[#;]")
_KEY_LIKE = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"  # compiled when needed: on a parse error only
_CONTROL = frozenset(map(chr, [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]))


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

    Every value is checked by :mod:`ecs_xrole.validate` on construction
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

    # A new field goes in __slots__ (its place in repr and equality), as an annotation, and
    # as a keyword-only parameter set in __init__.
    __slots__ = (  # noqa: RUF023 (the fields' order: repr and equality follow it)
        "name",
        "role_arn",
        "external_id",
        "role_session_name",
        "duration_seconds",
        "region",
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
        external_id: str | None = None,
        role_session_name: str | None = None,
        duration_seconds: int | None = None,
        region: str | None = None,
        credential_process: bool = False,
        command: tuple[str, ...] | None = None,
        source_profile: str | None = None,
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
        if external_id is not None:
            check_external_id(external_id)
        self._set("external_id", external_id)
        if role_session_name is not None:
            check_session_name(role_session_name)
        self._set("role_session_name", role_session_name)
        if duration_seconds is not None:
            duration_seconds = _duration_seconds(duration_seconds)
        self._set("duration_seconds", duration_seconds)
        if region is not None:
            check_region(region, name="region")
        self._set("region", region)
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
        argv = [*(self.command or default_command()), CREDENTIAL_PROCESS_COMMAND]
        argv += ["--role-arn", self.role_arn]
        if self.external_id is not None:
            argv += ["--external-id", self.external_id]
        if self.role_session_name is not None:
            argv += ["--role-session-name", self.role_session_name]
        if self.duration_seconds is not None:
            argv += ["--duration-seconds", str(self.duration_seconds)]
        if self.region is not None:
            argv += ["--region", self.region]
        if self.source_profile is not None:
            argv += ["--source-profile", self.source_profile]
        return shlex.join(argv)

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
            if self.external_id is not None:
                values["external_id"] = self.external_id
            if self.role_session_name is not None:
                values["role_session_name"] = self.role_session_name
            if self.duration_seconds is not None:
                values["duration_seconds"] = str(self.duration_seconds)
        if self.region is not None:
            values["region"] = self.region
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


# --------------------------------------------------------------------------------------------
# Reading the file the way botocore does


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


def _universal(text: str) -> str:
    """Line endings as Python's text mode (botocore's ``open``) presents them: all ``\\n``."""
    return _NEWLINE.sub("\n", text)


def _parse(text: str, source: str) -> dict[str, dict[str, str]]:
    """Parse ``text`` exactly as botocore's ``raw_config_parse`` would; return its sections.

    Raises :class:`ConfigFileError` when botocore would raise ``ConfigParseError``.
    """
    if text.startswith(_BOM):
        raise ConfigFileError(
            f"{source} starts with a UTF-8 byte-order mark, which botocore (and so the AWS CLI) "
            "cannot parse: every profile in it is unreadable today",
            fix=f"remove the first three bytes, e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' {source}`, "
            "then run again",
            path=source,
        )
    parser = configparser.RawConfigParser()
    try:
        parser.read_file(io.StringIO(_universal(text)), source=source)
    except configparser.Error as exc:
        raise ConfigFileError(
            f"{source} cannot be parsed, so botocore and the AWS CLI cannot read it either: "
            f"{_parse_problem(exc, text)}",
            fix="correct the line it names (or move the file aside) and run again",
            path=source,
        ) from None
    sections: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        values = {option: str(parser.get(section, option)) for option in parser.options(section)}
        for option, value in values.items():
            if value.startswith("\n") and any(
                "=" not in line for line in value.splitlines() if line.strip()
            ):
                raise ConfigFileError(
                    f"{source} cannot be parsed by botocore: the indented lines under "
                    f"{option!r} in [{section}] are not all 'key = value'",
                    fix="indent only nested 'key = value' lines (such as under 's3 =')",
                    path=source,
                )
        sections[section] = values
    return sections


def _parse_problem(exc: configparser.Error, text: str) -> str:
    """What configparser found wrong, by line number and key: never a line's value.

    configparser's own messages quote the offending line, which may be an
    ``aws_secret_access_key = ...`` that someone put in the config file.
    """
    lines = _universal(text).split("\n")
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"section [{exc.section}] appears more than once (again at line {exc.lineno})"
    if isinstance(exc, configparser.DuplicateOptionError):
        return (
            f"key {exc.option!r} appears more than once in [{exc.section}] "
            f"(again at line {exc.lineno})"
        )
    numbers: list[int] = []
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        numbers.append(lineno)
    for entry in getattr(exc, "errors", None) or []:
        if isinstance(entry, tuple) and entry and isinstance(entry[0], int):
            numbers.append(entry[0])
    where = ", ".join(_line_ref(lines, n) for n in dict.fromkeys(numbers)) or "a line"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{where} comes before the first [section] header"
    if isinstance(exc, configparser.ParsingError):
        return f"{where}: not a [section] header, a comment, nor 'key = value'"
    return f"{type(exc).__name__} at {where}"


def _line_ref(lines: Sequence[str], lineno: int) -> str:
    """``line 3 (key 'region')``: the key only when it looks like one, never the value."""
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    match = _OPTCRE.match(line.strip())
    key = match["option"].strip() if match else ""
    return f"line {lineno} (key {key!r})" if re.fullmatch(_KEY_LIKE, key) else f"line {lineno}"


# --------------------------------------------------------------------------------------------
# The text, line by line


class _Line:
    """One physical line: its text without the ending, the ending, and what configparser saw."""

    __slots__ = ("text", "end", "kind", "lineno", "section", "key", "indent")  # noqa: RUF023

    def __init__(
        self,
        text: str,
        end: str,
        kind: str,  # "blank", "comment", "header", "option", "continuation"
        lineno: int,
        *,
        section: str | None = None,  # for "header": the section name
        key: str | None = None,  # for "option": the option name, lower-cased like configparser
        indent: str = "",
    ) -> None:
        self.text = text
        self.end = end
        self.kind = kind
        self.lineno = lineno
        self.section = section
        self.key = key
        self.indent = indent


def _split_lines(text: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _NEWLINE.finditer(text):
        parts.append((text[pos : match.start()], match.group()))
        pos = match.end()
    if pos < len(text):
        parts.append((text[pos:], ""))
    return parts


def _classify(text: str) -> list[_Line]:
    """Classify every line as configparser's ``_read`` does (the text is known to parse)."""
    lines: list[_Line] = []
    in_section = False
    optname: str | None = None
    indent_level = 0
    for lineno, (body, end) in enumerate(_split_lines(text), start=1):
        stripped = body.strip()
        if not stripped:
            lines.append(_Line(body, end, "blank", lineno))
            continue
        if stripped.startswith(("#", ";")):
            lines.append(_Line(body, end, "comment", lineno))
            continue
        first = _NONSPACECRE.search(body)
        cur_indent = first.start() if first else 0
        indent = body[:cur_indent]
        if in_section and optname and cur_indent > indent_level:
            lines.append(_Line(body, end, "continuation", lineno, indent=indent))
            continue
        indent_level = cur_indent
        header = _SECTCRE.match(stripped)
        if header:
            in_section = True
            optname = None
            lines.append(
                _Line(body, end, "header", lineno, section=header["header"], indent=indent)
            )
            continue
        option = _OPTCRE.match(stripped)
        # The text parsed, so every remaining line is an option.
        optname = option["option"].rstrip().lower() if option else "?"
        lines.append(_Line(body, end, "option", lineno, key=optname, indent=indent))
    return lines


def _newline_of(text: str) -> str:
    match = _NEWLINE.search(text)
    return match.group() if match else "\n"


def _sections_of(lines: list[_Line]) -> list[tuple[int, int]]:
    """(header index, end index) of every section, ``end`` exclusive."""
    starts = [i for i, line in enumerate(lines) if line.kind == "header"]
    return [(start, ends) for start, ends in zip(starts, [*starts[1:], len(lines)], strict=False)]


def _option_extent(lines: list[_Line], start: int, stop: int) -> int:
    """Index after the option at ``start`` and its continuation lines (not trailing blanks)."""
    end = start + 1
    for i in range(start + 1, stop):
        kind = lines[i].kind
        if kind == "continuation":
            end = i + 1
        elif kind not in ("blank", "comment"):
            break
    return end


# --------------------------------------------------------------------------------------------
# Merging


def merge(text: str, profiles: Sequence[Profile], *, source: str = "<config>") -> str:
    """Return ``text`` with ``profiles`` written in; pure (no I/O).

    ``source`` names the file in messages. Raises :class:`ConfigFileError` when ``text``
    cannot be parsed as botocore would, when a profile is defined by several sections, or
    when the result would not read back as intended; :class:`InvalidInputError` when the same
    profile is given twice.
    """
    seen: set[str] = set()
    for profile in profiles:
        if profile.name in seen:
            raise InvalidInputError(
                "profile",
                profile.name,
                "it is given more than once",
                fix="give each profile once",
            )
        seen.add(profile.name)
    for profile in profiles:
        text = _merge_one(text, profile, source)
    return text


def _merge_one(text: str, profile: Profile, source: str) -> str:
    before = _parse(text, source)
    lines = _classify(text)
    wanted = profile.settings()
    managed = frozenset(MANAGED_KEYS) - (KEPT_UNLESS_GIVEN - set(wanted))
    newline = _newline_of(text)
    targets = [
        (start, stop)
        for start, stop in _sections_of(lines)
        if _profile_of(lines[start].section or "") == profile.name
    ]
    if len(targets) > 1:
        where = ", ".join(
            f"line {lines[start].lineno} [{lines[start].section}]" for start, _ in targets
        )
        raise ConfigFileError(
            f"profile {profile.name!r} is defined more than once in {source} ({where}); "
            "botocore would silently use only the last one",
            fix="merge them into one section (or delete the extra ones) and run again",
            path=source,
        )
    if targets:
        start, stop = targets[0]
        section = lines[start].section or ""
        new_lines = _edit_section(lines, start, stop, wanted, managed, newline)
        result = "".join(line.text + line.end for line in new_lines)
    else:
        section = section_header(profile.name)
        result = _append_section(text, section, wanted, newline)
    _verify(before, result, section, profile.name, wanted, managed, source)
    return result


def _edit_section(
    lines: list[_Line],
    start: int,
    stop: int,
    wanted: Mapping[str, str],
    managed: frozenset[str],
    newline: str,
) -> list[_Line]:
    out = lines[: start + 1]
    pending = dict(wanted)
    anchor = start  # index in `out` of the last setting kept: missing keys go after it
    i = start + 1
    while i < stop:
        line = lines[i]
        if line.kind != "option":
            out.append(line)
            i += 1
            continue
        end = _option_extent(lines, i, stop)
        key = line.key or ""
        if key not in managed:
            out.extend(lines[i:end])
            anchor = len(out) - 1
        elif key in pending:
            value = pending.pop(key)
            if end == i + 1 and _value_of(line) == value:
                out.append(line)  # already right: keep the line byte-for-byte
            else:  # same place, same indentation (less would turn what follows into a value)
                out.append(
                    _Line(
                        f"{line.indent}{key} = {value}",
                        line.end,
                        "option",
                        line.lineno,
                        key=key,
                        indent=line.indent,
                    )
                )
            anchor = len(out) - 1
        # else: a managed key that was not asked for goes, with its continuation lines
        i = end
    if pending:
        last = out[anchor]
        if last.kind == "header":
            # After a bare header, indent at least as deep as the next header: a shallower
            # setting would turn an indented header below it into a continuation line.
            following = [line for line in lines[stop:] if line.kind not in ("blank", "comment")]
            deeper = following[0].indent if following else ""
            indent = deeper if len(deeper) > len(last.indent) else last.indent
        else:  # as deep as the last setting: what follows is then no continuation either
            indent = out[_option_start(out, anchor)].indent
        if not last.end:
            last.end = newline
        out[anchor + 1 : anchor + 1] = [
            _Line(f"{indent}{key} = {value}", newline, "option", 0, key=key, indent=indent)
            for key, value in pending.items()
        ]
    out.extend(lines[stop:])
    return out


def _option_start(lines: list[_Line], index: int) -> int:
    """The option line a continuation line at ``index`` belongs to (or ``index`` itself)."""
    while lines[index].kind != "option" and index > 0:
        index -= 1
    return index


def _value_of(line: _Line) -> str | None:
    match = _OPTCRE.match(line.text.strip())
    return match["value"].strip() if match else None


def _append_section(text: str, section: str, wanted: Mapping[str, str], newline: str) -> str:
    if text and not text.endswith(("\n", "\r")):
        text += newline
    lines = _split_lines(text)
    if lines and lines[-1][0].strip():
        text += newline  # one blank line before the new section
    body = [f"[{section}]", *(f"{key} = {value}" for key, value in wanted.items())]
    return text + "".join(line + newline for line in body)


def _verify(
    before: Mapping[str, Mapping[str, str]],
    text: str,
    section: str,
    profile: str,
    wanted: Mapping[str, str],
    managed: frozenset[str],
    source: str,
) -> None:
    """Check that ``text`` reads back as ``before`` with only ``section``'s managed keys changed."""
    after = _parse(text, source)

    def fail(problem: str) -> ConfigFileError:
        return ConfigFileError(
            f"refusing to write {source}: after the change, botocore would read {problem}",
            fix="simplify the layout of that section (indentation, [DEFAULT] values) or "
            "move the file aside, and run again",
            path=source,
        )

    if set(after) - {section} != set(before) - {section} or section not in after:
        raise fail("a different set of sections")
    for name, values in before.items():
        if name != section and after[name] != values:
            raise fail(f"different values in [{name}]")
    old = {k: v for k, v in before.get(section, {}).items() if k not in managed}
    new = {k: v for k, v in after[section].items() if k not in managed}
    if section in before and old != new:
        raise fail(f"different unmanaged values in [{section}]")
    got = {k: v for k, v in after[section].items() if k in managed}
    if got != dict(wanted):
        extra = sorted(set(got) - set(wanted))
        detail = f" ({', '.join(extra)} inherited from [DEFAULT]?)" if extra else ""
        raise fail(f"profile {profile!r} as {got!r} instead of {dict(wanted)!r}{detail}")
    owners = [name for name in after if _profile_of(name) == profile]
    if owners != [section]:
        raise fail(f"profile {profile!r} from sections {owners!r}")


# --------------------------------------------------------------------------------------------
# The file


def _expand(path: str, environ: Mapping[str, str]) -> str:
    """``os.path.expandvars`` then ``expanduser`` (botocore's order), against ``environ``."""

    def var(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environ.get(name, match.group(0))

    path = re.sub(r"\$(?:(\w+)|\{([^}]*)\})", var, path)
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        path = home + path[1:]
    else:
        path = os.path.expanduser(path)
    return path


def config_path(environ: Mapping[str, str] | None = None) -> str:
    """The config file the AWS CLI reads: ``AWS_CONFIG_FILE``, else ``~/.aws/config``.

    ``environ`` defaults to :data:`os.environ`; ``$VARS`` and ``~`` are expanded as botocore
    does. Raises :class:`InvalidInputError` when ``AWS_CONFIG_FILE`` is set but empty (the
    AWS CLI then reads no config file at all).
    """
    env = os.environ if environ is None else environ
    raw = env.get("AWS_CONFIG_FILE")
    if raw is not None and not raw.strip():
        raise InvalidInputError(
            "AWS_CONFIG_FILE",
            raw,
            "it is set but empty, so the AWS CLI reads no config file",
            fix="unset it (to use ~/.aws/config) or set it to a file path",
        )
    return os.path.abspath(_expand(raw if raw is not None else "~/.aws/config", env))


class WriteResult(Value):
    """What :func:`write_profiles` did: the file, whether it changed, and its full new text.

    With ``dry_run`` or ``check``, ``changed`` says whether a write *would* change the file.
    Immutable.
    """

    __slots__ = (  # noqa: RUF023 (the fields' order: repr and equality follow it)
        "path",
        "changed",
        "text",
        "profiles",
        "created",
        "changed_profiles",
    )
    path: str
    changed: bool
    text: str
    profiles: tuple[str, ...]
    created: bool
    #: The profiles whose section changed (or would): the others already held what was asked.
    changed_profiles: tuple[str, ...]

    def __init__(
        self,
        path: str,
        changed: bool,
        text: str,
        profiles: tuple[str, ...],
        created: bool = False,
        changed_profiles: tuple[str, ...] = (),
    ) -> None:
        self._set("path", path)
        self._set("changed", changed)
        self._set("text", text)
        self._set("profiles", profiles)
        self._set("created", created)
        self._set("changed_profiles", changed_profiles)


def _name_of(uid: int) -> str:
    """``uid 1000 (alice)``, or just the number when it has no name."""
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (KeyError, OverflowError):
        return f"uid {uid}"


def _trusted(uid: int) -> bool:
    """Whether a file or directory owned by ``uid`` is ours to trust: this user's or root's."""
    return uid in (os.geteuid(), 0)


def _chosen(path: str | None, environ: Mapping[str, str] | None) -> str:
    """The file named by ``path`` (``~`` expanded) or :func:`config_path`, as an absolute path."""
    return os.path.abspath(os.path.expanduser(path)) if path else config_path(environ)


def _resolve(path: str) -> str:
    """``path`` with its symlinks resolved, like :func:`os.path.realpath`, checking each link.

    A link is followed only when this user or root owns it: a link planted by another user
    (in ``/tmp``, say) could otherwise send this user's write anywhere it may write. (The
    kernel's ``protected_symlinks`` guards ``open``, not a path resolved by hand.) A missing
    part ends the resolution: the rest is taken as written. Reads the file system; raises
    :class:`ConfigFileError`.
    """
    resolved = "/"
    pending = [part for part in reversed(path.split("/")) if part]
    links = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, name)
        try:
            info = os.lstat(candidate)
        except OSError:  # missing (or not searchable): what follows is taken as written
            return os.path.normpath(os.path.join(candidate, *reversed(pending)))
        if not stat.S_ISLNK(info.st_mode):
            resolved = candidate
            continue
        if not _trusted(info.st_uid):
            raise ConfigFileError(
                f"refusing to write {path}: it goes through the symlink {candidate}, which "
                f"{_name_of(info.st_uid)} owns, not this user ({_name_of(os.geteuid())}) or "
                "root; that user could point it at any file this user may write",
                fix="remove the link and run again, or choose a path without it with "
                "--config-file or AWS_CONFIG_FILE",
                path=path,
            )
        links += 1
        if links > _MAX_LINKS:
            raise ConfigFileError(
                f"cannot resolve {path}: more than {_MAX_LINKS} symlinks (a loop?)",
                fix="point AWS_CONFIG_FILE (or --config-file) at the real file",
                path=path,
            )
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = "/"
        pending.extend(part for part in reversed(target.split("/")) if part)
    return resolved


def _check_directories(path: str) -> bool:
    """Refuse ``path``'s directory and its parents if another user could swap the file.

    Each existing directory from ``path``'s own up to ``/`` must be owned by this user or root,
    and must not be writable by its group or others unless it has the sticky bit (as ``/tmp``
    has: there only an entry's owner may rename or remove it). Returns whether ``path``'s own
    directory is such a shared sticky directory. Reads the file system; raises
    :class:`ConfigFileError`.
    """
    directory = os.path.dirname(path)
    shared = False
    current = directory
    while True:
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            info = None  # created later, 0700, by this user
        except OSError as exc:  # a part that is a file, a name too long, no permission
            raise ConfigFileError(
                f"cannot write {path}: looking up {current} failed: {exc.strerror or exc}",
                fix="make each directory above the file a directory this user may search, or "
                "choose another file with --config-file or AWS_CONFIG_FILE",
                path=path,
            ) from None
        if info is not None:
            mode = info.st_mode
            why = None
            if not _trusted(info.st_uid):
                why = (
                    f"{current} is owned by {_name_of(info.st_uid)}, not by this user "
                    f"({_name_of(os.geteuid())}) or root"
                )
                fix = (
                    "use a directory only this user (or root) controls, such as ~/.aws "
                    f"(unset AWS_CONFIG_FILE), or `chown {os.geteuid()} {current}` if it "
                    "should be this user's"
                )
            elif mode & 0o022 and not mode & stat.S_ISVTX:
                who = (
                    "its group and others"
                    if mode & 0o022 == 0o022
                    else ("its group" if mode & 0o020 else "others")
                )
                why = (
                    f"{current} is writable by {who} (mode {stat.S_IMODE(mode):04o}) and has "
                    "no sticky bit"
                )
                fix = f"`chmod go-w {current}`, or use a directory only this user controls"
            if why is not None:
                raise ConfigFileError(
                    f"refusing to write {path}: {why}, so another user could replace the "
                    "config file with one whose credential_process runs their command as "
                    "this user",
                    fix=fix,
                    path=path,
                )
            if current == directory:
                shared = bool(mode & 0o022)
        parent = os.path.dirname(current)
        if parent == current:
            return shared
        current = parent


def _check_owner(path: str, info: os.stat_result, shared: bool) -> None:
    """In a shared sticky directory, refuse a file (config or lock) another user owns."""
    if shared and not _trusted(info.st_uid):
        raise ConfigFileError(
            f"refusing to use {path}: {path} is owned by {_name_of(info.st_uid)} in a "
            "directory others may write, so that user controls what it holds",
            fix="remove it (or use a directory only this user controls) and run again",
            path=path,
        )


def _not_regular(path: str, mode: int, fix: str | None = None) -> ConfigFileError:
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a symlink"
        if stat.S_ISLNK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return ConfigFileError(
        f"{path} is {kind}, not a regular file",
        fix=fix
        or "point AWS_CONFIG_FILE (or --config-file) at a regular file, or at a path that "
        "does not exist yet",
        path=path,
    )


def _refuse_special(path: str) -> None:
    """Refuse ``path`` early when it exists as anything but a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # missing, or unreadable: the open that follows explains
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)


def _open_regular(path: str, flags: int, *, fix: str | None = None) -> int | None:
    """Open ``path`` without following a symlink or blocking; ``None`` when it is missing.

    Anything but a regular file is refused before it is opened (a FIFO would block, a device
    would read forever) and checked again once open. Raises :class:`ConfigFileError` for what is
    refused, :class:`OSError` for what the caller explains.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode, fix)
    if info is None and not flags & os.O_CREAT:
        return None
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | _O_NOCTTY, 0o600)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the lstat
            raise _not_regular(path, stat.S_IFLNK, fix) from None
        raise
    opened = os.fstat(fd).st_mode
    if not stat.S_ISREG(opened):
        os.close(fd)
        raise _not_regular(path, opened, fix)
    return fd


def _read_text(path: str, *, shared: bool = False) -> tuple[str | None, os.stat_result | None]:
    """The file's text and stat, or ``(None, None)`` when it does not exist.

    Never blocks and never reads more than :data:`MAX_CONFIG_BYTES` (plus one) bytes: only a
    regular file is opened (see :func:`_open_regular`). Raises :class:`ConfigFileError`.
    """
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read {path}: {exc.strerror or exc}",
            fix="make it readable by this user (or choose another file with --config-file)",
            path=path,
        ) from None
    if fd is None:
        return None, None
    try:
        info = os.fstat(fd)
        _check_owner(path, info, shared)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read {path}: {exc.strerror or exc}",
            fix="make it readable by this user (or choose another file with --config-file)",
            path=path,
        ) from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigFileError(
            f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB, far more than an AWS config "
            "file holds (is it the right file?)",
            fix="point AWS_CONFIG_FILE (or --config-file) at the AWS config file",
            path=path,
        )
    data = b"".join(chunks)
    try:
        return data.decode("utf-8"), info
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not UTF-8 text (byte {exc.start}), so it cannot be read reliably",
            fix="convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) and run again",
            path=path,
        ) from None


def _make_dirs(directory: str) -> None:
    """Create missing directories with mode 0700 (exactly: not widened by the umask)."""
    missing: list[str] = []
    current = directory
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)
        except FileExistsError:
            continue  # made meanwhile: _check_directories judges it next
        except OSError as exc:
            raise ConfigFileError(
                f"cannot create the directory {path}: {exc.strerror or exc}",
                fix="create it yourself, or choose a writable place with --config-file "
                "or AWS_CONFIG_FILE",
                path=path,
            ) from None


def _lock(path: str, timeout: float, shared: bool) -> int:
    """Take an exclusive lock on ``<path>.lock`` (created 0600); return its descriptor.

    Closing the descriptor releases the lock. Waits at most ``timeout`` seconds for another
    holder, then raises :class:`ConfigFileBusyError`. The lock file must be a regular file,
    not a symlink.
    """
    lock_path = path + ".lock"
    odd = f"remove {lock_path} (write-config makes a new one) and run again"

    def cannot(exc: OSError) -> ConfigFileError:
        return ConfigFileError(
            f"cannot create the lock file {lock_path}: {exc.strerror or exc}",
            fix=f"make {os.path.dirname(lock_path)} writable by this user, or choose a "
            "writable place with --config-file or AWS_CONFIG_FILE",
            path=path,
        )

    try:
        fd = _open_regular(lock_path, os.O_RDWR | os.O_CREAT, fix=odd)
    except PermissionError:
        try:  # an existing lock file we may not write still serves for flock
            fd = _open_regular(lock_path, os.O_RDONLY, fix=odd)
        except OSError as exc:
            raise cannot(exc) from None
        if fd is None:
            raise cannot(PermissionError(errno.EACCES, os.strerror(errno.EACCES))) from None
    except OSError as exc:
        raise cannot(exc) from None
    assert fd is not None  # O_CREAT: never missing
    try:
        _check_owner(lock_path, os.fstat(fd), shared)
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConfigFileBusyError(
                        f"cannot lock {lock_path}: another process has held it for "
                        f"{timeout:g} s (a write-config that is stuck, or a process holding "
                        "it on purpose); nothing was written",
                        fix=f"find the holder with `fuser -v {lock_path}`, let it finish or "
                        "stop it, and run again",
                        path=path,
                        lock_path=lock_path,
                    ) from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.02)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_stale_temps(path: str) -> None:
    """Remove temporary files left by writers that were killed (we hold the lock)."""
    directory, base = os.path.split(path)
    prefix = f".{base}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(_TEMP_SUFFIX):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                continue
            _info("removed a temporary file left by an interrupted writer: %s", name)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _make_temp(directory: str, base: str) -> tuple[int, str]:
    """Create ``.<base>.<random>.ecs-xrole.tmp`` in ``directory``, 0600, exclusively (as
    :func:`tempfile.mkstemp` does; tempfile is costly to import at every container start)."""
    for _ in range(100):
        temp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}{_TEMP_SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def _replace(path: str, data: bytes, info: os.stat_result | None) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    directory, base = os.path.split(path)
    try:
        fd, temp = _make_temp(directory, base)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot write in {directory}: {exc.strerror or exc}",
            fix="make the directory writable by this user (the file is replaced atomically, "
            "which needs a new file beside it), or choose another with --config-file",
            path=path,
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if info is None:
                os.fchmod(handle.fileno(), 0o600)
            else:
                os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
                if os.geteuid() == 0:
                    os.fchown(handle.fileno(), info.st_uid, info.st_gid)
                elif info.st_gid != os.getegid():
                    try:  # noqa: SIM105 (allowed if we are in that group; contextlib costs a start)
                        os.fchown(handle.fileno(), -1, info.st_gid)
                    except OSError:
                        pass
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        try:  # noqa: SIM105 (contextlib costs write-config's start)
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ConfigFileError(
                f"cannot write {path}: {exc.strerror or exc}",
                fix="check the free space and permissions of its directory",
                path=path,
            ) from None
        raise
    _fsync_dir(directory)


def write_profiles(
    profiles: Sequence[Profile],
    *,
    path: str | None = None,
    dry_run: bool = False,
    check: bool = False,
    environ: Mapping[str, str] | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> WriteResult:
    """Merge ``profiles`` into the AWS config file and write it atomically; return what happened.

    ``path`` overrides :func:`config_path` (``environ`` defaults to :data:`os.environ`). With
    ``dry_run`` or ``check`` nothing is created or written; the result says whether a write
    would change the file. Otherwise the merge and write run under the lock described in the
    module docstring, waiting at most ``lock_timeout`` seconds for it, and an unchanged file is
    not rewritten (its mtime stays). Both refuse a file another user could swap (see the
    module docstring) and anything but a regular file of at most :data:`MAX_CONFIG_BYTES`.
    Raises :class:`InvalidInputError` (bad profiles), :class:`ConfigFileBusyError` (the lock
    stayed taken) or :class:`ConfigFileError` (a file that is unsafe, unreadable, unparseable
    or unwritable); on any error the file is untouched.
    """
    if not profiles:
        raise InvalidInputError("profiles", [], "no profile given", fix="pass at least one Profile")
    names = tuple(profile.name for profile in profiles)
    target = _resolve(_chosen(path, environ))
    _refuse_special(target)
    if dry_run or check:
        shared = _check_directories(target)
        old, _ = _read_text(target, shared=shared)
        new = merge(old or "", profiles, source=target)
        changed = _changed_profiles(old, profiles, target)
        return WriteResult(
            target, new != (old or "") or old is None, new, names, old is None, changed
        )
    _check_directories(target)  # before creating anything in them
    _make_dirs(os.path.dirname(target))
    shared = _check_directories(target)  # and again: a directory made meanwhile by another
    lock = _lock(target, lock_timeout, shared)
    try:
        _remove_stale_temps(target)
        old, info = _read_text(target, shared=shared)
        new = merge(old or "", profiles, source=target)
        if old is not None and new == old:
            _info("%s already holds profiles %s", target, ", ".join(names))
            return WriteResult(target, False, new, names)
        changed = _changed_profiles(old, profiles, target)
        _replace(target, new.encode("utf-8"), info)
    finally:
        os.close(lock)  # releases the lock
    _info("wrote profiles %s to %s", ", ".join(names), target)
    return WriteResult(target, True, new, names, old is None, changed)


def _changed_profiles(old: str | None, profiles: Sequence[Profile], source: str) -> tuple[str, ...]:
    """The names of the profiles whose section a merge into ``old`` changes."""
    if old is None:
        return tuple(profile.name for profile in profiles)
    return tuple(p.name for p in profiles if merge(old, [p], source=source) != old)


# --------------------------------------------------------------------------------------------
# Reading a profile back


def read_profile(
    name: str = DEFAULT_PROFILE,
    *,
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Profile:
    """Read profile ``name`` back from the config file as a :class:`Profile`.

    Understands ``role_arn`` profiles and ``credential_process`` profiles written by
    ecs-xrole. Reads the file. Raises :class:`InvalidInputError` when the profile is missing or
    holds invalid values, :class:`ConfigFileError` when the file cannot be read or parsed.
    """
    check_profile_name(name)
    target = os.path.realpath(_chosen(path, environ))
    text, _ = _read_text(target)
    sections = _parse(text or "", target)
    values: dict[str, str] | None = None
    for section, options in sections.items():
        if _profile_of(section) == name:
            values = options  # the last one wins, as in botocore
    if values is None:
        raise InvalidInputError(
            "profile",
            name,
            f"there is no such profile in {target}",
            fix=f"run `ecs-xrole write-config --profile {name} --role-arn ARN` first",
        )
    where = f"in profile {name!r} of {target}"
    if "role_arn" in values:
        duration = values.get("duration_seconds")
        return Profile(
            name,
            parse_role_arn(values["role_arn"], name=f"role_arn {where}").arn,
            external_id=_opt(values, "external_id", where, check_external_id),
            role_session_name=_opt(values, "role_session_name", where, check_session_name),
            duration_seconds=(
                duration_seconds(duration, name=f"duration_seconds {where}")
                if duration is not None
                else None
            ),
            region=_opt(values, "region", where, check_region),
            source_profile=values.get("source_profile") or None,
        )
    process = values.get("credential_process")
    if process is not None:
        return _from_process(name, process, values.get("region"), where)
    raise InvalidInputError(
        "profile",
        name,
        f"it has neither role_arn nor credential_process in {target}",
        fix=f"run `ecs-xrole write-config --profile {name} --role-arn ARN`",
    )


def _opt(values: Mapping[str, str], key: str, where: str, check: Callable[..., str]) -> str | None:
    value = values.get(key)
    return None if value is None else check(value, name=f"{key} {where}")


def _from_process(name: str, process: str, region: str | None, where: str) -> Profile:
    try:
        argv = shlex.split(process)
    except ValueError:
        argv = []
    if CREDENTIAL_PROCESS_COMMAND not in argv:
        raise InvalidInputError(
            f"credential_process {where}",
            process,
            "it does not run `ecs-xrole credential-process`",
            fix="use a role_arn profile, or pass --role-arn instead of --profile",
        )
    at = argv.index(CREDENTIAL_PROCESS_COMMAND)
    options: dict[str, str] = {}
    rest = argv[at + 1 :]
    for flag, value in zip(rest[::2], rest[1::2], strict=False):
        options[flag.lstrip("-").replace("-", "_")] = value
    if "role_arn" not in options:
        raise InvalidInputError(
            f"credential_process {where}",
            process,
            "it has no --role-arn",
            fix=f"rewrite it with `ecs-xrole write-config --profile {name} --credential-process`",
        )
    duration = options.get("duration_seconds")
    return Profile(
        name,
        options["role_arn"],
        external_id=options.get("external_id"),
        role_session_name=options.get("role_session_name"),
        duration_seconds=(
            duration_seconds(duration, name=f"--duration-seconds of credential_process {where}")
            if duration is not None
            else None
        ),
        region=options.get("region", region),
        source_profile=options.get("source_profile"),
        credential_process=True,
        command=tuple(argv[:at]) or None,
    )
