"""Project-wide test setup. The fixtures themselves come from ecs_xrole's pytest plugin
(``ecs_xrole.testing.pytest_plugin``, loaded through its entry point)."""

from __future__ import annotations

pytest_plugins = ["pytester"]
