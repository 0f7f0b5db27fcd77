"""Fetch the task role's credentials from the container endpoint, robustly.

STUB: interface fixed, implementation pending (issue 2). Imports urllib3, never botocore.
"""

from __future__ import annotations

from datetime import datetime

from .credentials import TemporaryCredentials
from .endpoint import Endpoint

__all__ = ["fetch_credentials", "parse_credentials"]


def fetch_credentials(
    endpoint: Endpoint | None = None,
    *,
    deadline: float = 5.0,
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
) -> TemporaryCredentials:
    """GET the endpoint (default: :func:`detect_endpoint`) with retries under ``deadline``."""
    raise NotImplementedError


def parse_credentials(body: bytes | str, *, now: datetime | None = None) -> TemporaryCredentials:
    """Parse an endpoint response body. Raises ``EndpointResponseError``."""
    raise NotImplementedError
