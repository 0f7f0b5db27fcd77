"""The library tells what it does: the log records of each load, refresh and failed attempt,
and ``credentials_status()``, on the loopback stand-ins, with no secret in any of them.

Every test here runs under the reliability suite's ``secret_guard`` (conftest.py): it captures
ecs-xrole's records at DEBUG and fails the test if a key, session token or the endpoint's token
shows in them, or in any status, its ``repr`` or its ``as_dict()`` handed to ``seen``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import ecs_xrole
from ecs_xrole import CredentialsStatus


def until(condition: Callable[[], bool], seconds: float = 8.0) -> None:
    """Wait for ``condition`` (polling), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def status_of(role_arn: str, method: str = "ecs-xrole-assume-role") -> CredentialsStatus:
    """This test's credentials for ``role_arn``: the newest listed (credentials_status() lists
    the oldest first, and objects an earlier test left in this process may still be live)."""
    found = [
        s for s in ecs_xrole.credentials_status() if s.role_arn == role_arn and s.method == method
    ]
    assert found, ecs_xrole.credentials_status()
    return found[-1]


def refresh_records(caplog: Any, level: int) -> list[Any]:
    return [r for r in caplog.records if r.name == "ecs_xrole.refresh" and r.levelno == level]


def show(guard: Any, caplog: Any) -> None:
    """Hand every status (repr, str, JSON form) and every refresh record's attributes (the
    structured fields a JSON log formatter would print) to the secret guard."""
    for status in ecs_xrole.credentials_status():
        guard.seen(status, "CredentialsStatus")
        guard.seen(status.as_dict(), "CredentialsStatus.as_dict()")
    for record in caplog.records:
        if record.name.startswith("ecs_xrole"):
            guard.seen(vars(record), "LogRecord attributes")


def test_one_info_record_per_assume_role_with_role_expiry_time_taken_and_attempt(
    env: Any, caplog: Any, secret_guard: Any
) -> None:
    role = env.aws.destination_role_arn
    creds = ecs_xrole.get_credentials(role)
    infos = refresh_records(caplog, logging.INFO)
    # The task role's first fetch (the source), then the destination's AssumeRole.
    assert [getattr(r, "role_arn", None) for r in infos] == [env.aws.task_role_arn, role]
    record = infos[1]
    assert record.expiry == creds.expiry
    assert record.attempt == 1
    assert isinstance(record.duration, float)
    assert record.duration >= 0
    message = record.getMessage()
    assert message.startswith(f"role {role}: loaded, new expiry ")
    assert creds.expiry is not None
    assert creds.expiry.isoformat().replace("+00:00", "Z") in message
    assert f"took {record.duration:.3f} s, attempt 1" in message
    # Used again: no new record (no AssumeRole was made).
    ecs_xrole.get_client("sts", role).get_caller_identity()
    assert len(refresh_records(caplog, logging.INFO)) == 2
    assert refresh_records(caplog, logging.WARNING) == []
    show(secret_guard, caplog)


def test_one_info_record_per_background_refresh(env: Any, caplog: Any, secret_guard: Any) -> None:
    env.aws.sts_lifetime = 3.0  # the background refresh is due 1.2-1.5 s after the load
    role = env.aws.destination_role_arn
    creds = ecs_xrole.get_credentials(role)
    first_expiry = creds.expiry
    caplog.clear()
    until(lambda: status_of(role).refreshes == 2)
    (record,) = [r for r in refresh_records(caplog, logging.INFO) if r.role_arn == role]
    assert "refreshed" in record.getMessage()
    assert record.attempt == 1
    assert record.expiry == creds.expiry
    assert first_expiry is not None
    assert record.expiry > first_expiry
    assert refresh_records(caplog, logging.WARNING) == []
    show(secret_guard, caplog)


