"""The library's refreshing credentials, as aiobotocore awaits them.

:class:`AioRefreshingCredentials` wraps the one
:class:`~ecs_xrole._refresh.RefreshingCredentials` sync callers share (nothing duplicated, so
both APIs together make one AssumeRole per lifetime), and an awaiting caller never blocks its
loop: a refresh it must wait for runs on this module's small thread pool (:func:`off_loop`),
shared by every waiter and not cancelled with one. Imports aiobotocore: loaded only when an
async session, client or credentials are built. See docs/design.md, "asyncio".
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypeVar

from aiobotocore.credentials import AioRefreshableCredentials
from botocore.credentials import ReadOnlyCredentials

from .._fork import on_fork_in_child
from .._refresh import RefreshingCredentials

T = TypeVar("T")

# Blocking work for event loops (first loads, refreshes inside the mandatory margin) runs here
# rather than in the loop's default executor: an application's own slow jobs cannot queue
# ahead of a refresh, and asyncio.run's shutdown of its default executor does not touch it.
_WORKERS = 4
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=_WORKERS, thread_name_prefix="ecs-xrole-aio"
                )
    return _executor


async def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the blocking ``function(*args, **kwargs)`` on this module's threads and await it.

    Cancelling the awaiting task does not cancel the job (a credential load is shared work).
    """
    return await shared_job(_pool().submit(function, *args, **kwargs))


async def shared_job(job: Future[T]) -> T:
    """Await a ``concurrent.futures.Future`` that other tasks may await too, without letting
    one waiter's cancellation cancel it for the others."""
    return await asyncio.shield(asyncio.wrap_future(job))


class AioRefreshingCredentials(AioRefreshableCredentials):
    """aiobotocore's face of one :class:`~ecs_xrole._refresh.RefreshingCredentials`.

    Get one from :func:`ecs_xrole.aio.get_credentials`; ``sync_credentials`` is the shared
    object that :func:`ecs_xrole.get_credentials` returns for the same options. As with
    aiobotocore's own refreshable credentials, the ``access_key``/``secret_key``/``token``
    properties are not for reading (they raise ``NotImplementedError``): await
    :meth:`get_frozen_credentials`.
    """

    def __init__(self, credentials: RefreshingCredentials) -> None:
        # botocore's fields are placeholders: every read goes to the wrapped object.
        super().__init__(
            access_key="",
            secret_key="",
            token="",
            expiry_time=datetime.fromtimestamp(0, timezone.utc),
            refresh_using=_unused_refresh,
            method=credentials.method,
        )
        self._sync = credentials
        self._job_lock = threading.Lock()
        self._job: Future[ReadOnlyCredentials] | None = None

    def __repr__(self) -> str:
        return f"<AioRefreshingCredentials of {self._sync!r}>"

    @property
    def sync_credentials(self) -> RefreshingCredentials:
        """The wrapped credentials object, shared with the sync API."""
        return self._sync

    @property
    def expiry(self) -> datetime | None:
        """When the credentials in hand expire (UTC), or ``None`` if unknown or never."""
        return self._sync.expiry

    async def get_frozen_credentials(self) -> ReadOnlyCredentials:  # type: ignore[override]
        """A consistent (access key, secret key, token, account ID) tuple.

        No I/O and no thread hop while the credentials in hand are outside the mandatory
        margin. Otherwise (first load, or inside the margin) awaits the wrapped object's
        refresh on a worker thread; concurrent waiters share that one job. Raises what
        :meth:`~ecs_xrole._refresh.RefreshingCredentials.get_frozen_credentials` raises.
        """
        frozen = self._sync.frozen_if_fresh()
        if frozen is not None:
            return frozen
        return await shared_job(self._blocking_job())

    def _blocking_job(self) -> Future[ReadOnlyCredentials]:
        with self._job_lock:
            job = self._job
            if job is None or job.done():
                job = _pool().submit(self._sync.get_frozen_credentials)
                self._job = job
            return job

    async def _refresh(self) -> None:
        await self.get_frozen_credentials()

    async def get_access_key(self) -> str:
        return str((await self.get_frozen_credentials()).access_key)

    async def get_secret_key(self) -> str:
        return str((await self.get_frozen_credentials()).secret_key)

    async def get_token(self) -> str:
        return str((await self.get_frozen_credentials()).token)

    async def get_account_id(self) -> str | None:
        value = (await self.get_frozen_credentials()).account_id
        return None if value is None else str(value)

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        """botocore's question, answered by the wrapped object (no I/O)."""
        return self._sync.refresh_needed(refresh_in)


def _unused_refresh() -> dict[str, Any]:  # pragma: no cover - _refresh is overridden
    raise NotImplementedError("AioRefreshingCredentials refresh through the wrapped object")


# One adapter per shared credentials object while anyone holds it (they are cheap, but one is
# enough; the adapter keeps its credentials object alive, so the id stays valid).
_adapters: weakref.WeakValueDictionary[int, AioRefreshingCredentials] = (
    weakref.WeakValueDictionary()
)
_adapters_lock = threading.Lock()


def aio_credentials(credentials: RefreshingCredentials) -> AioRefreshingCredentials:
    """The adapter for ``credentials`` (the same one while it is in use). No I/O."""
    key = id(credentials)
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None or adapter.sync_credentials is not credentials:
            adapter = AioRefreshingCredentials(credentials)
            _adapters[key] = adapter
    return adapter


def _after_fork_in_child() -> None:
    global _executor, _executor_lock, _adapters_lock
    # The pool's threads did not survive the fork, and a lock may have been held by one.
    _executor = None
    _executor_lock = threading.Lock()
    _adapters_lock = threading.Lock()
    for adapter in list(_adapters.values()):
        adapter._job_lock = threading.Lock()
        adapter._job = None


on_fork_in_child(_after_fork_in_child)
