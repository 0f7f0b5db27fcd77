"""toxfile.py, tox's in-tree plugin: which pyenv versions plain ``tox`` is shown."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

TOXFILE = Path(__file__).resolve().parents[1] / "toxfile.py"


@pytest.fixture
def toxfile(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    # The test environments do not install tox; its hook decorator is all the file needs.
    plugin = types.ModuleType("tox.plugin")
    plugin.impl = lambda function: function  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tox", types.ModuleType("tox"))
    monkeypatch.setitem(sys.modules, "tox.plugin", plugin)
    spec = importlib.util.spec_from_file_location("toxfile_under_test", TOXFILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_running_version_first_then_the_newest_of_each_other_minor(
    toxfile: types.ModuleType,
) -> None:
    installed = ["2.7.18", "3.9.18", "3.10.2", "3.10.13", "3.11.7", "3.12.1", "3.13.0", "3.13.0t"]
    assert toxfile.pyenv_versions(installed, ["3.11.7"]) == "3.11.7:3.9.18:3.10.13:3.12.1:3.13.0"


def test_versions_already_chosen_stay_first_and_their_minors_are_not_added_again(
    toxfile: types.ModuleType,
) -> None:
    installed = ["3.10.2", "3.10.13", "3.11.7", "3.12.1"]
    assert toxfile.pyenv_versions(installed, ["3.12.1", "3.10.2"]) == "3.12.1:3.10.2:3.11.7"


def test_other_implementations_and_pre_releases_are_left_out(toxfile: types.ModuleType) -> None:
    installed = ["pypy3.10-7.3.12", "3.14.0rc1", "miniconda3-latest", "3.12.1", "system"]
    assert toxfile.pyenv_versions(installed, ["3.12.1"]) == "3.12.1"
