"""The endpoints cannot be turned against the task (issue 9, section 5).

* ``ECS_CONTAINER_METADATA_URI_V4`` passes an allow-list (169.254.170.2 and loopback, plain
  http, no query or fragment), and only a task ID of the real shape becomes a session name.
* No fault pattern makes the fetch exceed about 10 requests a second (``Retry-After: 0`` and
  dates in the past used to give a tight loop: 1,691 requests in 1.9 s).
* The token never comes back in an error message, however the endpoint's JSON spells it.
* The credentials ID (a bearer capability for the agent) is shown shortened in exception texts,
  reprs and refresh-failure warnings.

Real loopback servers play the endpoints; requests are counted where they arrive.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from hostile_http import HostileServer, answer, response

from ecs_xrole import _metadata as metadata
from ecs_xrole._endpoint import RELATIVE_URI, Endpoint, credentials_id, detect_endpoint
from ecs_xrole._fetch import MIN_WAIT, fetch_credentials
from ecs_xrole._session import clear_caches, get_task_role_credentials
from ecs_xrole.errors import EndpointRequestError
from ecs_xrole.testing._agent import EndpointServer

TASK_ARN = "arn:aws:ecs:eu-west-1:111122223333:task/prod/0123456789abcdef0123456789abcdef"
METADATA = json.dumps({"TaskARN": TASK_ARN, "Cluster": "prod"}).encode()


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    metadata.clear_cache()
    clear_caches()
    yield
    metadata.clear_cache()
    clear_caches()


# --- ECS_CONTAINER_METADATA_URI_V4 --------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        "http://localhost.:{port}/v4/x",  # a name that resolves to loopback, not the literal
        "http://127.0.0.1:{port}/steal?",  # '?' would make "/task" a query: the path is ours
        "http://127.0.0.1:{port}/steal#",  # '#': the same with a fragment
        "http://127.0.0.1:{port}/v4/x?a=b",
        "https://127.0.0.1:{port}/v4/x",  # the agent serves plain http
        "http://user:pw@127.0.0.1:{port}/v4/x",
    ],
)
def test_a_metadata_uri_outside_the_allow_list_is_never_requested(
    shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    with HostileServer(answer(response(200, METADATA))) as server:
        uri = shape.format(port=server.port)
        assert metadata.task_metadata({metadata.METADATA_URI: uri}, timeout=1) is None
    assert server.heads == []
    assert metadata.METADATA_URI in caplog.text
    assert "is ignored" in caplog.text


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/iam",  # instance metadata
        "http://10.0.0.1/v4/x",
        "http://metadata.internal/v4/x",
        "http://169.254.170.2/v4/x\r\nX-Injected: 1",
    ],
)
def test_metadata_uris_the_allow_list_refuses(uri: str) -> None:
    assert metadata.check_metadata_url(uri) is not None
    assert metadata.task_metadata({metadata.METADATA_URI: uri}, timeout=1) is None


@pytest.mark.parametrize(
    "uri", ["http://169.254.170.2/v4/abc-123", "http://127.0.0.1:51679/v4/x", "http://[::1]:8/v4"]
)
def test_metadata_uris_the_allow_list_accepts(uri: str) -> None:
    assert metadata.check_metadata_url(uri) is None


@pytest.mark.parametrize(
    "task_arn",
    [
        "arn:aws:ecs:eu-west-1:111122223333:task/prod/attacker-chosen-session",
        "arn:aws:ecs:eu-west-1:111122223333:task/prod/" + "a" * 64,
        "arn:aws:ecs:eu-west-1:111122223333:task/prod/0123456789ABCDEF0123456789ABCDEF",
        "arn:aws:ecs:eu-west-1:111122223333:task/prod/0123456789abcdef0123456789abcdef/x",
        "arn:aws:iam::111122223333:role/0123456789abcdef0123456789abcdef",
        "arn:aws:ecs:eu-west-1:1:task/prod/0123456789abcdef0123456789abcdef",
    ],
)
def test_only_a_real_task_id_becomes_the_session_name(
    task_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-7")
    body = json.dumps({"TaskARN": task_arn}).encode()
    with HostileServer(answer(response(200, body))) as server:
        env = {metadata.METADATA_URI: server.url("/v4/abc")}
        assert metadata.default_session_name(env, timeout=1) == "worker-7"
    assert server.requests == 1


@pytest.mark.parametrize(
    ("task_arn", "task_id"),
    [
        (TASK_ARN, "0123456789abcdef0123456789abcdef"),
        (
            "arn:aws:ecs:us-west-2:111122223333:task/1b3e5c7a-0d2f-4a6b-8c9d-0e1f2a3b4c5d",
            "1b3e5c7a-0d2f-4a6b-8c9d-0e1f2a3b4c5d",
        ),
    ],
)
def test_real_task_ids_still_name_the_session(task_arn: str, task_id: str) -> None:
    body = json.dumps({"TaskARN": task_arn}).encode()
    with HostileServer(answer(response(200, body))) as server:
        env = {metadata.METADATA_URI: server.url("/v4/abc")}
        assert metadata.default_session_name(env, timeout=1) == task_id


# --- no tight loop ------------------------------------------------------------------------

PAST = format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True)
FAULTS = {
    "503 Retry-After 0": (
        "status",
        503,
        '{"code":"CredentialsUninitialized"}',
        {"Retry-After": "0"},
    ),
    "429 Retry-After past date": ("status", 429, "Rate exceeded", {"Retry-After": PAST}),
    "429 Retry-After negative": ("status", 429, "Rate exceeded", {"Retry-After": "-5"}),
    "500 no Retry-After": ("status", 500, '{"code":"InternalServerError"}'),
    "reset": "reset",
    "close": "close",
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_no_fault_pattern_exceeds_ten_requests_a_second(fault: str) -> None:
    deadline = 2.0
    with EndpointServer() as server:
        server.queue(*[FAULTS[fault]] * 5000)
        with pytest.raises(EndpointRequestError) as info:
            fetch_credentials(Endpoint(server.url), deadline=deadline)
        requests = server.requests
    # Every wait is at least MIN_WAIT: at most deadline / MIN_WAIT waits, one more request.
    assert requests <= deadline / MIN_WAIT + 1, f"{requests} requests in {deadline} s"
    assert info.value.attempts == requests


@pytest.mark.slow
def test_a_fast_server_answering_retry_after_0_gets_no_tight_loop() -> None:
    # A raw server that answers at once (the EndpointServer takes a few ms per answer): 0.1.0
    # made 582 requests in 1.9 s here.
    deadline = 2.0
    busy = response(503, b'{"code":"CredentialsUninitialized"}', {"Retry-After": "0"})
    with HostileServer(answer(busy)) as server, pytest.raises(EndpointRequestError) as info:
        fetch_credentials(Endpoint(server.url()), deadline=deadline)
    assert server.requests <= deadline / MIN_WAIT + 1, f"{server.requests} requests"
    assert info.value.code == "CredentialsUninitialized"


# --- the token never comes back -----------------------------------------------------------

TOKEN = "tok/en+with/slashes=0123456789abcdefABCDEF"


def escaped(text: str, how: str) -> str:
    if how == "slash":
        return text.replace("/", "\\/")
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


@pytest.mark.parametrize("how", ["slash", "unicode"])
@pytest.mark.parametrize("status", [401, 503])
def test_a_token_echoed_with_json_escapes_is_redacted(
    how: str, status: int, secret_guard: Any
) -> None:
    secret_guard.add(TOKEN)
    spelled = escaped(TOKEN, how)
    body = f'{{"code": "{spelled}", "message": "token {spelled} is not valid"}}'
    with EndpointServer(token=TOKEN) as server:
        server.queue(*[("status", status, body)] * 50)
        with pytest.raises(EndpointRequestError) as info:
            fetch_credentials(detect_endpoint(server.environ()), deadline=0.5)
    err = info.value
    secret_guard.seen(err)
    assert TOKEN not in str(err)
    assert TOKEN not in (err.endpoint_message or "")
    assert TOKEN not in (err.code or "")
    assert "<redacted, 42 characters>" in (err.endpoint_message or "")


# --- the credentials ID is shortened everywhere --------------------------------------------


@pytest.fixture
def ecs_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EndpointServer, str]]:
    """An EndpointServer reached through a relative URI, as ECS sets it (the path holds the ID).

    The relative URI is appended to 169.254.170.2; the server listens on loopback, so the
    endpoint is built with the same path on the server's address."""
    with EndpointServer() as server:
        ident = credentials_id(server.url)
        assert ident is not None
        yield server, ident


