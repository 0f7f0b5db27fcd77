"""``ecs-xrole doctor`` against an endpoint that tries to use it (issue 9, sections 3 and 6).

doctor's probe used ``urllib.request``, which follows a redirect to any host and sends the
``Authorization`` token along; and it printed what the endpoint said (the RoleArn, error
messages) with control characters intact, so an endpoint could recolour the terminal or forge
report lines. Real loopback servers play the endpoint; doctor runs as the command does.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_http import HostileServer, answer, response

from ecs_xrole import _metadata as metadata
from ecs_xrole import cli
from ecs_xrole._endpoint import FULL_URI, RELATIVE_URI, TOKEN, TOKEN_FILE
from ecs_xrole.testing._agent import EndpointServer
from ecs_xrole.testing._agent_http import fake_credentials

TOKEN_VALUE = "doctor-token-never-leaves-0123456789"
FORGED = "PASS  destination-identity  forged by the endpoint"


@pytest.fixture
def task_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A clean slate: no endpoint variables, STS on a closed loopback port (no network)."""
    for name in (RELATIVE_URI, FULL_URI, TOKEN, TOKEN_FILE, metadata.METADATA_URI, "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as closed:  # a port nobody listens on: STS calls fail at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    metadata.clear_cache()
    yield
    metadata.clear_cache()


def run_doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = cli.main(["doctor", "--timeout", "2", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_doctor_follows_no_redirect(
    task_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret_guard: Any,
    status: int,
) -> None:
    secret_guard.add(TOKEN_VALUE)
    # The token's thief listens on another loopback address; the allowed endpoint sends the
    # client there.
    with HostileServer(answer(response(200)), host="127.0.0.2") as thief:
        to_thief = response(status, b"", {"Location": thief.url("/steal")})
        with HostileServer(answer(to_thief)) as endpoint:
            monkeypatch.setenv(FULL_URI, endpoint.url())
            monkeypatch.setenv(TOKEN, TOKEN_VALUE)
            code, out = run_doctor(capsys)
        assert thief.heads == [], "a request reached the redirect's target"
        assert endpoint.requests >= 2  # the probe, and the library's own fetch
        for head in endpoint.heads:
            assert TOKEN_VALUE.encode() in head  # the real endpoint did get it
    assert code == 1
    assert f"answered HTTP {status} in" in out
    assert "not followed" in out
    assert "redirects are not followed" in out  # task-role-credentials fails, saying why


def test_doctor_escapes_what_the_endpoint_sends(
    task_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ESC (ANSI colours, screen clearing), C1 CSI, a line separator, a bidi override and a
    # newline that would start a forged PASS line.
    role = "arn:aws:iam::111122223333:role/x\x1b[2J\x1b[32m\u202e\x9b1m\u2028\n" + FORGED
    with EndpointServer(fake_credentials(role_arn=role)) as server:
        monkeypatch.setenv(FULL_URI, server.url)
        _, out = run_doctor(capsys)
    assert "task-role-credentials" in out
    for bad in ("\x1b", "\x9b", "\u202e", "\u2028"):
        assert bad not in out, f"{bad!r} reached the terminal"
    assert not any(
        line.startswith("PASS  destination-identity  forged") for line in out.split("\n")
    )
    assert "\\x1b[2J" in out  # shown, as escapes
    assert "\\n" + FORGED in out


def test_doctor_escapes_the_endpoints_error_message(
    task_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = "Credentials not found\u2028" + FORGED + "\x9b2J\u2029\x85\u202e"
    body = json.dumps({"code": "InvalidIdInRequest", "message": message})
    with EndpointServer() as server:
        server.queue(*[("status", 400, body)] * 2)  # the probe, then the fetch
        monkeypatch.setenv(FULL_URI, server.url)
        code, out = run_doctor(capsys)
    assert code == 1
    assert "InvalidIdInRequest" in out  # the message is still shown...
    for bad in ("\x9b", "\u2028", "\u2029", "\x85", "\u202e"):
        assert bad not in out, f"{bad!r} reached the terminal"  # ...without its controls
    assert not any(line.startswith("PASS  destination-identity") for line in out.splitlines())


def test_doctor_json_output_escapes_too(
    task_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    role = "arn:aws:iam::111122223333:role/x\x1b[2J\n" + FORGED
    with EndpointServer(fake_credentials(role_arn=role)) as server:
        monkeypatch.setenv(FULL_URI, server.url)
        _, out = run_doctor(capsys, "--json")
    assert "\x1b" not in out
    results = json.loads(out[out.index("[") :])
    detail = next(r["detail"] for r in results if r["check"] == "task-role-credentials")
    assert "\x1b[2J\n" + FORGED in detail  # JSON keeps the value, escaped by the encoder
