"""The one after-fork registry: each module registers here what its state needs in a child.

A forked child has only the thread that forked: locks another thread held stay held, worker
threads are gone, and pooled sockets are shared with the parent. Each module hands a reset to
:func:`on_fork_in_child` instead of calling :func:`os.register_at_fork` itself.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing's, without importing typing (imported on light paths)
if TYPE_CHECKING:
    from collections.abc import Callable


_callbacks: list[Callable[[], None]] = []


def on_fork_in_child(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` in every child forked from now on; return it (usable as a decorator).

    The contract of a callback:

    * It runs in the child only, on the thread that forked, right after :func:`os.fork`
      (also through :mod:`multiprocessing`'s fork start method and :mod:`subprocess` with
      ``preexec_fn``), before control returns to Python code; never in the parent.
    * Callbacks run in registration order, which is import order: a module's callback runs
      after those of the modules it imports, so it may rely on their state being reset.
    * It must be quick and must not take a lock that may be held (any lock another thread
      of the parent could have held: replace such a lock, never acquire it), start threads,
      do I/O or log.
    * An exception does not stop the callbacks after it: once all ran, the first one raised
      is re-raised, and Python reports it as unraisable as it does for any
      :func:`os.register_at_fork` hook; the child goes on.

    Registering the same function twice keeps one registration. Where the platform has no
    :func:`os.register_at_fork` (Windows, which has no fork either), callbacks never run.
    """
    if callback not in _callbacks:
        _callbacks.append(callback)
    return callback


def callbacks() -> tuple[Callable[[], None], ...]:
    """The registered callbacks, in the order a child runs them."""
    return tuple(_callbacks)


def _run_in_child() -> None:
    error: BaseException | None = None
    for callback in tuple(_callbacks):
        try:
            callback()
        except BaseException as exc:  # the others must still run; the first is reported
            if error is None:
                error = exc
    if error is not None:
        raise error


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_run_in_child)
