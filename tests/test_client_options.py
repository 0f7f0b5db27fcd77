"""get_client's client parameters (config, endpoint_url, verify, use_ssl, api_version), on the
loopback stand-ins: equal parameters share a client, a Config is compared by its settings, the
user's settings are kept and honoured, an endpoint_url is where requests go."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

import ecs_xrole
from ecs_xrole.errors import InvalidInputError

DESTINATION = "555566667777"
_ERROR = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Receiver'
    b"</Type><Code>InternalFailure</Code><Message>always failing</Message></Error>"
    b"<RequestId>0</RequestId></ErrorResponse>"
)


class FailingSTS:
    """A loopback server answering every request with HTTP 500 InternalFailure, counting them
    and keeping their User-Agent headers."""

    def __init__(self) -> None:
        self.requests = 0
        self.user_agents: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.requests += 1
                owner.user_agents.append(self.headers.get("User-Agent", ""))
                self.send_response(500)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(_ERROR)))
                self.end_headers()
                self.wfile.write(_ERROR)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def env(ecs_xrole_env: Any) -> Any:
    """The stack with its environment applied, knobs and counters reset, caches cleared."""
    return ecs_xrole_env


@pytest.fixture
def failing_sts() -> Iterator[FailingSTS]:
    server = FailingSTS()
    yield server
    server.close()


def test_equal_configs_share_a_client_and_different_ones_do_not(env: Any) -> None:
    role = env.aws.destination_role_arn
    plain = ecs_xrole.get_client("sts", role)
    fifty = ecs_xrole.get_client("sts", role, config=Config(max_pool_connections=50))
    assert fifty is ecs_xrole.get_client("sts", role, config=Config(max_pool_connections=50))
    assert fifty is not plain
    assert fifty is not ecs_xrole.get_client("sts", role, config=Config(max_pool_connections=51))
    retries = Config(retries={"mode": "standard", "total_max_attempts": 2})
    same_retries = Config(retries={"mode": "standard", "total_max_attempts": 2})
    assert ecs_xrole.get_client("sts", role, config=retries) is ecs_xrole.get_client(
        "sts", role, config=same_retries
    )
    assert fifty.meta.config.max_pool_connections == 50
    assert isinstance(fifty, BaseClient)
    assert fifty.get_caller_identity()["Account"] == DESTINATION
    assert env.aws.assume_role_calls == 1  # every client shares the one credentials object


def test_retries_in_the_users_config_are_honoured(env: Any, failing_sts: FailingSTS) -> None:
    role = env.aws.destination_role_arn
    for attempts in (1, 3):
        failing_sts.requests = 0
        client = ecs_xrole.get_client(
            "sts",
            role,
            endpoint_url=failing_sts.url,
            config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
        )
        with pytest.raises(ClientError, match="InternalFailure"):
            client.get_caller_identity()
        assert failing_sts.requests == attempts


def test_endpoint_url_is_used_and_the_user_agent_keeps_both_parts(
    env: Any, failing_sts: FailingSTS
) -> None:
    role = env.aws.destination_role_arn
    client = ecs_xrole.get_client(
        "sts",
        role,
        endpoint_url=failing_sts.url,
        config=Config(user_agent_extra="my-app/1.2", retries={"total_max_attempts": 1}),
    )
    assert client.meta.endpoint_url == failing_sts.url
    with pytest.raises(ClientError):
        client.get_caller_identity()
    assert failing_sts.requests == 1
    assert "my-app/1.2" in failing_sts.user_agents[0]
    assert "ecs-xrole/" in failing_sts.user_agents[0]
    # Without an endpoint_url the client goes where it did before (moto, via AWS_ENDPOINT_URL).
    other = ecs_xrole.get_client("sts", role)
    assert other.meta.endpoint_url != failing_sts.url
    assert other.get_caller_identity()["Account"] == DESTINATION


def test_verify_use_ssl_and_api_version_reach_the_client(env: Any) -> None:
    role = env.aws.destination_role_arn
    client = ecs_xrole.get_client("sts", role, api_version="2011-06-15", verify=False)
    assert client.meta.service_model.api_version == "2011-06-15"
    assert client is not ecs_xrole.get_client("sts", role)
    assert client is ecs_xrole.get_client("sts", role, api_version="2011-06-15", verify=False)
    assert client.get_caller_identity()["Account"] == DESTINATION
    env_free = ecs_xrole.get_client("sts", role, use_ssl=False, region_name="eu-west-1")
    assert env_free is not ecs_xrole.get_client("sts", role, region_name="eu-west-1")


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"config": {"max_pool_connections": 50}}, "config"),
        ({"endpoint_url": "ftp://example.com"}, "endpoint_url"),
        ({"endpoint_url": "https://"}, "endpoint_url"),
        ({"verify": 3}, "verify"),
        ({"use_ssl": "no"}, "use_ssl"),
        ({"api_version": 2011}, "api_version"),
    ],
)
def test_bad_client_parameters_are_named(env: Any, options: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        ecs_xrole.get_client("sts", env.aws.destination_role_arn, **options)
    assert env.aws.assume_role_calls == 0


def _user_agent_counts(agent: str) -> tuple[int, int]:
    """How many times ``agent`` names ecs-xrole, and the user's own extra."""
    words = agent.split()
    return sum(w.startswith("ecs-xrole/") for w in words), words.count("my-app/1.2")


@pytest.mark.parametrize("user_extra", [False, True])
def test_the_user_agent_names_ecs_xrole_once_and_keeps_the_users_extra(
    env: Any, failing_sts: FailingSTS, user_extra: bool
) -> None:
    """What goes on the wire: get_client's client, with or without a user_agent_extra of the
    user's, and a client made from get_session's session."""
    role = env.aws.destination_role_arn
    extra = {"user_agent_extra": "my-app/1.2"} if user_extra else {}
    config = Config(retries={"total_max_attempts": 1}, **extra)  # type: ignore[arg-type]
    clients = [
        ecs_xrole.get_client("sts", role, endpoint_url=failing_sts.url, config=config),
        ecs_xrole.get_session(role).client("sts", endpoint_url=failing_sts.url, config=config),
    ]
    for client in clients:
        with pytest.raises(ClientError):
            client.get_caller_identity()
    assert len(failing_sts.user_agents) == 2
    for agent in failing_sts.user_agents:
        assert _user_agent_counts(agent) == (1, int(user_extra)), agent


def test_the_assume_role_request_names_ecs_xrole_once(
    env: Any, failing_sts: FailingSTS, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecs_xrole import _assume as assume

    monkeypatch.setattr(assume, "STS_MAX_ATTEMPTS", 1)  # a knob read when the client is built
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", failing_sts.url)
    with pytest.raises(ecs_xrole.AssumeRoleError):
        ecs_xrole.get_credentials(env.aws.destination_role_arn)
    assert failing_sts.user_agents
    assert _user_agent_counts(failing_sts.user_agents[0]) == (1, 0), failing_sts.user_agents[0]
