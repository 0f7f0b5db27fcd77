"""The one table of the AssumeRole options: each option's names and encodings, once.

Every place that names an option (the STS request, the command-line flags, the profile keys,
the ``ECS_XROLE_<NAME>_*`` variables, the ``credential_process`` line) loops over
:data:`OPTIONS` instead of spelling it out. A cell of ``None`` means the option cannot be
carried that way; :meth:`Option.refuse` says so. Standard library only, on ``write-config``'s
path: the checkers are named, and resolved from :mod:`ecs_xrole._validate` when first used.
"""

from __future__ import annotations

from ._value import Value
from .errors import InvalidInputError

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

# How a value is held once checked (hashable) and how it is encoded: "text" (a string),
# "seconds" (whole seconds), "arns" (a tuple of ARNs; STS [{"arn": ...}]), "tags" (a tuple of
# (key, value); STS [{"Key", "Value"}]), "keys" (a tuple of strings; STS a list).
_REPEATED = frozenset({"arns", "tags", "keys"})


class Option(Value):
    """One AssumeRole option: its Python name and how each layer carries it (``None``: not)."""

    __slots__ = (  # noqa: RUF023 (the fields' order: repr and equality follow it)
        "name",
        "sts",
        "flag",
        "key",
        "env",
        "checker",
        "kind",
        "metavar",
        "help",
    )
    name: str
    sts: str | None
    flag: str | None
    key: str | None
    env: str | None
    checker: str | None
    kind: str
    metavar: str | None
    help: str | None

    def __init__(
        self,
        name: str,
        *,
        sts: str | None,
        flag: str | None,
        key: str | None,
        env: str | None,
        checker: str | None,
        kind: str = "text",
        metavar: str | None = None,
        help: str | None = None,
    ) -> None:
        self._set("name", name)
        self._set("sts", sts)
        self._set("flag", flag)
        self._set("key", key)
        self._set("env", env)
        self._set("checker", checker)
        self._set("kind", kind)
        self._set("metavar", metavar)
        self._set("help", help)

    @property
    def dest(self) -> str | None:
        """The argparse destination of the flag (``--region``: ``region``)."""
        return None if self.flag is None else self.flag.lstrip("-").replace("-", "_")

    @property
    def repeated(self) -> bool:
        """Whether the value is a collection (a flag given once per item)."""
        return self.kind in _REPEATED

    def check(self, value: object, *, name: str | None = None) -> Any:
        """``value`` checked by the row's checker and held hashable (see the kinds above);
        errors name ``name`` (default: the option's name). Raises
        :class:`~ecs_xrole.errors.InvalidInputError`."""
        if self.checker is None:
            return value
        from . import _validate

        checked = getattr(_validate, self.checker)(value, name=name or self.name)
        if self.kind == "arns":
            return tuple(item["arn"] for item in checked)
        if self.kind == "tags":
            return tuple((tag["Key"], tag["Value"]) for tag in checked)
        if self.kind == "keys":
            return tuple(checked)
        return checked

    def to_sts(self, value: Any) -> Any:
        """A checked value as the STS AssumeRole parameter takes it."""
        if self.kind == "arns":
            return [{"arn": arn} for arn in value]
        if self.kind == "tags":
            return [{"Key": k, "Value": v} for k, v in value]
        if self.kind == "keys":
            return list(value)
        return value

    def from_words(self, words: Sequence[str], *, name: str | None = None) -> Any:
        """The library value of the words given to the flag (one per use when repeated), as
        :meth:`check` takes it: ``KEY=VALUE`` words make a tag mapping."""
        if not self.repeated:
            return words[-1]
        if self.kind != "tags":
            return list(words)
        tags: dict[str, str] = {}
        for word in words:
            key, equals, value = word.partition("=")
            if not equals:
                raise InvalidInputError(
                    name or self.flag or self.name,
                    word,
                    "expected KEY=VALUE",
                    fix=f"pass e.g. {self.flag} team=billing",
                )
            if key in tags:
                raise InvalidInputError(
                    name or self.flag or self.name,
                    word,
                    f"the tag key {key!r} is given twice",
                    fix="give each tag key once",
                )
            tags[key] = value
        return tags

    def to_words(self, value: Any) -> list[str]:
        """A checked value as command-line words (the flag, then its argument, per item)."""
        if self.flag is None:
            raise self.refuse("a command line", "it has no command-line flag")
        if self.kind == "tags":
            items = [f"{k}={v}" for k, v in value]
        else:
            items = list(value) if self.repeated else [str(value)]
        # A word starting with "-" would be read as an option: attach it, as argparse allows.
        return [
            word
            for item in items
            for word in ((f"{self.flag}={item}",) if item.startswith("-") else (self.flag, item))
        ]

    def refuse(self, where: str, why: str, fix: str | None = None) -> InvalidInputError:
        """The error for this option given where it cannot be carried (raise it)."""
        return InvalidInputError(
            self.flag or self.name,
            None,
            f"{where} cannot carry {self.name}: {why}",
            fix=fix or f"pass {self.name}= to ecs_xrole.get_session() (Python) instead",
        )


