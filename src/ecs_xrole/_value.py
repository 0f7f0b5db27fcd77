"""Immutable value classes for the modules on ``write-config``'s path.

They behave as frozen dataclasses do (equal, hashable and shown by their fields; assignment
raises; picklable), but importing :mod:`dataclasses` pulls in :mod:`inspect` and costs every
container start a few milliseconds, so ``config`` and ``validate`` build on this base instead.
Standard library only, and nothing beyond what the interpreter has loaded at start.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from typing_extensions import Self


class Value:
    """Base class: a subclass lists its fields in ``__slots__`` (in order) and sets each one
    once in ``__init__`` with :meth:`_set`."""

    __slots__: tuple[str, ...] = ()

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (as :func:`dataclasses.replace`: through ``__init__``, so the
        new values are checked as on construction)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        return type(self)(**{**fields, **changes})

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._values()))


def _rebuild(cls: type[Value], values: tuple[Any, ...]) -> Value:
    value = object.__new__(cls)
    for name, item in zip(cls.__slots__, values, strict=True):
        object.__setattr__(value, name, item)
    return value
