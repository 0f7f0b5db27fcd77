"""The one value every layer passes around: a set of temporary AWS credentials.

Standard library only, so that the endpoint layer and the config writer stay light. The
``repr`` shows the access key's first four characters (``ASIA``/``AKIA``: enough to tell the
kind) and hides the rest and every secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import EndpointResponseError, redact


@dataclass(frozen=True)
class TemporaryCredentials:
    """Temporary credentials with their expiry and, when known, whose they are.

    ``expiration`` is timezone-aware UTC, or ``None`` for credentials that do not expire.
    ``role_arn`` and ``account_id`` are kept when the source sent them.
    """

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(repr=False)
    expiration: datetime | None
    role_arn: str | None = None
    account_id: str | None = None

    def __post_init__(self) -> None:
        if self.expiration is not None and self.expiration.tzinfo is None:
            raise ValueError("TemporaryCredentials.expiration must be timezone-aware")

    def __repr__(self) -> str:
        key = self.access_key_id[:4] + "..." if self.access_key_id else "<none>"
        return (
            f"TemporaryCredentials(access_key_id={key!r}, "
            f"secret_access_key={redact(self.secret_access_key)!r}, "
            f"session_token={redact(self.session_token)!r}, "
            f"expiration={self.expiration.isoformat() if self.expiration else None!r}, "
            f"role_arn={self.role_arn!r}, account_id={self.account_id!r})"
        )

    __str__ = __repr__

    def seconds_left(self, now: datetime | None = None) -> float | None:
        """Seconds until expiry (negative once expired), or ``None`` if they never expire."""
        if self.expiration is None:
            return None
        now = now or datetime.now(timezone.utc)
        return (self.expiration - now).total_seconds()


_HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# -- parsing ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)


def parse_expiration(value: str) -> datetime:
    """Parse an RFC 3339 time (``Z``, ``+00:00`` or ``+0000``; any fractional digits).

    Fractions finer than microseconds (EKS sends nanoseconds) are truncated. Returns an
    aware UTC datetime. Raises :class:`ValueError` (callers wrap it).
    """
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    when = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
        tzinfo=timezone.utc,
    )  # fmt: skip
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError("the UTC offset is out of range")
        when = when - offset if sign == "+" else when + offset
    return when


_DATE_CHARS = re.compile(r"[0-9TtZz:.+\- ]{1,40}", re.ASCII)
_REQUIRED = (("accesskeyid", "AccessKeyId"), ("secretaccesskey", "SecretAccessKey"))


def parse_credentials(body: bytes | str, *, now: datetime | None = None) -> TemporaryCredentials:
    """Parse an endpoint's 200 body into credentials, tolerantly.

    Accepts a JSON object with keys in any case; ``Token`` or ``SessionToken``; ``Expiration``
    in RFC 3339 (``Z``/``+00:00``/``+0000``, with or without fractional seconds, nanoseconds
    truncated); an empty string counts as absent. ``RoleArn`` and ``AccountId`` are kept when
    present. ``AccessKeyId``, ``SecretAccessKey`` and the token are required (container
    credentials are always session credentials); a missing ``Expiration`` gives
    ``expiration=None`` (non-expiring; the ECS agent always sends one). Pure: no I/O.

    Raises :class:`~ecs_xrole.errors.EndpointResponseError` naming the problem, never a
    secret value: not JSON, not an object, a missing or non-text field, a control character
    in a field, an unparseable date, or credentials already expired at ``now`` (default:
    the current time).
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(f"the body ({len(body)} bytes) is not UTF-8 text") from None
    elif isinstance(body, str):
        text = body
    else:
        raise _bad(f"the body is a {type(body).__name__}, not bytes or text")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = (
            f" ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        )
        # The text itself is never quoted: it may be a broken answer holding the secret key.
        raise _bad(f"the body ({len(text)} characters) is not JSON{where}") from None
    if not isinstance(data, dict):
        raise _bad(f"the body is a JSON {_json_kind(data)}, not an object")
    fields = _fields(data)
    missing = [shown for key, shown in _REQUIRED if key not in fields]
    token = fields.get("token") or fields.get("sessiontoken")
    if token is None:
        missing.append("Token")
    if missing:
        present = sorted(k for k, v in data.items() if isinstance(k, str))
        raise _bad(
            f"the answer lacks {', '.join(missing)} (it has: {', '.join(present) or 'nothing'})"
        )
    expiration: datetime | None = None
    raw_expiration = fields.get("expiration")
    if raw_expiration is not None:
        try:
            expiration = parse_expiration(raw_expiration)
        except (ValueError, OverflowError) as exc:
            # Quote it only when it holds nothing but date characters: a broken answer could
            # have shifted a secret into this field.
            shown = (
                repr(raw_expiration)
                if _DATE_CHARS.fullmatch(raw_expiration)
                else f"({len(raw_expiration)} characters, not only date characters)"
            )
            raise _bad(f"Expiration {shown} cannot be read: {exc}") from None
        now = now or datetime.now(timezone.utc)
        if expiration <= now:
            raise _bad(
                f"the credentials expired at {expiration.isoformat()}, before they arrived "
                f"(now {now.isoformat()})",
                fix="check this host's clock, and the agent: it should rotate them well before",
            )
    return TemporaryCredentials(
        access_key_id=fields["accesskeyid"],
        secret_access_key=fields["secretaccesskey"],
        session_token=token,
        expiration=expiration,
        role_arn=fields.get("rolearn"),
        account_id=fields.get("accountid"),
    )


_SECRET_KEYS = frozenset({"accesskeyid", "secretaccesskey", "token", "sessiontoken"})


def _fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Lower-cased keys to non-empty text values; refuse values that are not text."""
    fields: dict[str, str] = {}
    for key, value in data.items():
        lowered = key.lower()
        if lowered not in _SECRET_KEYS and lowered not in ("expiration", "rolearn", "accountid"):
            continue  # unknown fields (Type, Code, LastUpdated...) are ignored
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _bad(f"field {key} is a JSON {_json_kind(value)}, not a string")
        if lowered in _SECRET_KEYS and _HEADER_CONTROL.search(value):
            # Would be sent in an HTTP header when signing: refuse, as for the token.
            raise _bad(f"field {key} ({redact(value)}) holds a control character")
        fields[lowered] = value
    return fields


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return "string"


def _bad(problem: str, *, fix: str | None = None) -> EndpointResponseError:
    return EndpointResponseError(
        f"the container credentials endpoint answered 200 with unusable credentials: {problem}",
        fix=fix or "check that the URL points at an ECS agent or EKS Pod Identity agent",
    )
