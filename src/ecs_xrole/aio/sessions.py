"""aiobotocore (and aioboto3) sessions whose only credentials are the library's shared ones.

The async counterpart of the session building in :mod:`ecs_xrole.session`: the same shared
botocore data loader (service models are parsed once per process, whichever API asked first),
and a copy of aiobotocore's built-in event handlers registered once per process. The
credentials come from :func:`ecs_xrole.session`'s process-wide cache, loaded off the event loop.

Imports aiobotocore: loaded only when an async session, client or credentials are built.
"""

from __future__ import annotations

import copy
import threading

from aiobotocore.credentials import AioCredentialResolver
from aiobotocore.hooks import AioHierarchicalEmitter
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider

from .. import session as sync_session
from ..options import AssumeOptions
from ..refresh import RefreshingCredentials
from ..validate import RoleArn
from .credentials import AioRefreshingCredentials, aio_credentials, off_loop

__all__ = ["aio_session", "load_role"]

_lock = threading.Lock()
_handlers: AioHierarchicalEmitter | None = None


class _Provider(CredentialProvider):
    """Hands one credentials object to an aiobotocore session (its only provider)."""

    METHOD = "ecs-xrole"
    CANONICAL_NAME = "ecs-xrole"

    def __init__(self, credentials: AioRefreshingCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    async def load(self) -> AioRefreshingCredentials:
        return self._credentials


def _builtin_handlers() -> AioHierarchicalEmitter:
    """aiobotocore's built-in handlers, registered once per process (about 15 ms each time
    otherwise); sessions start from a copy. Never mutated once built."""
    global _handlers
    with _lock:
        if _handlers is None:
            emitter = AioHierarchicalEmitter()
            AioSession(event_hooks=emitter)
            _handlers = emitter
        return _handlers


async def load_role(
    role_arn: str | RoleArn, options: AssumeOptions
) -> tuple[RefreshingCredentials, str | None]:
    """The shared credentials object and region for ``role_arn`` and ``options``, through the
    sync API's own front (:func:`ecs_xrole.session.resolve_role`), on a worker thread: the
    endpoint fetch and AssumeRole of a first load, and the task-metadata request that may
    resolve the region, never run on the loop.

    Raises what :func:`ecs_xrole.get_credentials` raises.
    """
    return await off_loop(lambda: sync_session.resolve_role(role_arn, **options))


def aio_session(credentials: RefreshingCredentials, region: str | None) -> AioSession:
    """A new aiobotocore session signing with ``credentials`` (through their async adapter)
    and defaulting to ``region``. No I/O besides reading the AWS config file, as any new
    botocore session does."""
    handlers = _builtin_handlers()
    with sync_session._lock:
        loader = sync_session._shared_loader()
    session = AioSession(event_hooks=copy.copy(handlers), include_builtin_handlers=False)
    session.register_component("data_loader", loader)
    # The only credentials this session may use are ours: no env keys, no profile.
    resolver = AioCredentialResolver([_Provider(aio_credentials(credentials))])
    session.register_component("credential_provider", resolver)
    if region is not None:
        session.set_config_variable("region", region)
    session.user_agent_extra = f"{session.user_agent_extra} {sync_session._USER_AGENT}".strip()
    return session
