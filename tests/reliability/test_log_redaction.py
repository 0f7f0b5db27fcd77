"""Secrets never reach a log, at any verbosity: the attacker reads every log record.

The application here turns DEBUG on for the root logger, as ``logging.basicConfig(
level=logging.DEBUG)`` does, and keeps every record of every logger while ecs-xrole fetches
the task role's credentials, assumes the destination role and signs calls with both; the
command-line tool runs with ``-vv`` as a subprocess. No record may hold a secret key, a
session token, an access key ID in full, the endpoint's authorization token or the
credentials ID of the endpoint URL, and the records must still say what happened.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole._redaction import redact_text
from ecs_xrole._session import get_task_role_session
from ecs_xrole.errors import AssumeRoleError


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        """What any handler or formatter could make of each record: the formatted text,
        exception and stack included, and every attribute."""
        out = []
        for record in self.records:
            out.append(self.format(record))
            out.append(repr(vars(record)))
        return out


@pytest.fixture
def every_record() -> Iterator[_Keep]:
    root = logging.getLogger()
    keep = _Keep()
    level = root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)  # what logging.basicConfig(level=logging.DEBUG) does
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        root.setLevel(level)


def _secrets(env: Any, secret_guard: Any) -> dict[str, str]:
    """Every secret in play, by what it is: moto's issued keys and tokens (task role and
    destination), the endpoint's token and its credentials ID."""
    found = {f"issued-{i}": s for i, s in enumerate(sorted(secret_guard.secrets()))}
    found["authorization token"] = env.token
    found["credentials ID"] = env.endpoint.path.rsplit("/", 1)[1]
    return found


def _assert_clean(texts: list[str], secrets: dict[str, str]) -> None:
    for text in texts:
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} leaked into a log record: {text[:300]}"


def test_an_application_logging_at_debug_sees_no_secret(
    env: Any, secret_guard: Any, every_record: _Keep
) -> None:
    # fetch, assume, sign: through every entry point an application uses
    task = ecs_xrole.fetch_credentials()
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert sts.get_caller_identity()["Account"] == "555566667777"
    session = ecs_xrole.get_session(env.aws.destination_role_arn, role_session_name="debugging")
    session.client("sts").get_caller_identity()
    ecs_xrole.get_credentials(env.aws.destination_role_arn).force_refresh()
    get_task_role_session().client("sts").get_caller_identity()
    env.aws.queue_sts_faults("AccessDenied")
    with pytest.raises(AssumeRoleError):
        ecs_xrole.get_credentials(env.aws.destination_role_arn, external_id="denied-once")

    secret_guard.add_credentials(task)
    secrets = _secrets(env, secret_guard)
    texts = every_record.texts()
    assert len(secrets) >= 8  # two sets of task-role and destination credentials at least
    _assert_clean(texts, secrets)
    # ... and the records still say which call went where, with which status.
    joined = "\n".join(texts)
    assert "OperationModel(name=AssumeRole)" in joined
    shown_id = env.endpoint.path.rsplit("/", 1)[1][:4]
    assert f'"GET /v2/credentials/{shown_id}... HTTP/1.1" 200' in joined
    assert "'X-Amz-Security-Token': b'<redacted, " in joined
    assert "<SecretAccessKey><redacted, 40 characters></SecretAccessKey>" in joined
    assert f"Credential={task.access_key_id[:4]}...{task.access_key_id[-4:]}/" in joined


def test_records_logged_with_exceptions_are_clean(
    env: Any, secret_guard: Any, every_record: _Keep
) -> None:
    """A record carrying exc_info is rendered and redacted before any handler sees it."""
    creds = ecs_xrole.get_credentials(env.aws.destination_role_arn).get_frozen_credentials()
    logger = logging.getLogger("botocore.endpoint")
    try:
        raise RuntimeError(f"signing failed with token={creds.token}")
    except RuntimeError:
        logger.debug("Exception received when sending HTTP request.", exc_info=True)
    record = every_record.records[-1]
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "RuntimeError: signing failed with token=<redacted, " in record.exc_text
    _assert_clean(every_record.texts(), _secrets(env, secret_guard))


