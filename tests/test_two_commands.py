"""The README's two commands: the first runs the demo, the second every check, and CI runs
exactly the second (``.ci/run``), nothing looser."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)][:2]


def test_the_first_command_runs_the_demo_and_the_second_every_check() -> None:
    demo, check = readme_commands()
    assert demo.endswith("python3 -m ecs_xrole demo")
    assert check == "python3 -m pip install tox tox-uv && python3 -m tox"


def test_ci_runs_the_readmes_test_command_and_nothing_looser() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "set -euo pipefail" in script
    assert script[-1] == readme_commands()[1]
