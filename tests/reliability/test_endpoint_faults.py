"""Faults of the container credentials endpoint, at start-up and during a background refresh.

Each fault ends either in success within the fetch deadline or in a typed ecs-xrole error that
names the cause; no caller waits past the deadline. Real HTTP on loopback throughout: the
EndpointServer acts out the faults, moto plays STS.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole import _session as session_module
from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._endpoint import Endpoint
from ecs_xrole.errors import (
    CredentialsUnavailableError,
    EndpointRequestError,
    EndpointResponseError,
    Error,
)
from ecs_xrole.testing._agent import EndpointServer
from ecs_xrole.testing._agent_http import fake_credentials

DESTINATION = "555566667777"
#: fetch_credentials' default deadline, which the sessions layer uses.
DEADLINE = 5.0
#: Room for scheduling on a loaded machine; a deadline bound, not a speed claim.
MARGIN = 1.5
RETRY_AFTER_429 = ("status", 429, "Rate exceeded", {"Retry-After": "1"})


def timed(call: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    began = time.monotonic()
    try:
        return call(), None, time.monotonic() - began
    except Exception as exc:
        return None, exc, time.monotonic() - began


def assert_works(env: Any) -> None:
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert sts.get_caller_identity()["Account"] == DESTINATION


# -- start-up ---------------------------------------------------------------------------------


def test_credentials_uninitialized_for_the_first_seconds_then_success(
    env: Any, secret_guard: Any
) -> None:
    """An agent that has just restarted answers 503 CredentialsUninitialized for a while."""
    env.endpoint.queue(*[503] * 500)
    timer = threading.Timer(1.2, env.endpoint.clear_faults)
    timer.start()
    try:
        creds, error, elapsed = timed(
            lambda: ecs_xrole.get_credentials(env.aws.destination_role_arn)
        )
    finally:
        timer.cancel()
    assert error is None, error
    assert 1.1 <= elapsed < DEADLINE + MARGIN
    assert env.endpoint.requests > 1
    assert env.endpoint.served == 1
    assert env.aws.assume_role_calls == 1
    secret_guard.seen(creds)
    assert_works(env)


@pytest.mark.parametrize(
    ("faults", "at_least", "requests"),
    [
        pytest.param([429] * 3, 0.0, 4, id="429-burst-plain-text"),
        pytest.param([RETRY_AFTER_429, 429], 1.0, 3, id="429-burst-with-retry-after"),
        pytest.param(["reset"] * 3, 0.0, 4, id="resets"),
        # A hang shorter than the read timeout is waited for, then answered.
        pytest.param([500, "close", ("hang", 0.5)], 0.5, 3, id="500-close-short-hang"),
    ],
)
def test_transient_faults_at_start_up_end_in_success(
    env: Any, secret_guard: Any, faults: list[Any], at_least: float, requests: int
) -> None:
    env.endpoint.queue(*faults)
    creds, error, elapsed = timed(lambda: ecs_xrole.get_credentials(env.aws.destination_role_arn))
    assert error is None, error
    assert at_least <= elapsed < DEADLINE + MARGIN  # Retry-After is honoured, the deadline kept
    assert env.endpoint.requests == requests
    assert env.endpoint.served == 1
    secret_guard.seen(creds)
    assert_works(env)


def _expired(env: Any) -> None:
    env.endpoint.lifetime = -60


@pytest.mark.parametrize(
    ("arrange", "error_type", "says"),
    [
        pytest.param(
            lambda env: env.endpoint.queue("garbage"), EndpointResponseError, "not JSON", id="html"
        ),
        pytest.param(_expired, EndpointResponseError, "expired", id="expired-credentials"),
        pytest.param(
            lambda env: env.endpoint.queue(400),
            EndpointRequestError,
            "Credentials not found",
            id="credentials-not-found",
        ),
    ],
)
def test_unusable_answers_fail_at_once_with_the_cause(
    env: Any,
    secret_guard: Any,
    arrange: Callable[[Any], None],
    error_type: type[Error],
    says: str,
) -> None:
    """Retrying cannot fix these: one request, a typed error, no AssumeRole."""
    arrange(env)
    _, error, elapsed = timed(lambda: ecs_xrole.get_credentials(env.aws.destination_role_arn))
    assert isinstance(error, error_type), error
    secret_guard.seen(error)
    assert says in str(error)
    assert error.fix
    assert elapsed < MARGIN
    assert env.endpoint.requests == 1
    assert env.aws.assume_role_calls == 0


def test_a_failed_start_is_not_retried_by_every_call_and_recovers(
    env: Any, secret_guard: Any
) -> None:
    env.endpoint.queue("garbage")
    errors = []
    for _ in range(20):  # a hot loop right after the failure: the endpoint is not hammered
        _, error, _ = timed(lambda: ecs_xrole.get_credentials(env.aws.destination_role_arn))
        errors.append(error)
    assert all(isinstance(e, EndpointResponseError) for e in errors)
    secret_guard.seen_all(errors)
    assert env.endpoint.requests == 1
    deadline = time.monotonic() + 4
    while True:  # once the retry interval (1 s) has passed, the next call tries again
        _, error, _ = timed(lambda: ecs_xrole.get_credentials(env.aws.destination_role_arn))
        if error is None:
            break
        secret_guard.seen(error)
        assert time.monotonic() < deadline, error
        time.sleep(0.1)
    assert env.endpoint.requests == 2
    assert_works(env)


def test_eight_threads_on_a_hanging_endpoint_are_released_by_the_deadline(
    env: Any, secret_guard: Any
) -> None:
    env.endpoint.delay = DEADLINE + 2  # every answer comes after the deadline
    role = env.aws.destination_role_arn
    barrier = threading.Barrier(8)
    results: list[tuple[Any, BaseException | None, float]] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        result = timed(lambda: ecs_xrole.get_credentials(role))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join(DEADLINE + MARGIN + 1)
    finally:
        env.endpoint.stop()  # wakes the handlers still sleeping (the fixture restarts it)
    assert not any(t.is_alive() for t in threads), "a thread blocked past the deadline"
    assert len(results) == 8
    errors = [error for _, error, _ in results]
    for _, error, elapsed in results:
        assert isinstance(error, EndpointRequestError), error
        assert elapsed <= DEADLINE + MARGIN
    first = errors[0]
    assert isinstance(first, EndpointRequestError)
    secret_guard.seen(first)
    assert "read timed out" in str(first)
    assert "deadline" in str(first)
    assert first.status is None
    # One fetch for all eight: the others got its error instead of queueing fetches of their own.
    assert all(error is first for error in errors)
    assert env.endpoint.requests == first.attempts
    assert env.aws.assume_role_calls == 0


# -- during a background refresh ----------------------------------------------------------------


@pytest.fixture
def precise_endpoint(secret_guard: Any) -> Iterator[tuple[EndpointServer, Endpoint]]:
    """An EndpointServer of its own, shaped like EKS Pod Identity so that ``Expiration`` has
    sub-second precision, recording every credential set it serves as a secret."""

    def source() -> TemporaryCredentials:
        creds = fake_credentials()
        secret_guard.add_credentials(creds)
        return creds

    token = "refresh-test-token-0123456789"
    secret_guard.add(token)
    with EndpointServer(source, token=token, shape="pod-identity") as server:
        endpoint = Endpoint(server.url, auth="token", token=token, source="explicit")
        try:
            yield server, endpoint
        finally:
            # Drop the credentials while the server still answers, so that no background
            # refresh of them outlives the test (retrying a stopped server for seconds).
            session_module.clear_caches()
            gc.collect()


def test_faults_during_the_task_roles_refresh_never_reach_callers(
    precise_endpoint: tuple[EndpointServer, Endpoint], secret_guard: Any, caplog: Any
) -> None:
    """The task role's credentials live 6 s, so the background refresh is due after 2.4-3 s. It
    meets every fault in turn: 503, reset, 429 with Retry-After (retried within one fetch), then
    HTML and expired credentials (each fails one background attempt). Callers keep getting the
    credentials in hand; the refresh succeeds once the faults are spent."""
    server, endpoint = precise_endpoint
    server.lifetime = 6.0
    creds = session_module.get_task_role_credentials(endpoint=endpoint)
    first = creds.get_frozen_credentials()
    assert creds.expiry is not None
    mandatory_at = creds.expiry.timestamp() - 0.6  # a tenth of the lifetime
    expired = {
        "AccessKeyId": "ASIAEXPIREDEXPIRED00",
        "SecretAccessKey": "expired/secret/key/0123456789abcdefghijk",
        "Token": "expired-session-token-" + "e" * 100,
        "Expiration": "2020-01-01T00:00:00Z",
    }
    secret_guard.add_credentials(expired)
    faults: list[Any] = [
        503,
        "reset",
        ("status", 429, "Rate exceeded", {"Retry-After": "0.2"}),
        "garbage",
        ("json", expired),
    ]
    server.queue(*faults)
    failures: list[tuple[float, BaseException]] = []
    deadline = time.monotonic() + 9
    while True:
        try:
            now = creds.get_frozen_credentials()
        except Error as exc:  # allowed only inside the mandatory margin: see below
            failures.append((time.time(), exc))
            now = first
        if now != first:
            break
        assert time.monotonic() < deadline, "the refresh never succeeded"
        time.sleep(0.02)
    secret_guard.seen_all(error for _, error in failures)
    # No caller saw an error while the credentials in hand were outside the mandatory margin
    # (on a loaded machine the faults may outlast it: then the error is the typed one).
    for when, error in failures:
        assert when >= mandatory_at
        assert isinstance(error, CredentialsUnavailableError)
    assert server.pending_faults == 0
    assert server.requests == server.served + len(faults)
    assert creds.failing_since is None
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "attempt" in r.message]
    # One warning per failed attempt, numbered, each with the code and the next attempt.
    status = creds.status()
    assert len(warnings) == status.failures > 0
    assert [getattr(r, "attempt", None) for r in warnings] == list(range(1, status.failures + 1))
    assert all("next attempt at" in r.message for r in warnings)
    assert "still serving" in warnings[0].message
    assert status.state == "ok"
    assert status.consecutive_failures == 0
    assert any("refreshed again" in r.message for r in caplog.records)
