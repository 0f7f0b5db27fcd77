"""The packaging check (tests/check_wheel.py) refuses the wheels it is there to catch."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

_SPEC = importlib.util.spec_from_file_location(
    "check_wheel", Path(__file__).with_name("check_wheel.py")
)
assert _SPEC is not None
assert _SPEC.loader is not None
check_wheel: ModuleType = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check_wheel)

ENTRY_POINTS = (
    "[console_scripts]\necs-xrole = ecs_xrole.cli:main\n\n"
    "[pytest11]\necs_xrole = ecs_xrole.testing.pytest_plugin\n"
)


def wheel(tmp_path: Path, *names: str, entry_points: str = ENTRY_POINTS) -> Path:
    path = tmp_path / "ecs_xrole-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "")
        archive.writestr("ecs_xrole-0.1.0.dist-info/entry_points.txt", entry_points)
    return path


def test_a_complete_wheel_has_no_problem(tmp_path: Path) -> None:
    good = wheel(tmp_path, "ecs_xrole/__init__.py", "ecs_xrole/py.typed")
    assert check_wheel.problems(good) == []


def test_a_wheel_without_py_typed_or_with_tests_and_docs_is_refused(tmp_path: Path) -> None:
    bad = wheel(tmp_path, "ecs_xrole/__init__.py", "tests/test_x.py", "docs/index.md")
    assert check_wheel.problems(bad) == [
        f"{bad.name} has no ecs_xrole/py.typed",
        f"{bad.name} holds tests/test_x.py",
        f"{bad.name} holds docs/index.md",
    ]


def test_a_wheel_without_the_console_script_is_refused(tmp_path: Path) -> None:
    bad = wheel(tmp_path, "ecs_xrole/__init__.py", "ecs_xrole/py.typed", entry_points="")
    assert check_wheel.problems(bad) == [
        f"{bad.name} lacks the entry point 'ecs-xrole = ecs_xrole.cli:main'",
        f"{bad.name} lacks the entry point 'ecs_xrole = ecs_xrole.testing.pytest_plugin'",
    ]
