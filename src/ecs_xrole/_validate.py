"""Check and normalise every user-supplied value before any network call or file write.

Shared by the sessions layer, the config writer and the command-line tool, so that a value is
judged the same way everywhere. Pure functions: no I/O, standard library only (the config writer
must not import botocore). Every function raises :class:`~ecs_xrole.errors.InvalidInputError`
naming the input, the value and the fix.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping

from ._value import Value
from .errors import InvalidInputError

#: Partitions whose role ARNs are accepted.
PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
)
#: STS's floor for DurationSeconds.
MIN_DURATION = 900
#: The task role is itself an assumed role, so this AssumeRole is role chaining: one hour at most.
MAX_CHAINED_DURATION = 3600

_ROLE_ARN = re.compile(
    r"arn:(?P<partition>[a-z-]+):iam::(?P<account>[^:]*):role(?P<path>/(?:[\x21-\x7e]*/)?)"
    r"(?P<name>[^/]*)"
)
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)*-\d{1,2}", re.ASCII)
# Compiled on first use (by re's own cache): compiling every pattern at import would cost each
# write-config at container start, and write-config needs none of these.
_SESSION_NAME_BAD = r"(?a)[^\w+=,.@-]"
_EXTERNAL_ID = r"(?a)[\w+=,.@:/-]{2,1224}"
_POLICY_ARN = r"arn:[a-z-]+:iam::(?:\d{12}|aws):policy/[\x21-\x7e]{1,2000}"
_TAG_KEY = r"[\w\s.:/=+\-@]{1,128}"
_TAG_VALUE = r"[\w\s.:/=+\-@]{0,256}"
_POLICY_CHARS = r"[\t\n\r\x20-\xff]*"

#: STS: the plain text of inline and managed session policies together may not exceed this.
MAX_POLICY_CHARS = 2048
MAX_POLICY_ARNS = 10
MAX_TAGS = 50


class RoleArn(Value):
    """A parsed IAM role ARN: ``arn:<partition>:iam::<account_id>:role<path><name>``.

    Immutable, compared and hashed by its four parts.
    """

    __slots__ = ("partition", "account_id", "path", "name")  # noqa: RUF023 (field order)
    partition: str
    account_id: str
    path: str
    name: str

    def __init__(self, partition: str, account_id: str, path: str, name: str) -> None:
        self._set("partition", partition)
        self._set("account_id", account_id)
        self._set("path", path)
        self._set("name", name)

    @property
    def arn(self) -> str:
        """The ARN as text."""
        return f"arn:{self.partition}:iam::{self.account_id}:role{self.path}{self.name}"

    def __str__(self) -> str:
        return self.arn


_ARN_FORM = "arn:aws:iam::<12-digit account>:role/<name> (or role/<path>/<name>)"


def parse_role_arn(value: object, *, name: str = "role_arn") -> RoleArn:
    """Parse an IAM role ARN, refusing anything STS would refuse.

    Accepts the partitions in :data:`PARTITIONS`, a 12-digit account ID and role paths such as
    ``role/team/name``. Raises :class:`InvalidInputError`.
    """
    if isinstance(value, RoleArn):
        return value
    if not isinstance(value, str):
        raise InvalidInputError(name, value, "a role ARN must be a string", fix=f"pass {_ARN_FORM}")
    if value != value.strip():
        raise InvalidInputError(
            name, value, "it has leading or trailing white space", fix="remove the white space"
        )
    if len(value) > 2048:
        raise InvalidInputError(
            name, value[:80] + "...", "it is longer than 2048 characters", fix=f"pass {_ARN_FORM}"
        )
    match = _ROLE_ARN.fullmatch(value)
    if match is None:
        hint = ""
        if ":user/" in value:
            hint = " (this is a user ARN; AssumeRole needs a role)"
        elif ":assumed-role/" in value:
            hint = " (this is an assumed-role session ARN; name the role itself)"
        elif ":sts::" in value:
            hint = " (role ARNs use the iam service, not sts)"
        raise InvalidInputError(
            name, value, f"it is not an IAM role ARN{hint}", fix=f"pass {_ARN_FORM}"
        )
    partition, account, path, role = match.group("partition", "account", "path", "name")
    if partition not in PARTITIONS:
        raise InvalidInputError(
            name,
            value,
            f"unknown partition {partition!r}",
            fix=f"use one of {', '.join(sorted(PARTITIONS))}",
        )
    if not (len(account) == 12 and account.isascii() and account.isdigit()):
        raise InvalidInputError(
            name,
            value,
            f"the account ID {account!r} is not 12 digits",
            fix="copy the ARN from the IAM console or `aws iam get-role`",
        )
    if len(path) > 512:
        raise InvalidInputError(
            name, value, "the role path is longer than 512 characters", fix=f"pass {_ARN_FORM}"
        )
    if not _ROLE_NAME.fullmatch(role):
        raise InvalidInputError(
            name,
            value,
            f"the role name {role!r} must be 1-64 characters of letters, digits and +=,.@_-",
            fix=f"pass {_ARN_FORM}",
        )
    return RoleArn(partition=partition, account_id=account, path=path, name=role)


def check_session_name(value: object, *, name: str = "role_session_name") -> str:
    """Return ``value`` if STS accepts it as a RoleSessionName: 2-64 of ``[\\w+=,.@-]``."""
    if not isinstance(value, str) or not _SESSION_NAME.fullmatch(value):
        raise InvalidInputError(
            name,
            value,
            "a role session name is 2-64 characters of letters, digits and +=,.@_-",
            fix="pick a name such as 'billing-worker' or leave it out to use the ECS task ID",
        )
    return value


def safe_session_name(raw: str, *, fallback: str = "ecs-xrole") -> str:
    """Turn any text (a task ID, a host name) into a valid session name; never raises."""
    cleaned = re.sub(_SESSION_NAME_BAD, "-", raw)[:64]
    return cleaned if len(cleaned) >= 2 else fallback


def check_external_id(value: object, *, name: str = "external_id") -> str:
    """Return ``value`` if STS accepts it as an ExternalId: 2-1224 of ``[\\w+=,.@:/-]``."""
    if not isinstance(value, str) or not re.fullmatch(_EXTERNAL_ID, value):
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:80] + "..."
        raise InvalidInputError(
            name,
            shown,
            "an external ID is 2-1224 characters of letters, digits and +=,.@:/_-",
            fix="use the exact external ID named in the destination role's trust policy",
        )
    return value


def duration_seconds(value: object, *, name: str = "duration_seconds") -> int:
    """Normalise a session duration (``int`` seconds or ``timedelta``) to whole seconds.

    Must be 900-3600: the task role's credentials are themselves an assumed-role session, so
    this AssumeRole is role chaining and STS refuses more than one hour.
    """
    # A timedelta exists only if datetime is loaded: no need to import it (write-config).
    datetime = sys.modules.get("datetime")
    if datetime is not None and isinstance(value, datetime.timedelta):
        seconds_f = value.total_seconds()
        if seconds_f != int(seconds_f):
            raise InvalidInputError(
                name, value, "it is not a whole number of seconds", fix="round it to seconds"
            )
        seconds = int(seconds_f)
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # ASCII only: str.isdigit() is also true for '²' (which int() refuses) and for
        # full-width digits (which the AWS CLI does not read).
        seconds = int(value.strip())
    elif isinstance(value, str):  # from a command line, a variable or a config file
        raise InvalidInputError(
            name,
            value,
            "expected a whole number of seconds (900-3600); units such as '1h' are not read",
            fix="pass e.g. 3600 for one hour",
        )
    else:
        raise InvalidInputError(
            name, value, "expected whole seconds or a timedelta", fix="pass e.g. 3600"
        )
    if seconds < MIN_DURATION:
        raise InvalidInputError(
            name, value, f"STS's minimum is {MIN_DURATION} seconds", fix="pass 900 or more"
        )
    if seconds > MAX_CHAINED_DURATION:
        raise InvalidInputError(
            name,
            value,
            "it exceeds the 1 hour session limit for roles assumed by role chaining: the ECS "
            "task role is itself an assumed role, so STS refuses DurationSeconds above 3600",
            fix="pass 3600 or less; ecs-xrole refreshes the session before it expires, so a "
            "longer duration is not needed",
        )
    return seconds


def policy_json(value: object, *, name: str = "policy") -> str:
    """Normalise a session policy (a dict or a JSON string) to compact JSON text for STS."""
    import json

    if isinstance(value, Mapping):
        text = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise InvalidInputError(
                name,
                value[:80] + ("..." if len(value) > 80 else ""),
                f"it is not JSON ({exc})",
                fix="pass a dict or a JSON policy document",
            ) from None
        if not isinstance(parsed, dict):
            raise InvalidInputError(
                name, value[:80], "a policy document is a JSON object", fix="pass a dict"
            )
        text = value
    else:
        raise InvalidInputError(
            name, type(value).__name__, "expected a dict or a JSON string", fix="pass a dict"
        )
    if len(text) > MAX_POLICY_CHARS:
        raise InvalidInputError(
            name,
            f"<{len(text)} characters>",
            f"STS accepts at most {MAX_POLICY_CHARS} characters of session policy",
            fix="shorten the policy, or use managed policies through policy_arns",
        )
    if not re.fullmatch(_POLICY_CHARS, text):
        raise InvalidInputError(
            name,
            text[:80],
            "it holds characters STS refuses (outside tab, newline and U+0020-U+00FF)",
            fix="remove them or escape them as \\uXXXX in the JSON",
        )
    return text


def check_policy_arns(value: object, *, name: str = "policy_arns") -> list[dict[str, str]]:
    """Normalise managed session policy ARNs to STS's ``[{"arn": ...}]`` form (at most 10)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInputError(
            name,
            value,
            "expected a list of policy ARNs",
            fix="pass ['arn:aws:iam::aws:policy/...']",
        )
    items: list[dict[str, str]] = []
    for item in value:
        arn = item.get("arn") if isinstance(item, Mapping) else item
        if not isinstance(arn, str) or not re.fullmatch(_POLICY_ARN, arn):
            raise InvalidInputError(
                name,
                item,
                "it is not an IAM policy ARN",
                fix="pass arn:aws:iam::<account>:policy/<name>",
            )
        items.append({"arn": arn})
    if len(items) > MAX_POLICY_ARNS:
        raise InvalidInputError(
            name,
            f"<{len(items)} ARNs>",
            f"STS accepts at most {MAX_POLICY_ARNS} managed session policies",
            fix="combine policies",
        )
    return items


