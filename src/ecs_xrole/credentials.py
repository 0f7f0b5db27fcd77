"""The one value every layer passes around: a set of temporary AWS credentials.

Standard library only, so that the endpoint layer and the config writer stay light. The
``repr`` shows the access key's first four characters (``ASIA``/``AKIA``: enough to tell the
kind) and hides the rest and every secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import redact

__all__ = ["TemporaryCredentials"]


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
