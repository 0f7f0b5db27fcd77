"""The packaging check's last step (``tox -e package``): the wheel holds what a user needs.

``python -m build`` has built the sdist and, from it, the wheel into DIST. This checks that the
wheel holds ``ecs_xrole/py.typed``, the console script and the pytest11 entry point, no tests,
docs or examples, and the same files as the wheel the install section of the README builds
(``python3 -m pip wheel --no-deps .`` from the checkout), so both ways give users one wheel.
Run as ``python tests/check_wheel.py DIST``; exits 1 naming each problem.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("ecs_xrole/__init__.py", "ecs_xrole/py.typed")
FORBIDDEN_TOP = ("tests/", "docs/", "examples/", "src/")
ENTRY_POINTS = ("ecs-xrole = ecs_xrole.cli:main", "ecs_xrole = ecs_xrole.testing.pytest_plugin")


def problems(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        found = [f"{wheel.name} has no {need}" for need in REQUIRED if need not in names]
        found += [f"{wheel.name} holds {n}" for n in names if n.startswith(FORBIDDEN_TOP)]
        points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(points[0]).decode() if points else ""
        found += [
            f"{wheel.name} lacks the entry point {e!r}" for e in ENTRY_POINTS if e not in text
        ]
    return found


def contents(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def main(dist: Path) -> int:
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        print(f"check_wheel: expected one wheel in {dist}, found {len(wheels)}", file=sys.stderr)
        return 1
    found = problems(wheels[0])
    with tempfile.TemporaryDirectory() as out:
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", out]
        subprocess.run([*pip_wheel, str(ROOT)], check=True)
        readme_wheel = next(Path(out).glob("*.whl"))
        differ = contents(wheels[0]) ^ contents(readme_wheel)
        if differ:
            found.append(f"the README's `pip wheel` and `python -m build` differ: {sorted(differ)}")
    for problem in found:
        print(f"check_wheel: {problem}", file=sys.stderr)
    if not found:
        print(
            f"check_wheel: {wheels[0].name} holds py.typed and no tests or docs; same as pip wheel"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
