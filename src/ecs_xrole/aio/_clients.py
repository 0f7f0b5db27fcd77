"""Shared aiobotocore clients, one per (event loop, service, region, options).

aiobotocore clients belong to the loop they were entered on and must be closed on it, so each
running loop gets its own table, and a handler asking for a client on every request gets the
same one back for a dictionary look-up. The clients of a loop are closed by
:func:`close_loop_clients` or when the loop shuts down its async generators (``asyncio.run``,
uvicorn); a forked child drops every table. Imports aiobotocore: loaded only when a client
is built. See docs/design.md, "asyncio".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Hashable
from typing import Any, cast

from aiobotocore.client import AioBaseClient
from aiobotocore.config import AioConfig

from .. import _session as sync_session
from .._builder import ClientOptions, config_key
from .._fork import on_fork_in_child
from .._front import environment, freeze, options_key
from ..options import AssumeOptions
from ._credentials import off_loop
from ._sessions import aio_session, load_role


def _front_key(
    service_name: str, role_arn: Any, options: AssumeOptions, client_options: dict[str, Any]
) -> Hashable:
    """The call's arguments and the environment they resolve in, keyed as the sync API's fast
    front keys them (:mod:`ecs_xrole._front`); a new object, matching nothing, when an
    argument cannot be part of a key (the client is then still shared, one level down)."""
    config = client_options["config"]
    try:
        key = (
            sync_session.generation,
            service_name,
            role_arn,
            options_key(options),
            environment(),
            None if config is None else config_key(config),
            freeze(getattr(config, "connector_args", None)),
            client_options["endpoint_url"],
            client_options["verify"],
            client_options["use_ssl"],
            client_options["api_version"],
        )
        return _FrontKey(key)
    except TypeError:
        return object()


class _FrontKey:
    """A front key, compared and hashed as the tuple it holds, shown by no ``repr``: the
    environment snapshot in it holds the agent's token and the full endpoint URL, and a
    traceback with locals (an error reporter's) shows the frames that hold the key. Not a
    tuple: reporters serialise those item by item."""

    __slots__ = ("_hash", "_key")

    def __init__(self, key: tuple[object, ...]) -> None:
        self._hash = hash(key)
        self._key = key

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FrontKey) and other._key == self._key

    def __repr__(self) -> str:
        return "<front key: not shown>"


def _freeze_or_id(value: object) -> Hashable:
    try:
        return freeze(value)
    except TypeError:
        return ("id", id(value))


class _LoopClients:
    """The clients of one event loop. Touched only from that loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: dict[Hashable, AioBaseClient] = {}
        self.pending: dict[Hashable, asyncio.Task[AioBaseClient]] = {}
        self.by_credentials: dict[Hashable, AioBaseClient] = {}
        self.stack = contextlib.AsyncExitStack()
        self.abandoned = False
        self.closer: AsyncIterator[None] | None = None

    async def watch_shutdown(self) -> None:
        """Park an async generator on the loop: its shutdown (``shutdown_asyncgens``) closes
        it, and with it these clients."""
        closer = self._closer()
        await closer.__anext__()
        self.closer = closer

    async def _closer(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if not self.abandoned:
                await self.close()
                with _lock:
                    if _loops.get(self.loop) is self:
                        del _loops[self.loop]

    async def close(self) -> None:
        self.ready.clear()
        self.by_credentials.clear()
        for task in self.pending.values():
            task.cancel()
        self.pending.clear()
        stack, self.stack = self.stack, contextlib.AsyncExitStack()
        await stack.aclose()

    def abandon(self) -> None:
        """Forget these clients without closing them (their loop is closed or not ours)."""
        self.abandoned = True
        closer, self.closer = self.closer, None
        if closer is not None:
            # Finish the parked generator here, so that garbage collection does not ask the
            # closed loop to finish it.
            with contextlib.suppress(StopIteration, RuntimeError):
                closer.aclose().send(None)  # type: ignore[attr-defined]
        self.ready.clear()
        self.pending.clear()
        self.by_credentials.clear()


_lock = threading.Lock()
_loops: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


async def _loop_clients() -> _LoopClients:
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is not None:
        return state
    with _lock:
        closed = [other for other in _loops if other.is_closed()]
        abandoned = [_loops.pop(other) for other in closed]
        state = _loops.get(loop)
        if state is None:
            state = _LoopClients(loop)
            _loops[loop] = state
            created = True
        else:
            created = False
    for old in abandoned:
        old.abandon()
    if created:
        await state.watch_shutdown()
    return state


async def shared_client(
    service_name: str,
    role_arn: Any,
    options: AssumeOptions,
    client_options: dict[str, Any],
) -> AioBaseClient:
    """This loop's client for the service, role and options; built on the first call.

    A call with the same arguments in the same environment costs a look-up. Otherwise the
    credentials are resolved (and loaded, off the loop), and a client is built unless this
    loop already has one for the same service, credentials object, region and client
    options. Concurrent callers share one build.
    """
    front_key = _front_key(service_name, role_arn, options, client_options)
    state = _loops.get(asyncio.get_running_loop()) or await _loop_clients()
    client = state.ready.get(front_key)
    if client is not None:
        return client
    task = state.pending.get(front_key)
    if task is None:
        task = state.loop.create_task(
            _build(state, service_name, role_arn, front_key, options, client_options)
        )
        task.add_done_callback(_retrieve)
        state.pending[front_key] = task
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Task[AioBaseClient]) -> None:
    # Every waiter may have been cancelled; the error is theirs to see, not the loop's log's.
    if not task.cancelled():
        task.exception()


async def _build(
    state: _LoopClients,
    service_name: str,
    role_arn: Any,
    front_key: Hashable,
    options: AssumeOptions,
    client_options: dict[str, Any],
) -> AioBaseClient:
    try:
        credentials, region = await load_role(role_arn, options)
        # Validated as the sync get_client validates them (InvalidInputError naming the value).
        checked = ClientOptions.build(**client_options)
        key = (
            service_name,
            id(credentials),
            region,
            object() if checked.key is None else checked.key,
            _freeze_or_id(getattr(checked.config, "connector_args", None)),
        )
        client = state.by_credentials.get(key)
        if client is None:
            client = await _new_client(state, service_name, credentials, region, client_options)
            state.by_credentials[key] = client
        state.ready[front_key] = client
        return client
    finally:
        state.pending.pop(front_key, None)


async def _new_client(
    state: _LoopClients,
    service_name: str,
    credentials: Any,
    region: str | None,
    client_options: dict[str, Any],
) -> AioBaseClient:
    session = aio_session(credentials, region)
    # Parse the service's model on a worker thread (once per process; tens of milliseconds
    # for a large service), not on the loop.
    loader = session.get_component("data_loader")
    api_version = client_options.get("api_version")
    await off_loop(loader.load_service_model, service_name, "service-2", api_version)
    # The user's Config as given (the user agent is the session's), as an AioConfig:
    # aiobotocore needs one for its connector settings.
    user = client_options.get("config")
    settings = {} if user is None else user._user_provided_options
    config = AioConfig(connector_args=getattr(user, "connector_args", None), **settings)
    kwargs = {k: v for k, v in client_options.items() if k != "config" and v is not None}
    # Any: the stubs type create_client per literal service name.
    creator = cast(Any, session).create_client(service_name, config=config, **kwargs)
    client: AioBaseClient = await state.stack.enter_async_context(creator)
    return client


async def close_loop_clients() -> int:
    """Close the shared clients of the running loop; return how many were open."""
    state = _loops.get(asyncio.get_running_loop())
    if state is None:
        return 0
    count = len(set(map(id, state.by_credentials.values())))
    await state.close()
    return count


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for state in list(_loops.values()):
        state.abandon()
    _loops.clear()


on_fork_in_child(_after_fork_in_child)