#: The AssumeRole options, in the order of :class:`ecs_xrole.options.AssumeOptions`.
OPTIONS: tuple[Option, ...] = (
    Option(
        "external_id",
        sts="ExternalId",
        flag="--external-id",
        key="external_id",
        env="EXTERNAL_ID",
        checker="check_external_id",
        metavar="ID",
    ),
    Option(
        "role_session_name",
        sts="RoleSessionName",
        flag="--role-session-name",
        key="role_session_name",
        env="ROLE_SESSION_NAME",
        checker="check_session_name",
        metavar="NAME",
    ),
    Option(
        "duration_seconds",
        sts="DurationSeconds",
        flag="--duration-seconds",
        key="duration_seconds",
        env="DURATION_SECONDS",
        checker="duration_seconds",
        kind="seconds",
        metavar="SECONDS",
        help="900-3600",
    ),
    Option(
        "region_name",
        sts=None,  # the STS endpoint's region, not a parameter
        flag="--region",
        key="region",
        env="REGION",
        checker="check_region",
        metavar="REGION",
        help="the STS region",
    ),
    Option(
        "policy",
        sts="Policy",
        flag=None,
        key=None,
        env=None,
        checker="policy_json",
    ),
    Option(
        "policy_arns",
        sts="PolicyArns",
        flag=None,
        key=None,
        env=None,
        checker="check_policy_arns",
        kind="arns",
    ),
    Option(
        "tags",
        sts="Tags",
        flag="--tag",
        key=None,
        env=None,
        checker="check_tags",
        kind="tags",
        metavar="KEY=VALUE",
        help="a session tag (repeatable)",
    ),
    Option(
        "source_identity",
        sts="SourceIdentity",
        flag=None,
        key=None,
        env=None,
        checker="check_source_identity",
    ),
    Option(
        "transitive_tag_keys",
        sts="TransitiveTagKeys",
        flag="--transitive-tag-key",
        key=None,
        env=None,
        checker="check_transitive_tag_keys",
        kind="keys",
        metavar="KEY",
        help="pass the session tag KEY on to roles this session assumes (repeatable)",
    ),
    Option(
        "source_session",
        sts=None,  # the signing credentials
        flag=None,
        key=None,
        env=None,
        checker=None,
    ),
)

#: The rows sent as STS parameters.
STS_OPTIONS = tuple(row for row in OPTIONS if row.sts is not None)
#: The rows with a command-line flag.
CLI_OPTIONS = tuple(row for row in OPTIONS if row.flag is not None)
#: The rows a profile (and so a ``credential_process`` line write-config writes) carries.
PROFILE_OPTIONS = tuple(row for row in OPTIONS if row.key is not None and row.flag is not None)
#: The rows read from ``ECS_XROLE_<NAME>_<row.env>`` variables.
ENV_OPTIONS = tuple(row for row in OPTIONS if row.env is not None)

