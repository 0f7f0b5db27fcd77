"""tox's in-tree plugin: let plain ``tox`` find every CPython 3 that pyenv holds.

pyenv puts one version on ``PATH``; the others are behind shims (``python3.10``, ...) that
only answer when ``PYENV_VERSION`` names their version. Without this, tox skips py310, py312
and py313 on a machine that has them. The version in use stays first, so ``python3`` still
means what it meant. Nothing happens where ``PYENV_VERSION`` is already set or pyenv is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import Any

from tox.plugin import impl

_RELEASE = re.compile(r"3\.(\d+)\.(\d+)")


def pyenv_versions(installed: list[str], current: str) -> str:
    """The ``PYENV_VERSION`` value naming ``current`` first, then the newest patch release
    of every other CPython 3 minor version in ``installed`` (pre-releases and other
    implementations are left out)."""
    newest: dict[int, tuple[int, str]] = {}
    for name in installed:
        match = _RELEASE.fullmatch(name)
        if match:
            minor, patch = int(match[1]), int(match[2])
            if minor not in newest or patch > newest[minor][0]:
                newest[minor] = (patch, name)
    ordered = [name for _, (_, name) in sorted(newest.items()) if name != current]
    return ":".join([current, *ordered])


@impl
def tox_add_core_config(core_conf: Any, state: Any) -> None:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pyenv = shutil.which("pyenv") or shutil.which("pyenv", path=os.path.join(root, "bin"))
    if os.environ.get("PYENV_VERSION") or pyenv is None:
        return
    listed = subprocess.run(
        [pyenv, "versions", "--bare", "--skip-aliases"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if listed.returncode != 0:
        return
    current = ".".join(str(part) for part in sys.version_info[:3])
    installed = listed.stdout.split()
    if current not in installed:
        return  # tox runs on an interpreter pyenv does not manage: leave PATH as it is
    os.environ["PYENV_VERSION"] = pyenv_versions(installed, current)
