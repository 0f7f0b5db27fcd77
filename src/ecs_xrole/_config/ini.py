"""Pure text: parse the config file as botocore does, merge our sections in, verify.

Str in, str out, no I/O, so every rule is testable on text: the file is merged line by line
(other sections, comments and blank lines stay byte for byte; a second run changes nothing)
and the result is parsed back to check that botocore will read what was meant.
"""

from __future__ import annotations

import configparser
import io
import re

from ..errors import ConfigFileError, InvalidInputError
from .model import _SECTCRE, KEPT_UNLESS_GIVEN, MANAGED_KEYS, Profile, _profile_of, section_header

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_BOM = "\ufeff"

_OPTCRE = configparser.RawConfigParser.OPTCRE
_NONSPACECRE = configparser.RawConfigParser.NONSPACECRE
_NEWLINE = re.compile(r"\r\n|\r|\n")
_KEY_LIKE = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"  # compiled when needed: on a parse error only


# --------------------------------------------------------------------------------------------
# Reading the file the way botocore does


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
