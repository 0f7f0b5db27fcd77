"""The one definition of the assume options: every function takes exactly these, by name."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import ecs_xrole
from ecs_xrole._assume import AssumeRoleParams
from ecs_xrole.options import ASSUME_OPTIONS, AssumeOptions

SRC = Path(ecs_xrole.__file__).resolve().parent.parent


def test_the_options_are_the_assume_role_parameters_plus_region_and_source() -> None:
    built = set(inspect.signature(AssumeRoleParams.build).parameters) - {"cls", "role_arn"}
    assert built | {"region_name", "source_session"} == ASSUME_OPTIONS
    assert ecs_xrole.AssumeOptions is AssumeOptions


@pytest.mark.parametrize("function", ["get_session", "get_client", "get_credentials"])
def test_an_unknown_option_is_a_type_error_naming_it(function: str) -> None:
    args = ("sts",) if function == "get_client" else ()
    with pytest.raises(TypeError, match=f"{function}.*'external_idd'.*external_id"):
        getattr(ecs_xrole, function)(*args, "arn:aws:iam::555566667777:role/x", external_idd="x")


def test_the_options_need_no_typing_extensions_at_run_time() -> None:
    """Python 3.10 has no typing.Unpack: the annotations must never be evaluated."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typing_extensions': raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import ecs_xrole._session, ecs_xrole.options\n"
        "print(sorted(ecs_xrole.options.ASSUME_OPTIONS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=9,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "external_id" in done.stdout


ASYNC_FUNCTIONS = ["get_session", "get_aioboto3_session", "get_client", "get_credentials"]


@pytest.mark.parametrize("function", ASYNC_FUNCTIONS)
def test_the_async_functions_take_the_one_definition(function: str) -> None:
    """ecs_xrole.aio declares no option of its own: ``**options: Unpack[AssumeOptions]``."""
    import ecs_xrole.aio

    parameters = inspect.signature(getattr(ecs_xrole.aio, function)).parameters
    assert not ASSUME_OPTIONS & set(parameters)
    assert parameters["options"].kind is inspect.Parameter.VAR_KEYWORD
    assert parameters["options"].annotation == "Unpack[AssumeOptions]"


@pytest.mark.parametrize("function", ASYNC_FUNCTIONS)
def test_an_unknown_async_option_is_a_type_error_naming_it(function: str) -> None:
    import asyncio

    import ecs_xrole.aio

    args = ("sts",) if function == "get_client" else ()

    async def call() -> None:
        # get_client checks when called; the coroutines when awaited (before any I/O).
        await getattr(ecs_xrole.aio, function)(
            *args, "arn:aws:iam::555566667777:role/x", external_idd="x"
        )

    with pytest.raises(TypeError, match=f"{function}.*'external_idd'.*external_id"):
        asyncio.run(call())