def check_tags(value: object, *, name: str = "tags") -> list[dict[str, str]]:
    """Normalise session tags (a mapping) to STS's ``[{"Key", "Value"}]`` form (at most 50)."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            name, value, "expected a mapping of tag keys to values", fix="pass {'team': 'billing'}"
        )
    if len(value) > MAX_TAGS:
        raise InvalidInputError(
            name,
            f"<{len(value)} tags>",
            f"STS accepts at most {MAX_TAGS} session tags",
            fix="pass fewer tags",
        )
    tags: list[dict[str, str]] = []
    for key, val in value.items():
        if not isinstance(key, str) or not re.fullmatch(_TAG_KEY, key):
            raise InvalidInputError(
                name,
                key,
                "a tag key is 1-128 letters, digits, spaces or _.:/=+-@",
                fix="rename the key",
            )
        if not isinstance(val, str) or not re.fullmatch(_TAG_VALUE, val):
            raise InvalidInputError(
                name,
                val,
                f"the value of tag {key!r} must be 0-256 letters, digits, spaces or _.:/=+-@",
                fix="change the value",
            )
        tags.append({"Key": key, "Value": val})
    return tags


def check_transitive_tag_keys(value: object, *, name: str = "transitive_tag_keys") -> list[str]:
    """Check STS's TransitiveTagKeys: a sequence of at most 50 tag keys (each 1-128
    letters, digits, spaces or ``_.:/=+-@``). That each is a key of ``tags`` is checked with
    both (``_option_table.check_together``)."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise InvalidInputError(
            name, value, "expected a list of tag keys", fix="pass e.g. ['team']"
        )
    keys: list[str] = []
    for key in value:
        if not isinstance(key, str) or not re.fullmatch(_TAG_KEY, key):
            raise InvalidInputError(
                name,
                key,
                "a tag key is 1-128 letters, digits, spaces or _.:/=+-@",
                fix="name the key of a session tag",
            )
        keys.append(key)
    if len(keys) > MAX_TAGS:
        raise InvalidInputError(
            name,
            f"<{len(keys)} keys>",
            f"STS accepts at most {MAX_TAGS} transitive tag keys",
            fix="pass fewer keys",
        )
    return keys


