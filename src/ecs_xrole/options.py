"""The assume options: one typed definition shared by every function that assumes a role.

:func:`~ecs_xrole.get_session`, :func:`~ecs_xrole.get_client` and
:func:`~ecs_xrole.get_credentials` take ``**options: Unpack[AssumeOptions]``: editors and
mypy see every option below by name and type, and a new option is added here once. Every
option is optional; an unknown keyword raises :class:`TypeError` as a misspelt parameter
would. Standard library only (``Unpack`` is imported for type checkers alone, so Python 3.10
needs no ``typing_extensions`` at run time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import boto3

__all__ = ["ASSUME_OPTIONS", "AssumeOptions", "check_option_names"]


class AssumeOptions(TypedDict, total=False):
    """The keyword options of the functions that assume a role (all optional)."""

    external_id: str | None
    """The ``sts:ExternalId`` the destination role's trust policy asks for."""
    role_session_name: str | None
    """The session name CloudTrail shows (default: the ECS task ID, else the host name)."""
    duration_seconds: int | timedelta | None
    """Credential lifetime, ``int`` seconds or ``timedelta``, 900-3600 (role chaining limit)."""
    region_name: str | None
    """Region of the STS call and of sessions and clients (default: ``AWS_REGION``,
    ``AWS_DEFAULT_REGION``, then the task's region)."""
    policy: Mapping[str, Any] | str | None
    """An inline session policy, as a mapping or JSON text."""
    policy_arns: Iterable[str] | None
    """ARNs of managed policies that limit the session."""
    tags: Mapping[str, str] | None
    """Session tags, ``{key: value}``."""
    source_identity: str | None
    """The ``sts:SourceIdentity`` to set on the session."""
    transitive_tag_keys: Sequence[str] | None
    """Keys of ``tags`` that pass on to the sessions of roles this session assumes in turn
    (STS's ``TransitiveTagKeys``; each must be a key of ``tags``)."""
    source_session: boto3.Session | None
    """Chain: assume the role from this session's credentials instead of the task role's."""


#: The option names, for checks at run time.
ASSUME_OPTIONS: frozenset[str] = frozenset(AssumeOptions.__annotations__)


def check_option_names(function: str, options: Mapping[str, object]) -> None:
    """Raise :class:`TypeError` naming the first keyword in ``options`` that is not an option."""
    for name in options:
        if name not in ASSUME_OPTIONS:
            raise TypeError(
                f"{function}() got an unexpected keyword argument {name!r} "
                f"(options: {', '.join(sorted(ASSUME_OPTIONS))})"
            )
