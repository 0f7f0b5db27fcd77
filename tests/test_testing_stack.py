"""local_stack(): the fake AWS and the ECS endpoint wired together, and a task's environment."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ecs_xrole._endpoint import detect_endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole.errors import EndpointRequestError
from ecs_xrole.testing import FakeAWS, LocalStack, local_stack
from ecs_xrole.testing._stack import REMOVED_VARIABLES
from ecs_xrole.testing.aws import DESTINATION_ACCOUNT_ID, SOURCE_ACCOUNT_ID, TASK_ID

TASK_ENV = {
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "ECS_CONTAINER_METADATA_URI_V4",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "NO_PROXY",
    "no_proxy",
}


def fetch(stack: LocalStack, **options: Any) -> Any:
    """The task role's credentials, fetched from the stack's endpoint like a task would."""
    endpoint = detect_endpoint(stack.environ, read_pid1=False)
    return fetch_credentials(endpoint, deadline=options.pop("deadline", 3.0), **options)


def refused(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_environ_is_a_complete_task_environment(fake_aws: FakeAWS, tmp_path: Path) -> None:
    with local_stack(aws=fake_aws, tmp_dir=tmp_path) as stack:
        env = stack.environ
        assert set(env) == TASK_ENV
        assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == stack.endpoint.url
        assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
        assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == "local-token" == stack.token
        assert env["ECS_CONTAINER_METADATA_URI_V4"] == stack.endpoint.metadata_url
        assert env["AWS_ENDPOINT_URL"] == fake_aws.endpoint_url
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["AWS_EC2_METADATA_DISABLED"] == "true"
        assert {"127.0.0.1", "localhost", "::1"} <= set(env["NO_PROXY"].split(","))
        assert env["AWS_CONFIG_FILE"] == stack.config_file
        assert Path(stack.config_file).parent.parent == tmp_path
        assert not Path(stack.config_file).exists()
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == stack.credentials_file
        assert Path(stack.credentials_file).read_text() == ""
        assert not set(env) & (set(REMOVED_VARIABLES) - {"AWS_CONTAINER_AUTHORIZATION_TOKEN"})
        assert "local-token" not in repr(stack)
    assert not Path(stack.credentials_file).parent.exists()  # the temporary files are gone
    assert fake_aws.running  # a shared FakeAWS is left running


def test_apply_removes_competitors_and_restores_os_environ_exactly(
    fake_aws: FakeAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = {
        "AWS_ACCESS_KEY_ID": "AKIAHOSTKEY",
        "AWS_SECRET_ACCESS_KEY": "host-secret",
        "AWS_PROFILE": "host-profile",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/host",
        "AWS_ENDPOINT_URL_STS": "https://sts.example.com",
        "AWS_REGION": "eu-west-1",
        "UNRELATED": "kept",
    }
    for name, value in host.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    before = dict(os.environ)
    with local_stack(aws=fake_aws) as stack:
        assert stack.variables_to_remove() == sorted(
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_ENDPOINT_URL_STS",
                "AWS_PROFILE",
                "AWS_SECRET_ACCESS_KEY",
            ]
        )
        with stack.apply() as applied:
            assert applied is stack
            for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_ENDPOINT_URL_STS"):
                assert name not in os.environ
            for name, value in stack.environ.items():
                assert os.environ[name] == value
            assert os.environ["UNRELATED"] == "kept"
            os.environ["ADDED_INSIDE"] = "1"  # whatever the block does is undone too
            del os.environ["UNRELATED"]
        assert dict(os.environ) == before

        with pytest.raises(RuntimeError), stack.apply():
            raise RuntimeError("boom")
        assert dict(os.environ) == before


def test_the_endpoint_serves_task_role_credentials_that_work(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws) as stack:
        creds = fetch(stack)
        assert creds.role_arn == fake_aws.task_role_arn
        sts = boto3.session.Session().client(
            "sts",
            endpoint_url=fake_aws.endpoint_url,
            region_name=fake_aws.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=Config(retries={"total_max_attempts": 1}),
        )
        identity = sts.get_caller_identity()
        assert identity["Account"] == SOURCE_ACCOUNT_ID
        assert identity["Arn"].endswith(f":assumed-role/my-ECS-task-role/{TASK_ID}")
        answer = sts.assume_role(RoleArn=fake_aws.destination_role_arn, RoleSessionName="work")
        assert answer["AssumedRoleUser"]["Arn"].startswith(
            f"arn:aws:sts::{DESTINATION_ACCOUNT_ID}:"
        )


def test_botocore_finds_the_container_credentials_inside_apply(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws) as stack, stack.apply():
        session = boto3.session.Session()
        creds = session.get_credentials()
        assert creds is not None
        assert creds.method == "container-role"
        identity = session.client("sts").get_caller_identity()  # AWS_ENDPOINT_URL: the fake
        assert identity["Account"] == SOURCE_ACCOUNT_ID
        with urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"] + "/task") as r:
            task = json.load(r)
        assert task["TaskARN"] == (
            f"arn:aws:ecs:us-east-1:{SOURCE_ACCOUNT_ID}:task/demo-cluster/{TASK_ID}"
        )


def test_task_role_credentials_are_cached_until_near_expiry(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws, task_role_lifetime=3.0) as stack:
        made = time.monotonic()
        first = fetch(stack)
        left = first.seconds_left()
        assert left is not None
        assert 0 < left <= 3.0  # the endpoint sends whole seconds, like the ECS agent
        second = fetch(stack)
        if time.monotonic() - made < 1.4:  # a stalled machine may legitimately renew here
            assert second.access_key_id == first.access_key_id
            assert stack.task_role_assume_role_calls == 1
        # The answer's Expiration is truncated to the second, so the real expiry is up to 1 s
        # later: 0.3 s before the sent one, at most 1.3 s of the real 3 s lifetime is left
        # (under half), so the next request must renew.
        time.sleep(max(0.0, (first.seconds_left() or 0.0) - 0.3))
        renewed = fetch(stack)
        assert renewed.access_key_id not in (first.access_key_id, second.access_key_id)
        assert fake_aws.assume_role_calls == 0  # the agent's own AssumeRoles are not counted


def test_long_lived_task_role_credentials_are_reused(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws) as stack:
        keys = {fetch(stack).access_key_id for _ in range(4)}
        assert len(keys) == 1
        assert stack.endpoint.served == 4
        left = fetch(stack).seconds_left()
        assert left is not None
        assert left > 3600


def test_token_file_and_no_token(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws, token="file-token", token_file=True) as stack:
        env = stack.environ
        assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in env
        assert Path(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).read_text() == "file-token"
        assert fetch(stack).role_arn == fake_aws.task_role_arn
    with local_stack(aws=fake_aws, token=None) as stack:
        assert not {k for k in stack.environ if k.startswith("AWS_CONTAINER_AUTHORIZATION")}
        assert fetch(stack).role_arn == fake_aws.task_role_arn


def test_reset_puts_every_knob_back(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws) as stack:
        first = fetch(stack)
        endpoint = stack.endpoint
        endpoint.token = "rotated"
        endpoint.delay = 0.2
        endpoint.queue(503, 503, 503)
        endpoint.lifetime = 5
        fake_aws.sts_down = True
        endpoint.stop()
        with pytest.raises(EndpointRequestError):
            fetch(stack, deadline=0.3)
        stack.reset()
        assert (endpoint.requests, endpoint.pending_faults, endpoint.delay) == (0, 0, 0.0)
        assert not fake_aws.sts_down
        again = fetch(stack, max_attempts=1)
        assert again.access_key_id != first.access_key_id  # the cache was dropped
        left = again.seconds_left()
        assert left is not None
        assert left > 60


def test_both_servers_stop_on_exit() -> None:
    with local_stack() as stack:
        assert fetch(stack).role_arn == stack.aws.task_role_arn
        aws_url, endpoint_url = stack.aws.endpoint_url, stack.endpoint.url
        assert stack.aws.host == "127.0.0.1"
    assert not stack.aws.running
    assert not stack.endpoint.running
    assert refused(aws_url)
    assert refused(endpoint_url)


def test_concurrent_endpoint_requests_share_one_assume_role(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws) as stack:
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = set(pool.map(lambda _: fetch(stack).access_key_id, range(16)))
        assert len(keys) == 1
        assert stack.task_role_assume_role_calls == 1
        assert stack.endpoint.served == 16


def test_reset_removes_the_config_file_a_test_wrote(fake_aws: FakeAWS) -> None:
    with local_stack(aws=fake_aws) as stack:
        config = Path(stack.environ["AWS_CONFIG_FILE"])
        config.write_text("[profile cross-account]\nrole_arn = left-by-a-test\n")
        stack.reset()
        assert not config.exists()
        stack.reset()  # and again, with no file to remove
        assert not config.exists()