_BY_NAME = {row.name: row for row in OPTIONS}


def by_name(name: str) -> Option:
    """The row of option ``name`` (``KeyError`` if none)."""
    return _BY_NAME[name]


def check_together(options: Mapping[str, Any]) -> None:
    """The rules between options (checked values): each transitive tag key must be a key of
    ``tags``, as STS requires. Raises :class:`~ecs_xrole.errors.InvalidInputError`."""
    keys = options.get("transitive_tag_keys") or ()
    tags = {key for key, _ in options.get("tags") or ()}
    for key in keys:
        if key not in tags:
            raise InvalidInputError(
                "transitive_tag_keys",
                key,
                "a transitive tag key must be the key of a session tag given in the same call "
                "(STS refuses the others)",
                fix=f"add the tag {key!r} to tags, or drop it from transitive_tag_keys",
            )


# --------------------------------------------------------------------------------------------
# The credential_process line

#: The subcommand a ``credential_process`` line runs.
PROCESS_COMMAND = "credential-process"
# Its flags beyond the table's rows (value flags); -v/--verbose take no value.
_OTHER_FLAGS = {"--role-arn": "role_arn", "--source-profile": "source_profile"}
_NO_VALUE = frozenset({"-v", "-vv", "-vvv", "--verbose"})


class ProcessLine(Value):
    """A ``credential_process`` line read back: the command before ``credential-process``,
    and the words given to each flag by destination (``role_arn``, ``source_profile``, or a
    row's name), as text, unchecked."""

    __slots__ = ("command", "values")
    command: tuple[str, ...]
    values: dict[str, list[str]]

    def __init__(self, command: tuple[str, ...], values: dict[str, list[str]]) -> None:
        self._set("command", command)
        self._set("values", values)

    def __hash__(self) -> int:
        return hash((self.command, tuple((k, tuple(v)) for k, v in self.values.items())))

    def get(self, dest: str) -> str | None:
        """The (last) word given for ``dest``, or ``None``."""
        words = self.values.get(dest)
        return words[-1] if words else None


def encode_process_line(
    command: Sequence[str],
    role_arn: str,
    options: Iterable[tuple[Option, Any]],
    *,
    source_profile: str | None = None,
) -> str:
    """``command credential-process --role-arn ARN`` then each option's words (checked
    values), shell-quoted as botocore splits it."""
    import shlex

    argv = [*command, PROCESS_COMMAND, "--role-arn", role_arn]
    for row, value in options:
        argv += row.to_words(value)
    if source_profile is not None:
        argv += ["--source-profile", source_profile]
    return shlex.join(argv)


def decode_process_line(line: str) -> ProcessLine | None:
    """Read a ``credential_process`` line back, or ``None`` when it does not run
    ``credential-process``. The words after it are read as credential-process's parser reads
    them (``--flag value``, ``--flag=value``, repeated flags), for the table's flags and
    ``--role-arn``/``--source-profile``; a flag without a value and unknown words are skipped."""
    import shlex

    try:
        argv = shlex.split(line)
    except ValueError:
        return None
    if PROCESS_COMMAND not in argv:
        return None
    at = argv.index(PROCESS_COMMAND)
    flags = {**_OTHER_FLAGS, **{row.flag: row.name for row in CLI_OPTIONS if row.flag}}
    values: dict[str, list[str]] = {}
    rest = argv[at + 1 :]
    i = 0
    while i < len(rest):
        flag, equals, value = rest[i].partition("=")
        if flag in flags:
            if not equals:
                if i + 1 >= len(rest) or rest[i + 1].startswith("-"):
                    i += 1
                    continue  # no value: credential-process would refuse the line
                i += 1
                value = rest[i]
            values.setdefault(flags[flag], []).append(value)
        i += 1
    return ProcessLine(tuple(argv[:at]), values)