def test_the_credentials_id_is_shortened_in_exception_texts(
    ecs_endpoint: tuple[EndpointServer, str], secret_guard: Any
) -> None:
    server, ident = ecs_endpoint
    secret_guard.add(ident)
    endpoint = Endpoint(server.url)
    for fault in (400, 404, 503, ("status", 302, "", {"Location": "/x"})):
        server.queue(*[fault] * 20)
        with pytest.raises(EndpointRequestError) as info:
            fetch_credentials(endpoint, deadline=0.4)
        server.clear_faults()
        err = info.value
        secret_guard.seen(err)
        for text in (str(err), repr(err), repr(vars(err))):
            assert ident not in text
        assert f"/v2/credentials/{ident[:4]}..." in str(err)
    # A relative URI that the rules refuse is quoted shortened too.
    with pytest.raises(Exception) as refused:
        detect_endpoint({RELATIVE_URI: f"v2/credentials/{ident}"})
    secret_guard.seen(refused.value)
    assert ident not in str(refused.value)


def test_the_credentials_id_is_shortened_in_reprs(
    ecs_endpoint: tuple[EndpointServer, str], secret_guard: Any
) -> None:
    server, ident = ecs_endpoint
    secret_guard.add(ident)
    endpoint = Endpoint(server.url)
    credentials = get_task_role_credentials(endpoint=endpoint)
    credentials.get_frozen_credentials()
    for thing in (endpoint, credentials):
        secret_guard.seen(thing)
        assert ident not in repr(thing)
        assert ident not in str(thing)
    assert f"{ident[:4]}..." in repr(credentials)


def test_the_credentials_id_is_shortened_in_refresh_failure_warnings(
    ecs_endpoint: tuple[EndpointServer, str],
    secret_guard: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, ident = ecs_endpoint
    secret_guard.add(ident)
    credentials = get_task_role_credentials(endpoint=Endpoint(server.url))
    credentials.get_frozen_credentials()
    server.queue(400)  # the agent forgot the ID: the refresh fails
    with pytest.raises(EndpointRequestError) as info:
        credentials.force_refresh()
    secret_guard.seen(info.value)
    ours = [r for r in caplog.records if r.name.startswith("ecs_xrole")]
    warnings = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
    assert any("refresh attempt 1 failed" in w for w in warnings), warnings
    for record in ours:  # the warning, and every DEBUG line of the fetch
        assert ident not in record.getMessage()