def check_source_identity(value: object, *, name: str = "source_identity") -> str:
    """Return ``value`` if STS accepts it as a SourceIdentity: 2-64 of ``[\\w+=,.@-]``."""
    if (
        not isinstance(value, str)
        or not _SESSION_NAME.fullmatch(value)
        or value.lower().startswith("aws:")
    ):
        raise InvalidInputError(
            name,
            value,
            "a source identity is 2-64 characters of letters, digits and +=,.@_-",
            fix="pass e.g. a user name",
        )
    return value


def check_region(value: object, *, name: str = "region_name") -> str:
    """Return ``value`` if it looks like an AWS region name (``eu-west-1``)."""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise InvalidInputError(
            name, value, "it is not an AWS region name", fix="pass e.g. 'us-east-1'"
        )
    return value


def check_profile_name(value: object, *, name: str = "profile") -> str:
    """Return ``value`` if it can be written as a config-file section name and read back.

    Refuses brackets, control characters (a newline would start a new section), leading or
    trailing white space and a leading ``#`` or ``;`` (read as a comment).
    """
    problem = None
    if not isinstance(value, str) or not value:
        problem = "a profile name must be a non-empty string"
    elif any(ch in value for ch in "[]"):
        problem = "it holds '[' or ']', which would break the section header"
    elif any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        problem = "it holds a control character (such as a newline)"
    elif value != value.strip():
        problem = "it has leading or trailing white space"
    elif value[0] in "#;":
        problem = "it starts with a comment character"
    elif len(value) > 128:
        problem = "it is longer than 128 characters"
    if problem is not None:
        raise InvalidInputError(
            name, value, problem, fix="use letters, digits and -_. such as 'cross-account'"
        )
    assert isinstance(value, str)
    return value
