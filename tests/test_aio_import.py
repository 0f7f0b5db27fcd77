"""Importing ecs_xrole.aio costs no aiobotocore, aioboto3 or boto3 (runs in every environment,
with or without the ``aio`` extra)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

HEAVY = ("aiobotocore", "aioboto3", "aiohttp", "boto3", "botocore")


def _imported_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=9, check=True
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_ecs_xrole_and_ecs_xrole_aio_imports_no_sdk() -> None:
    code = (
        "import ecs_xrole, ecs_xrole.aio\n"
        "from ecs_xrole.aio import close, get_client, get_credentials, get_session\n"
        "ecs_xrole.aio.get_client('s3', 'arn:aws:iam::555566667777:role/x')"
    )
    assert _imported_after(code) == []


@pytest.mark.skipif(importlib.util.find_spec("aiobotocore") is None, reason="needs the aio extra")
def test_the_adapter_class_loads_aiobotocore_on_first_use() -> None:
    # The probe is able to see a load: naming the credentials class imports aiobotocore.
    imported = _imported_after("import ecs_xrole.aio\necs_xrole.aio.AioRefreshingCredentials")
    assert "aiobotocore" in imported
