"""At logging's default level (WARNING) the library says nothing while all is well: not at the
first AssumeRole, not at API calls, not at background refreshes. (The records themselves, the
warnings and ``credentials_status()`` are in tests/reliability/test_observability.py.)"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

import ecs_xrole


def test_nothing_is_logged_at_warning_while_all_is_well(
    ecs_xrole_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)  # logging's default, for every logger
    env = ecs_xrole_env
    env.aws.sts_lifetime = 3.0  # the background refresh is due 1.2-1.5 s after the load
    role = env.aws.destination_role_arn
    sts = ecs_xrole.get_client("sts", role)
    assert sts.get_caller_identity()["Account"] == role.split(":")[4]
    deadline = time.monotonic() + 8
    while ecs_xrole.get_credentials(role).status().refreshes < 2:
        assert time.monotonic() < deadline, "no background refresh"
        time.sleep(0.02)
    assert sts.get_caller_identity()["Account"] == role.split(":")[4]
    # This test's own credentials (objects an earlier test left in this process are not
    # this test's to judge; tests/reliability/test_observability.py lists them all).
    assert ecs_xrole.get_credentials(role).status().state == "ok"
    assert caplog.records == []