def test_status_and_warnings_through_a_denial_and_the_recovery(
    env: Any, caplog: Any, secret_guard: Any
) -> None:
    """ok -> degraded (the task role lost sts:AssumeRole; the credentials in hand are still
    served) -> ok again; one WARNING per failed attempt with the code and the next attempt."""
    env.aws.sts_lifetime = 6.0  # refresh due 2.4-3 s after the load, mandatory margin 0.6 s
    role = env.aws.destination_role_arn
    creds = ecs_xrole.get_credentials(role)

    before = status_of(role)
    assert before.state == "ok"
    assert (before.refreshes, before.failures, before.consecutive_failures) == (1, 0, 0)
    assert before.last_error is None
    assert before.last_error_code is None
    assert before.failing_since is None
    assert before.expiry == creds.expiry
    assert before.account_id == role.split(":")[4]
    assert before.next_refresh is not None
    assert before.expires_in is not None
    assert before.expires_in > 0
    assert before.description == f"role {role}"
    # The task role's own credentials are a shared object too: reported with their role.
    task = status_of(env.aws.task_role_arn, method="ecs-xrole-container")
    assert task.state == "ok"
    assert task.refreshes == 1
    assert task.description.startswith("task role credentials from http://127.0.0.1:")

    caplog.clear()
    env.aws.remove_identity_policy()
    until(lambda: status_of(role).failures >= 1)
    during = status_of(role)
    assert during.state == "degraded"
    assert during.last_error == "AssumeRoleDeniedError"
    assert during.last_error_code == "AccessDenied"
    assert during.failing_since is not None
    assert during.last_error_at is not None
    assert during.last_error_at >= during.failing_since
    assert during.consecutive_failures == during.failures >= 1
    assert during.refreshes == 1
    assert during.expiry == before.expiry  # still serving the credentials in hand
    assert creds.get_frozen_credentials() is not None

    warning = refresh_records(caplog, logging.WARNING)[0]
    assert warning.role_arn == role
    assert warning.error_type == "AssumeRoleDeniedError"
    assert warning.error_code == "AccessDenied"
    assert warning.attempt == 1
    assert isinstance(warning.next_attempt, datetime)
    assert warning.next_attempt.timestamp() > warning.created
    message = warning.getMessage()
    assert message.startswith(
        f"role {role}: refresh attempt 1 failed (AssumeRoleDeniedError, code AccessDenied): "
    )
    assert "still serving the current credentials, valid until " in message
    assert warning.next_attempt.isoformat().replace("+00:00", "Z") in message

    env.aws.restore_identity_policy()
    until(lambda: status_of(role).state == "ok")
    after = status_of(role)
    assert after.refreshes == 2
    assert after.consecutive_failures == 0
    assert after.failing_since is None
    # The last error is kept after the recovery, with its time: "when did it last fail, why".
    assert after.failures >= during.failures
    assert after.last_error == "AssumeRoleDeniedError"
    assert after.last_error_code == "AccessDenied"
    assert after.last_error_at is not None
    assert after.last_refresh is not None
    assert after.last_error_at <= after.last_refresh
    assert creds.expiry is not None
    assert before.expiry is not None
    assert creds.expiry > before.expiry
    failed = refresh_records(caplog, logging.WARNING)
    failed = [r for r in failed if getattr(r, "error_code", None)]
    assert len(failed) == after.failures  # one WARNING per failed attempt
    assert [r.attempt for r in failed] == list(range(1, after.failures + 1))
    (recovered,) = [r for r in refresh_records(caplog, logging.INFO) if r.role_arn == role]
    assert recovered.attempt == after.failures + 1
    show(secret_guard, caplog)


def test_a_role_that_never_loaded_is_failing_and_says_why(
    env: Any, caplog: Any, secret_guard: Any
) -> None:
    role = env.aws.untrusting_role_arn
    try:
        ecs_xrole.get_credentials(role)
    except ecs_xrole.AssumeRoleError as exc:
        secret_guard.seen(exc)
    else:  # pragma: no cover - the stand-in's trust policy denies it
        raise AssertionError("AssumeRole of the untrusting role succeeded")
    status = status_of(role)
    assert status.state == "failing"
    assert status.expiry is None
    assert status.expires_in is None
    assert status.last_error_code == "AccessDenied"
    assert (status.refreshes, status.failures) == (0, 1)
    # The caller got the error itself: the record is INFO, so that a CLI's stderr (which
    # shows WARNING records) says it once, and nothing at WARNING.
    assert refresh_records(caplog, logging.WARNING) == []
    (failed,) = [r for r in refresh_records(caplog, logging.INFO) if "failed" in r.getMessage()]
    assert failed.error_code == "AccessDenied"
    assert "first load attempt 1 failed" in failed.getMessage()
    assert "no credentials to serve yet" in failed.getMessage()
    assert "next attempt at the next call, not before " in failed.getMessage()
    assert status.as_dict()["last_error_code"] == "AccessDenied"
    show(secret_guard, caplog)
