"""aiobotocore (and aioboto3) sessions whose only credentials are the library's shared ones.

Built by the session builder the sync API uses (``ecs_xrole._builder``): the same shared
botocore data loader (service models are parsed once per process, whichever API asked first),
aiobotocore's built-in event handlers registered once per process, no ambient profile, the
same user agent. The credentials come from :func:`ecs_xrole._session`'s process-wide cache,
loaded off the event loop.

Imports aiobotocore: loaded only when an async session, client or credentials are built.
"""

from __future__ import annotations

from aiobotocore.credentials import AioCredentialResolver
from aiobotocore.hooks import AioHierarchicalEmitter
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider

from .. import _session as sync_session
from .._builder import new_session
from .._refresh import RefreshingCredentials
from .._validate import RoleArn
from ..options import AssumeOptions
from ._credentials import AioRefreshingCredentials, aio_credentials, off_loop


class _Provider(CredentialProvider):
    """Hands one credentials object to an aiobotocore session (its only provider)."""

    METHOD = "ecs-xrole"
    CANONICAL_NAME = "ecs-xrole"

    def __init__(self, credentials: AioRefreshingCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    async def load(self) -> AioRefreshingCredentials:
        return self._credentials


async def load_role(
    role_arn: str | RoleArn, options: AssumeOptions
) -> tuple[RefreshingCredentials, str | None]:
    """The shared credentials object and region for ``role_arn`` and ``options``, through the
    sync API's own front (:func:`ecs_xrole._session.resolve_role`), on a worker thread: the
    endpoint fetch and AssumeRole of a first load, and the task-metadata request that may
    resolve the region, never run on the loop.

    Raises what :func:`ecs_xrole.get_credentials` raises.
    """
    return await off_loop(lambda: sync_session.resolve_role(role_arn, **options))


def aio_session(credentials: RefreshingCredentials, region: str | None) -> AioSession:
    """A new aiobotocore session signing with ``credentials`` (through their async adapter)
    and defaulting to ``region``. No I/O besides reading the AWS config file, as any new
    botocore session does."""
    resolver = AioCredentialResolver([_Provider(aio_credentials(credentials))])
    return new_session(AioSession, AioHierarchicalEmitter, resolver, region)
