"""Every deadline is a wall-clock deadline, whatever the server does (issue 9, section 2).

urllib3's timeouts bound each socket operation: a server that sends a byte every half second
never trips a 2 s (or 1 s) read timeout, and before the watchdog a drip-fed answer held
``fetch_credentials`` (and the refresh lock with it) for as long as the server liked. Here real
loopback servers drip-feed the status line, the headers or the body, or say nothing, to the
three places that make a request: the credentials fetch, the task metadata request and
doctor's probe. Each must end by its deadline plus a small margin (the promise itself, not a
speed measurement). A token file that is a FIFO or a device must be refused without blocking.

The calls run on a helper thread joined with a bound, so that code that does hang fails the
test cleanly instead of tripping pytest-timeout.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile_http import HostileServer, drip, endless_body, response, silent

from ecs_xrole import _metadata as metadata
from ecs_xrole._endpoint import Endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole._http import MAX_BODY
from ecs_xrole._session import clear_caches, get_task_role_credentials
from ecs_xrole.cli.doctor.context import DoctorContext
from ecs_xrole.cli.doctor.endpoint import check_endpoint_reachable
from ecs_xrole.errors import EndpointRequestError, TokenError

#: What "by the deadline" allows on top of it: thread wake-ups on a loaded 2-core machine.
MARGIN = 1.0
#: How long a helper thread may run before the test calls it a hang.
HANG = 6.5
#: fetch_credentials' default deadline, what a refresh uses.
FETCH_DEADLINE = inspect.signature(fetch_credentials).parameters["deadline"].default

ANSWER = response()
STATUS_LINE_END = ANSWER.index(b"\r\n") + 2
HEADERS_END = ANSWER.index(b"\r\n\r\n") + 4

# Where the drip starts: in the status line, in the headers, in the body.
DRIPS = {
    "status-line": drip(ANSWER, after=5),
    "headers": drip(ANSWER, after=STATUS_LINE_END + 3),
    "body": drip(ANSWER, after=HEADERS_END + 3),
    "silent": silent,
}


def bounded(call: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``call`` on a thread; return (seconds it took, its result or exception).

    Fails the test if it is still running after ``HANG`` seconds."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(HANG)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        pytest.fail(f"still running after {elapsed:.1f} s: the deadline did not hold")
    return elapsed, outcome[0]


@pytest.fixture(autouse=True)
def _fresh_metadata() -> Any:
    metadata.clear_cache()
    yield
    metadata.clear_cache()


@pytest.mark.slow
@pytest.mark.parametrize("where", sorted(DRIPS))
def test_fetch_credentials_ends_by_its_deadline(where: str) -> None:
    with HostileServer(DRIPS[where]) as server:
        endpoint = Endpoint(server.url())
        elapsed, outcome = bounded(lambda: fetch_credentials(endpoint, deadline=2))
    assert isinstance(outcome, EndpointRequestError), outcome
    assert outcome.status is None
    assert "deadline 2 s" in str(outcome)
    assert elapsed < 2 + MARGIN, f"ended after {elapsed:.2f} s"
    assert server.requests >= 1


@pytest.mark.slow
def test_a_refresh_against_a_drip_feeding_endpoint_frees_its_lock() -> None:
    # The refresh holds the credentials object's lock while it fetches: a second caller waits
    # on it. Both must get their answer (an error) by the fetch's default deadline.
    with HostileServer(DRIPS["body"]) as server:
        credentials = get_task_role_credentials(endpoint=Endpoint(server.url()))
        try:
            first = threading.Thread(target=lambda: bounded(credentials.get_frozen_credentials))
            first.start()
            time.sleep(0.2)  # let the first caller take the lock
            elapsed, outcome = bounded(credentials.get_frozen_credentials)
            first.join(HANG)
        finally:
            clear_caches()
    assert isinstance(outcome, EndpointRequestError), outcome
    assert elapsed < FETCH_DEADLINE + MARGIN, f"the waiting caller waited {elapsed:.2f} s"


@pytest.mark.slow
@pytest.mark.parametrize("where", sorted(DRIPS))
def test_task_metadata_ends_by_its_timeout(where: str) -> None:
    with HostileServer(DRIPS[where]) as server:
        env = {metadata.METADATA_URI: server.url("/v4/abc")}
        elapsed, outcome = bounded(lambda: metadata.task_metadata(env, timeout=1))
    assert outcome is None
    assert server.requests == 1
    assert elapsed < 1 + MARGIN, f"ended after {elapsed:.2f} s"


@pytest.mark.slow
@pytest.mark.parametrize("where", sorted(DRIPS))
def test_doctor_probe_ends_by_its_timeout(where: str) -> None:
    with HostileServer(DRIPS[where]) as server:
        ctx = DoctorContext(timeout=2)
        ctx.endpoint = Endpoint(server.url())
        elapsed, outcome = bounded(lambda: check_endpoint_reachable(ctx))
    assert outcome.ok is False, outcome
    assert "did not answer within 2 s" in outcome.detail
    assert elapsed < 2 + MARGIN, f"ended after {elapsed:.2f} s"


def test_doctor_probe_reads_no_more_than_the_size_limit() -> None:
    # A 200 whose body never ends, sent as fast as it is read: before, urllib read it until
    # the per-read timeout, which never came.
    with HostileServer(endless_body) as server:
        ctx = DoctorContext(timeout=2)
        ctx.endpoint = Endpoint(server.url())
        _, outcome = bounded(lambda: check_endpoint_reachable(ctx))
    assert outcome.ok is True, outcome
    assert f"with a body over {MAX_BODY} bytes (not read)" in outcome.detail
    assert ctx.probe_status == 200


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_token_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    endpoint = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(fifo))
    try:
        _, outcome = bounded(endpoint.authorization)
    finally:
        # Release a reader that did block (before the fix): open and close the write end.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(outcome, TokenError), outcome
    assert "is a FIFO (named pipe), not a regular file" in str(outcome)
    assert str(fifo) in str(outcome)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_as_token_file_is_refused_unread() -> None:
    endpoint = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file="/dev/zero")
    _, outcome = bounded(endpoint.authorization)
    assert isinstance(outcome, TokenError), outcome
    assert "is a character device, not a regular file" in str(outcome)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fetch_with_a_fifo_token_file_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    with HostileServer(silent) as server:
        endpoint = Endpoint(server.url(), auth="token_file", token_file=str(fifo))
        try:
            _, outcome = bounded(lambda: fetch_credentials(endpoint, deadline=2))
        finally:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(outcome, TokenError), outcome
    assert server.requests == 0  # refused before any request
