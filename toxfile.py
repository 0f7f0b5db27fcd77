"""tox's in-tree plugin: let plain ``tox`` find every CPython 3 that pyenv holds.

pyenv puts one version on ``PATH``; the others are behind shims (``python3.10``, ...) that
only answer when ``PYENV_VERSION`` names their version. Without this, tox skips py310, py312
and py313 on a machine that has them. The versions already chosen stay first, so ``python3``
still means what it meant; the others are added after them. Nothing happens without pyenv.
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


def pyenv_versions(installed: list[str], chosen: list[str]) -> str:
    """The ``PYENV_VERSION`` value: the versions already ``chosen`` first (the one in use
    among them), then the newest patch release of every other CPython 3 minor version in
    ``installed`` (pre-releases and other implementations are left out)."""
    newest: dict[int, tuple[int, str]] = {}
    for name in installed:
        match = _RELEASE.fullmatch(name)
        if match:
            minor, patch = int(match[1]), int(match[2])
            if minor not in newest or patch > newest[minor][0]:
                newest[minor] = (patch, name)
    covered = {int(m[1]) for m in map(_RELEASE.fullmatch, chosen) if m}
    added = [name for minor, (_, name) in sorted(newest.items()) if minor not in covered]
    return ":".join([*chosen, *added])


@impl
def tox_add_core_config(core_conf: Any, state: Any) -> None:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pyenv = shutil.which("pyenv") or shutil.which("pyenv", path=os.path.join(root, "bin"))
    if pyenv is None:
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
    # A python3 started through pyenv's shim already has PYENV_VERSION set to its own version.
    chosen = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v] or [current]
    os.environ["PYENV_VERSION"] = pyenv_versions(installed, chosen)
