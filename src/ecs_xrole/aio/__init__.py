"""ecs-xrole for asyncio: aiobotocore and aioboto3 acting as a role in another account.

Needs the ``aio`` extra (``pip install 'ecs-xrole[aio]'``; ``ecs-xrole[aioboto3]`` for
:func:`get_aioboto3_session`)::

    import ecs_xrole.aio

    async def handler(request):
        async with ecs_xrole.aio.get_client("s3", ROLE_ARN) as s3:  # shared, not closed here
            await s3.list_objects_v2(Bucket="reports")

What is shared:

* the credentials: one object per option set for the whole process, the very one the sync
  API (:func:`ecs_xrole.get_credentials`) hands out, so an application using both makes one
  AssumeRole per credential lifetime. Refreshes run on the library's background thread; an
  awaiting caller never blocks its event loop (first loads, and refreshes inside the short
  mandatory margin, are awaited from a worker thread);
* the clients of :func:`get_client`: one per (event loop, service, region, options), built on
  first use and closed when the loop shuts down (``asyncio.run``, uvicorn, or anything that
  calls ``loop.shutdown_asyncgens()``) or by ``await ecs_xrole.aio.close()``.

Importing this module is cheap: aiobotocore, aioboto3 and boto3 are imported when the first
session, client or credentials object is built.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from ..options import AssumeOptions, check_option_names

if TYPE_CHECKING:
    import aioboto3
    from aiobotocore.client import AioBaseClient
    from aiobotocore.session import AioSession
    from botocore.config import Config
    from typing_extensions import Unpack

    from .._validate import RoleArn
    from ._credentials import AioRefreshingCredentials

__all__ = [
    "AioRefreshingCredentials",
    "SharedClient",
    "close",
    "get_aioboto3_session",
    "get_client",
    "get_credentials",
    "get_session",
]


async def _imported() -> None:
    """Import the modules that load aiobotocore, aiohttp and boto3 (a few hundred
    milliseconds) on a worker thread the first time, so the first request does not stall
    the loop; then a no-op."""
    name = f"{__name__}._clients"
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)


async def get_credentials(
    role_arn: str | RoleArn, **options: Unpack[AssumeOptions]
) -> AioRefreshingCredentials:
    """Credentials for ``role_arn`` as aiobotocore awaits them.

    Takes the options of :func:`ecs_xrole.get_credentials` and wraps the object it returns
    for them (``.sync_credentials``): one AssumeRole per lifetime for sync and async users.

    I/O: the first call for an option set fetches the task role's credentials and calls
    AssumeRole on a worker thread (the loop keeps running); later calls do no I/O while the
    credentials are fresh. Raises what :func:`ecs_xrole.get_credentials` raises.
    """
    check_option_names("get_credentials", options)
    await _imported()
    from ._credentials import aio_credentials
    from ._sessions import load_role

    credentials, _ = await load_role(role_arn, options)
    return aio_credentials(credentials)


async def get_session(role_arn: str | RoleArn, **options: Unpack[AssumeOptions]) -> AioSession:
    """A new aiobotocore ``AioSession`` acting as ``role_arn``.

    Options, credentials sharing, I/O and errors as :func:`get_credentials`; the session's
    region is ``region_name`` or the resolved default. Clients made through it are the
    caller's: ``async with session.create_client("s3") as s3:`` builds and closes one (for a
    client per request, use :func:`get_client`, which shares them).
    """
    check_option_names("get_session", options)
    await _imported()
    from ._sessions import aio_session, load_role

    credentials, region = await load_role(role_arn, options)
    return aio_session(credentials, region)


async def get_aioboto3_session(
    role_arn: str | RoleArn, **options: Unpack[AssumeOptions]
) -> aioboto3.Session:
    """A new ``aioboto3.Session`` acting as ``role_arn`` (needs the ``aioboto3`` extra).

    Built on :func:`get_session`'s aiobotocore session: options, credentials sharing, I/O and
    errors as :func:`get_credentials`. Raises ``ModuleNotFoundError`` naming the extra when
    aioboto3 is not installed.
    """
    check_option_names("get_aioboto3_session", options)
    if "aioboto3" not in sys.modules:
        try:  # a heavy import: on a worker thread, as _imported does
            await asyncio.to_thread(importlib.import_module, "aioboto3")
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                "ecs_xrole.aio.get_aioboto3_session needs aioboto3: "
                "pip install 'ecs-xrole[aioboto3]'",
                name=exc.name,
            ) from exc
    import aioboto3

    session = await get_session(role_arn, **options)
    return aioboto3.Session(botocore_session=session)


class SharedClient:
    """What :func:`get_client` returns: await it, or use it with ``async with``, to get the
    loop's shared client. Leaving the ``async with`` block does **not** close the client (it
    is shared); :func:`close` or the loop's shutdown does."""

    __slots__ = ("_args",)

    def __init__(self, *args: Any) -> None:
        self._args = args

    async def _get(self) -> AioBaseClient:
        await _imported()
        from ._clients import shared_client

        return await shared_client(*self._args)

    def __await__(self) -> Generator[Any, None, AioBaseClient]:
        return self._get().__await__()

    async def __aenter__(self) -> AioBaseClient:
        return await self._get()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


def get_client(
    service_name: str,
    role_arn: str | RoleArn,
    *,
    config: Config | None = None,
    endpoint_url: str | None = None,
    verify: bool | str | None = None,
    use_ssl: bool = True,
    api_version: str | None = None,
    **options: Unpack[AssumeOptions],
) -> SharedClient:
    """The running loop's shared aiobotocore client for ``service_name`` acting as
    ``role_arn``: ``async with ecs_xrole.aio.get_client("s3", arn) as s3:`` or
    ``s3 = await ecs_xrole.aio.get_client("s3", arn)``.

    One client per (event loop, service, region, options): the first call builds it, later
    calls with the same arguments cost a dictionary look-up, so calling this per request is
    cheap. Concurrent first calls share one build. Leaving ``async with`` does not close the
    client; the loop's shutdown or :func:`close` does.

    Client options as ``AioSession.create_client`` takes them: ``config`` (a botocore
    ``Config`` or aiobotocore ``AioConfig``, compared by its settings; the library's
    user-agent is merged in, the user's settings win), ``endpoint_url``, ``verify``,
    ``use_ssl``, ``api_version``. Role options, I/O and errors as :func:`get_credentials`.
    """
    check_option_names("get_client", options)
    client_options = {
        "config": config,
        "endpoint_url": endpoint_url,
        "verify": verify,
        "use_ssl": use_ssl,
        "api_version": api_version,
    }
    return SharedClient(service_name, role_arn, options, client_options)


async def close() -> None:
    """Close the shared clients of the running event loop (:func:`get_client`'s); later
    calls build new ones. For an application that shuts down its own way (an aiohttp
    ``on_cleanup`` hook, a FastAPI lifespan): ``asyncio.run`` and uvicorn close them anyway.
    Sessions and credentials are unaffected."""
    from ._clients import close_loop_clients

    await close_loop_clients()


__getattr__, __dir__ = lazy_exports(
    __name__, {"AioRefreshingCredentials": "_credentials"}, globals(), __all__
)
