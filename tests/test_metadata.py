"""The task metadata reader: task ID, cluster, region, and the default session name."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ecs_xrole import _metadata as metadata
from ecs_xrole._metadata import (
    METADATA_URI,
    TaskMetadata,
    default_session_name,
    task_metadata,
    task_region,
)
from ecs_xrole._validate import check_session_name
from ecs_xrole.testing._agent import DEFAULT_TASK_ARN, EndpointServer

TASK_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    metadata.clear_cache()
    yield
    metadata.clear_cache()


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    with EndpointServer() as srv:
        yield srv


def env_of(server: EndpointServer) -> dict[str, str]:
    return {METADATA_URI: server.metadata_url}


def test_task_metadata_from_the_endpoint(server: EndpointServer) -> None:
    md = task_metadata(env_of(server))
    assert md == TaskMetadata(
        task_arn=DEFAULT_TASK_ARN,
        task_id=TASK_ID,
        cluster="arn:aws:ecs:us-east-1:111122223333:cluster/demo-cluster",
        region="us-east-1",
        availability_zone="us-east-1a",
    )


def test_os_environ_is_the_default(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(METADATA_URI, server.metadata_url)
    md = task_metadata()
    assert md is not None
    assert md.task_id == TASK_ID


def test_the_answer_is_cached_per_uri(server: EndpointServer) -> None:
    assert task_metadata(env_of(server)) is not None
    assert task_metadata(env_of(server)) is not None
    assert server.metadata_requests == 1
    assert task_metadata(env_of(server), refresh=True) is not None
    assert server.metadata_requests == 2
    old_format = "1b3e5c7a-0d2f-4a6b-8c9d-0e1f2a3b4c5d"  # a task ID from before long ARNs
    with EndpointServer(task_arn=f"arn:aws:ecs:eu-west-1:444455556666:task/{old_format}") as other:
        md = task_metadata(env_of(other))
        assert md is not None
        assert (md.task_id, md.region) == (old_format, "eu-west-1")
    assert server.metadata_requests == 2


def test_a_failure_is_cached_too(server: EndpointServer) -> None:
    server.stop()
    assert task_metadata(env_of(server)) is None
    server.start()
    assert task_metadata(env_of(server)) is None  # cached: no second timeout
    assert server.metadata_requests == 0
    assert task_metadata(env_of(server), refresh=True) is not None


def test_unset_variable_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METADATA_URI, raising=False)
    assert task_metadata() is None
    assert task_metadata({METADATA_URI: ""}) is None
    assert task_region({}) is None


@pytest.mark.parametrize(
    "answer",
    [
        "not json at all",
        503,
        404,
        {"Cluster": "c"},  # no TaskARN
        {"TaskARN": 17},
        ["TaskARN"],
    ],
)
def test_unusable_answers_give_none(
    server: EndpointServer, answer: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="ecs_xrole.metadata")
    server.metadata_answer = answer  # type: ignore[assignment]
    assert task_metadata(env_of(server)) is None
    assert server.metadata_requests == 1
    assert "task metadata" in caplog.text


@pytest.mark.parametrize(
    "uri", ["ftp://127.0.0.1/v4/x", "http://user:pw@127.0.0.1:9/v4/x", "169.254.170.2/v4"]
)
def test_odd_uris_are_ignored(uri: str) -> None:
    assert task_metadata({METADATA_URI: uri}) is None


def test_a_hanging_endpoint_is_cut_at_the_timeout() -> None:
    # A listening socket nobody serves: connections are accepted (backlog), never answered.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        assert task_metadata({METADATA_URI: f"http://127.0.0.1:{port}/v4/x"}, timeout=0.3) is None


@pytest.mark.parametrize(
    ("task_arn", "task_id", "region"),
    [
        (DEFAULT_TASK_ARN, TASK_ID, "us-east-1"),
        ("arn:aws-cn:ecs:cn-north-1:111122223333:task/c/abc123", "abc123", "cn-north-1"),
        ("arn:aws:ecs:us-west-2:111122223333:task/abc123", "abc123", "us-west-2"),  # old format
        ("arn:aws:ecs:not a region:111122223333:task/c/abc", "abc", None),
        ("not-an-arn", "not-an-arn", None),
    ],
)
def test_task_id_and_region_from_the_arn(task_arn: str, task_id: str, region: str | None) -> None:
    md = TaskMetadata.from_task_arn(task_arn)
    assert (md.task_id, md.region) == (task_id, region)


def test_task_region(server: EndpointServer) -> None:
    assert task_region(env_of(server)) == "us-east-1"


def test_default_session_name_is_the_task_id(server: EndpointServer) -> None:
    assert default_session_name(env_of(server)) == TASK_ID


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("ip-10-0-0-1.ec2.internal", "ip-10-0-0-1.ec2.internal"),
        ("my host!name", "my-host-name"),
        ("h" * 100, "h" * 64),
        ("x", "ecs-xrole"),
        ("", "ecs-xrole"),
    ],
)
def test_default_session_name_falls_back_to_the_host_name(
    monkeypatch: pytest.MonkeyPatch, hostname: str, expected: str
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    name = default_session_name({})
    assert name == expected
    assert check_session_name(name) == name


def test_default_session_name_when_the_endpoint_fails(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-7")
    server.metadata_answer = 500
    assert default_session_name(env_of(server)) == "worker-7"


def test_a_task_id_of_the_wrong_shape_is_not_used(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-7")
    server.metadata_answer = {"TaskARN": "arn:aws:ecs:us-east-1:1:task/c/" + "é" * 80}
    assert default_session_name(env_of(server)) == "worker-7"
