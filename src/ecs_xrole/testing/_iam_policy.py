"""The fake AWS's IAM: trust and identity policy decisions, as AWS makes them.

moto stores IAM roles and policies but decides nothing; this is just enough IAM for
``sts:AssumeRole`` (principals, actions, wildcards, conditions), with each role's documents
read from moto's state (:func:`_role_documents`), for :mod:`._sts_gate`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .aws import _PARTITION

# ---------------------------------------------------------------------------------------------
# Policy evaluation: just enough IAM for sts:AssumeRole.


@dataclass(frozen=True)
class _Caller:
    """A session this fake issued: its STS ARN and the role it belongs to."""

    session_arn: str
    role_arn: str

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's glob: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _load_policy(document: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements of a policy document (JSON text, possibly URL-encoded, or a dict)."""
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        try:
            document = json.loads(text)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _conditions_hold(condition: object, context: Mapping[str, str | None]) -> bool:
    """Evaluate StringEquals / StringLike / StringNotEquals blocks on the keys in ``context``.

    An operator or key this fake does not know makes the statement not apply, so an
    unsupported Allow never grants access by accident.
    """
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return False
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            return False
        for key, expected in block.items():
            key_lower = str(key).lower()
            if key_lower not in context:
                return False
            actual = context[key_lower]
            values = [str(v) for v in _as_list(expected)]
            if operator == "StringEquals":
                ok = actual is not None and actual in values
            elif operator == "StringLike":
                ok = actual is not None and any(_wildcard(v, actual) for v in values)
            elif operator == "StringNotEquals":
                ok = actual is None or actual not in values
            else:
                return False
            if not ok:
                return False
    return True


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            _wildcard(str(p), action, ignore_case=True) for p in _as_list(statement["NotAction"])
        )
    return any(
        _wildcard(str(p), action, ignore_case=True) for p in _as_list(statement.get("Action"))
    )


def _identity_decision(
    documents: Iterable[str | Mapping[str, Any]],
    *,
    action: str,
    resource: str,
    context: Mapping[str, str | None],
) -> bool:
    """Whether identity policies allow ``action`` on ``resource`` (an explicit Deny wins)."""
    allowed = False
    for document in documents:
        for statement in _load_policy(document):
            if not _action_matches(statement, action):
                continue
            if "NotResource" in statement:
                hit = not any(
                    _wildcard(str(p), resource) for p in _as_list(statement["NotResource"])
                )
            else:
                hit = any(_wildcard(str(p), resource) for p in _as_list(statement.get("Resource")))
            if not hit or not _conditions_hold(statement.get("Condition"), context):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


def _principal_match(principal: object, caller: _Caller) -> str | None:
    """How a trust-policy Principal names the caller: ``"role"``, ``"account"`` or ``None``."""
    if principal == "*":
        return "account"
    if not isinstance(principal, Mapping):
        return None
    best: str | None = None
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry in (caller.role_arn, caller.session_arn):
            return "role"
        if entry in ("*", caller.account_id, f"arn:{_PARTITION}:iam::{caller.account_id}:root"):
            best = "account"
    return best


def _trust_decision(
    document: str | Mapping[str, Any], *, caller: _Caller, context: Mapping[str, str | None]
) -> str | None:
    """Whether a trust policy lets ``caller`` assume the role.

    ``"role"``: the caller's role (or session) is named, so no identity policy is needed in
    the same account; ``"account"``: the caller's account is trusted, its identity policies
    decide; ``None``: not trusted.
    """
    trusted: str | None = None
    for statement in _load_policy(document):
        if not _action_matches(statement, "sts:AssumeRole"):
            continue
        how = _principal_match(statement.get("Principal"), caller)
        if how is None or not _conditions_hold(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return None
        if statement.get("Effect") == "Allow" and trusted != "role":
            trusted = how
    return trusted


def _role_documents(arn: str, *, trust: bool) -> list[str] | None:
    """A role's trust policy (``trust``) or identity policies, read from moto's IAM state.

    ``None`` when the role does not exist. Read in-process rather than over HTTP: this
    runs inside a request, on every AssumeRole.
    """
    from moto.iam.models import iam_backends

    try:
        account_id, name = arn.split(":")[4], arn.rsplit("/", 1)[1]
    except IndexError:
        return None
    try:
        role = iam_backends[account_id][_PARTITION].get_role(name)
    except Exception:  # moto's NotFoundException; any other failure means "no such role"
        return None
    if role.arn != arn:
        return None
    if trust:
        return [role.assume_role_policy_document]
    documents = list(role.policies.values())
    for managed in role.managed_policies.values():
        documents.extend(v.document for v in managed.versions if v.is_default)
    return documents
