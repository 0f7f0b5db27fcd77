"""The secret guard of this suite can fail: it finds a leaked key in logs and in exceptions."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import ecs_xrole


def test_the_guard_knows_the_secrets_in_play(env: Any, secret_guard: Any) -> None:
    creds = ecs_xrole.get_credentials(env.aws.destination_role_arn).get_frozen_credentials()
    task = ecs_xrole.get_task_role_credentials().get_frozen_credentials()
    secrets = secret_guard.secrets()
    for value in (*creds[:3], *task[:3]):
        assert value in secrets  # issued by moto: found without the test registering them


def test_the_guard_fails_on_a_leak_in_a_log_line(secret_guard: Any) -> None:
    from ecs_xrole.errors import Error

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    secret_guard.add(secret)
    logging.getLogger("ecs_xrole.test").debug("leaking %s", secret)
    with pytest.raises(pytest.fail.Exception, match="leaked into log"):
        secret_guard.check(f"DEBUG leaking {secret}")
    error = Error(f"bad {secret[:10]}")  # a prefix alone is no leak
    secret_guard.seen(error)
    secret_guard.check("")
    secret_guard.seen(Error(f"wrapped {secret}"))
    with pytest.raises(pytest.fail.Exception, match="leaked into Error"):
        secret_guard.check("")
    # Leave the guard clean for its own teardown check.
    secret_guard._texts.clear()
    secret_guard._secrets.discard(secret)
