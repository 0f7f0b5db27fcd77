"""The fetch observers: the seam through which ``serve --metrics`` times every AssumeRole.

Every :class:`~ecs_xrole._refresh.RefreshingCredentials` calls :func:`observed` after each
fetch attempt while :data:`observers` is not empty; :mod:`ecs_xrole._serving.metrics` adds
itself with :func:`observe_fetches`. Nothing is patched, and without an observer a fetch pays
one truthiness test. Lock contract: :data:`observers` is an immutable tuple replaced under
``_lock``, so readers take no lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._fork import on_fork_in_child

if TYPE_CHECKING:
    from ._refresh import RefreshingCredentials

logger = logging.getLogger("ecs_xrole.refresh")


#: Called after every fetch attempt of every :class:`RefreshingCredentials` (on the thread that
#: made it, holding that object's lock): ``(credentials, seconds, error or None)``. Empty unless
#: ``serve --metrics`` / ``exec --metrics`` run (:mod:`ecs_xrole._serving.metrics`).
FetchObserver = Callable[["RefreshingCredentials", float, "BaseException | None"], None]
observers: tuple[FetchObserver, ...] = ()
_lock = threading.Lock()


def observe_fetches(observer: FetchObserver) -> Callable[[], None]:
    """Call ``observer`` after every fetch attempt (success or failure) of every refreshing
    credentials object in this process; return the function that stops it.

    The seam through which :mod:`ecs_xrole._serving.metrics` times AssumeRole: nothing is patched,
    and with no observer a fetch pays one truthiness test. ``observer`` must be quick and must not
    raise (an exception is logged at DEBUG and dropped) nor call back into the object.
    """
    global observers
    with _lock:
        observers = (*observers, observer)

    def stop() -> None:
        global observers
        with _lock:
            observers = tuple(o for o in observers if o is not observer)

    return stop


def observed(
    credentials: RefreshingCredentials, seconds: float, error: BaseException | None
) -> None:
    for observer in observers:
        try:
            observer(credentials, seconds, error)
        except Exception:  # an observer never breaks a refresh
            logger.debug("a fetch observer failed", exc_info=False)


def _renew_lock() -> None:
    global _lock
    _lock = threading.Lock()


on_fork_in_child(_renew_lock)
