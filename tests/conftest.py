"""Project-wide test setup. The fixtures themselves come from ecs_xrole's pytest plugin
(``ecs_xrole.testing.pytest_plugin``, loaded through its entry point)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can reach (pytest's tmp_path is private to root).

    Tests may make parts of it read-only; cleanup restores the modes first.
    """
    path = Path(tempfile.mkdtemp(prefix="ecs-xrole-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in [path, *path.rglob("*")]:
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)
