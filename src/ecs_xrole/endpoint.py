"""Find the ECS container credentials endpoint and how to authorise against it.

STUB: interface fixed, implementation pending (issue 2). Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Endpoint", "detect_endpoint"]

ECS_HOST = "169.254.170.2"


@dataclass(frozen=True)
class Endpoint:
    """Where the task role's credentials come from. Never holds the token itself.

    ``url``: the full URL to GET. ``auth``: ``"none"``, ``"token"`` (from
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN``) or ``"token_file"`` (from
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``, path in ``token_file``). ``source``:
    ``"environment"`` (this process), ``"pid1"`` (read from ``/proc/1/environ``) or
    ``"explicit"`` (a mapping passed in). ``variables``: the names of the variables used.
    """

    url: str
    auth: Literal["none", "token", "token_file"] = "none"
    token_file: str | None = None
    source: Literal["environment", "pid1", "explicit"] = "environment"
    variables: tuple[str, ...] = ()

    def authorization(self) -> str | None:
        """Read the authorization header value now (the token file is re-read on every call).

        Raises :class:`~ecs_xrole.errors.TokenError`.
        """
        raise NotImplementedError


def detect_endpoint(
    environ: Mapping[str, str] | None = None,
    *,
    read_pid1: bool = True,
) -> Endpoint:
    """Find the endpoint from ``environ`` (default ``os.environ``), else from PID 1.

    Raises :class:`~ecs_xrole.errors.EndpointNotConfiguredError` and
    :class:`~ecs_xrole.errors.EndpointNotAllowedError`.
    """
    raise NotImplementedError
