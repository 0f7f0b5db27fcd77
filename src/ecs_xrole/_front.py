"""The fast front of the public functions: a repeated call costs one dictionary look-up.

Resolving ``get_client``, ``get_session`` or ``get_credentials`` costs tens of microseconds
(endpoint checks, option validation, the region, the caches), too much for a per-request
idiom. A :class:`FrontCache` remembers what a call resolved to, keyed by its raw arguments
(:func:`freeze`) and the variables that change the answer (:func:`environment`), so a changed
variable is seen at the next call. Errors are never cached; reads take no lock; a forked
child starts empty. Shared by the sync and async fronts. See docs/design.md, "The sessions
layer".
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from ._endpoint import FULL_URI, RELATIVE_URI, TOKEN, TOKEN_FILE
from ._fork import on_fork_in_child

#: The variables whose values are part of every front key, in :func:`environment`'s order.
ENVIRONMENT: tuple[str, ...] = (
    RELATIVE_URI,
    FULL_URI,
    TOKEN,
    TOKEN_FILE,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    # The local-development source (ecs_xrole._profiles) and the files its profile is read from.
    "ECS_XROLE_SOURCE_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)

V = TypeVar("V")
_caches: weakref.WeakSet[FrontCache[object]] = weakref.WeakSet()


# CPython's os.environ keeps its values in ``_data``, a dict of bytes on POSIX. Reading that
# dict directly costs a twentieth of os.environ.get (which makes five Python calls per
# variable, most of a cache hit's cost); the values are the very ones os.environ.get decodes.
# Anything else (os.environ replaced by a test's dict, another platform) takes the public way.
_Environ = type(os.environ)
_RAW = os.name == "posix" and isinstance(getattr(os.environ, "_data", None), dict)


def environment() -> tuple[object, ...]:
    """The current values of :data:`ENVIRONMENT` (``None`` for unset), in a form fit only for
    comparing with another snapshot; no I/O."""
    env = os.environ
    if _RAW and env.__class__ is _Environ:
        raw = env._data.get  # type: ignore[attr-defined]
        return (
            raw(b"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            raw(b"AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            raw(b"AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            raw(b"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            raw(b"AWS_REGION"),
            raw(b"AWS_DEFAULT_REGION"),
            raw(b"ECS_XROLE_SOURCE_PROFILE"),
            raw(b"AWS_CONFIG_FILE"),
            raw(b"AWS_SHARED_CREDENTIALS_FILE"),
        )
    get = env.get
    return tuple([get(name) for name in ENVIRONMENT])


class Unfreezable(TypeError):
    """An argument that cannot be part of a key; the caller takes the slow path."""


def freeze(value: object) -> Hashable:
    """A hashable value equal for equal arguments: mappings and lists by their items (in
    order), anything hashable together with its type (``900`` and ``900.0`` stay apart).

    Raises :class:`Unfreezable` for an unhashable value of any other kind.
    """
    if isinstance(value, (str, int, type(None))):
        return (type(value), value)
    if isinstance(value, Mapping):
        return ("mapping", tuple((freeze(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze(item) for item in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(freeze(item) for item in value))
    try:
        hash(value)
    except TypeError:
        raise Unfreezable(f"cannot use a {type(value).__name__} in a key") from None
    return (type(value), value)


def options_key(options: Mapping[str, object]) -> Hashable:
    """The key of a call's keyword options (``()`` for none). Raises :class:`Unfreezable`."""
    if not options:
        return ()
    return tuple((name, freeze(value)) for name, value in options.items())


class FrontCache(Generic[V]):
    """A bounded map from call keys to what the calls resolved to.

    ``get`` takes no lock; ``put`` evicts the oldest entries beyond ``maxsize``. Emptied in a
    forked child and by :meth:`clear`.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._maxsize = maxsize
        self._entries: dict[Hashable, V] = {}
        self._lock = threading.Lock()
        _caches.add(self)  # type: ignore[arg-type]
        self.get = self._entries.get  # bound once: the hot path's one look-up

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value`` unless another thread stored one first; return the stored one."""
        with self._lock:
            entries = self._entries
            found = entries.get(key)
            if found is not None:
                return found
            while len(entries) >= self._maxsize:
                del entries[next(iter(entries))]
            entries[key] = value
            return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._entries.clear()


def _after_fork_in_child() -> None:
    for cache in list(_caches):
        cache._after_fork()


on_fork_in_child(_after_fork_in_child)