@pytest.mark.parametrize(
    ("command", "stdout_has_secrets"),
    [
        pytest.param(["whoami"], False, id="whoami"),
        pytest.param(["doctor", "--timeout", "3"], False, id="doctor"),
        pytest.param(["credential-process"], True, id="credential-process"),
    ],
)
def test_the_cli_at_debug_prints_no_secret(
    env: Any, secret_guard: Any, command: list[str], stdout_has_secrets: bool
) -> None:
    argv = [sys.executable, "-m", "ecs_xrole", "-vv", *command]
    argv += ["--role-arn", env.aws.destination_role_arn]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=9, env=dict(os.environ), check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    secrets = _secrets(env, secret_guard)  # now holds what moto issued to the subprocess
    _assert_clean([done.stderr], secrets)
    if stdout_has_secrets:
        # The one contract that prints them: the destination keys, and nothing else.
        assert '"SecretAccessKey"' in done.stdout
        _assert_clean([done.stdout], {"authorization token": env.token})
    else:
        _assert_clean([done.stdout], secrets)
    assert "DEBUG" in done.stderr  # -vv did turn botocore's and urllib3's DEBUG on
    assert "AssumeRole" in done.stderr


@pytest.mark.parametrize(
    ("text", "kept", "hidden"),
    [
        pytest.param(
            "x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN1234\nhost:sts",
            "x-amz-security-token:<redacted, 28 characters>\nhost:sts",
            "FQoGZXIvYXdzEXAMPLETOKEN1234",
            id="canonical-request",
        ),
        pytest.param(
            '{"AccessKeyId": "ASIAEXAMPLEEXAMPLE12", "Token": "abc\\/def+ghi=="}',
            '"AccessKeyId": "ASIA...LE12"',
            "abc\\/def+ghi==",
            id="ecs-json-escaped",
        ),
        pytest.param(
            "https://s3.amazonaws.com/b/k?X-Amz-Security-Token=FQo%2Fsecret%3D&X-Amz-Date=1",
            "X-Amz-Security-Token=<redacted, 15 characters>&X-Amz-Date=1",
            "FQo%2Fsecret%3D",
            id="presigned-query",
        ),
        pytest.param(
            "{'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig'}",
            "{'Authorization': '<redacted, ",
            "eyJhbGciOiJIUzI1NiJ9",
            id="bearer-authorization",
        ),
        pytest.param(
            "ReadOnlyCredentials(access_key='AKIAEXAMPLEEXAMPLE12', secret_key='wJalrXUtnFEMI"
            "/K7MDENG/bPxRfiCYEXAMPLEKEY', token=None)",
            "access_key='AKIA...LE12', secret_key='<redacted, 40 characters>', token=None",
            "wJalrXUtnFEMI",
            id="botocore-repr",
        ),
        pytest.param(
            "GET http://169.254.170.2/v2/credentials/0f1e2d3c-aaaa-bbbb HTTP/1.1",
            "GET http://169.254.170.2/v2/credentials/0f1e... HTTP/1.1",
            "0f1e2d3c",
            id="credentials-id",
        ),
        pytest.param(
            "GET http://169.254.170.2/v2/credentials/0f1e... HTTP/1.1",
            "GET http://169.254.170.2/v2/credentials/0f1e... HTTP/1.1",
            "\0",
            id="credentials-id-already-shortened",
        ),
        pytest.param(
            "<NextToken>page-2-of-9-token</NextToken><ClientToken>idem-123456789</ClientToken>",
            "<NextToken>page-2-of-9-token</NextToken><ClientToken>idem-123456789</ClientToken>",
            "\0",
            id="not-secrets-kept",
        ),
    ],
)
def test_redaction_by_shape(text: str, kept: str, hidden: str) -> None:
    redacted = redact_text(text)
    assert kept in redacted
    assert hidden not in redacted
