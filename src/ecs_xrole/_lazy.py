"""Lazy package exports: a name is imported from its module on first access (PEP 562).

Shared by ``ecs_xrole`` and ``ecs_xrole.testing``, whose imports must stay cheap (the package
is imported by ``write-config`` and the testing package by every pytest run).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, str], namespace: dict[str, Any], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package``.

    ``modules`` maps each lazy name to the submodule (relative to ``package``) defining it; a
    loaded value is stored in ``namespace`` so the next access is a plain lookup.
    """
    names = sorted(public)

    def getattr_(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(names))

    return getattr_, dir_
