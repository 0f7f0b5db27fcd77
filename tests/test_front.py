"""The fast front of get_client / get_session / get_credentials: a repeated call is a look-up,
and still the right answer when the environment, the options or the process change.

Real HTTP on loopback (the EndpointServer and moto), as in test_session.py."""

from __future__ import annotations

import copy
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole import _front as front
from ecs_xrole import _session as session_module
from ecs_xrole._endpoint import FULL_URI, TOKEN, TOKEN_FILE
from ecs_xrole.testing._agent import EndpointServer

DESTINATION = "555566667777"
POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
}


@pytest.fixture
def env(ecs_xrole_env: Any) -> Any:
    """The stack with its environment applied, knobs and counters reset, caches cleared."""
    return ecs_xrole_env


# -- the pieces -------------------------------------------------------------------------------


def test_environment_is_the_variables_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in front.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    empty = front.environment()
    assert empty == (None,) * len(front.ENVIRONMENT)
    for name in front.ENVIRONMENT:
        monkeypatch.setenv(name, f"value of {name}")
        changed = front.environment()
        assert changed != empty
        assert front.environment() == changed  # stable while nothing changes
        empty = changed
    # os.environ replaced by a plain mapping (as some tests do) is read the public way.
    monkeypatch.setattr(os, "environ", {"AWS_REGION": "eu-west-1"})
    assert front.environment() == (None, None, None, None, "eu-west-1", None, None, None, None)


def test_freeze_keeps_apart_what_differs() -> None:
    assert front.freeze({"a": [1, 2]}) == front.freeze({"a": [1, 2]})
    assert front.freeze({"a": [1, 2]}) != front.freeze({"a": [1, 3]})
    assert front.freeze(900) != front.freeze(900.0)
    assert front.freeze(1) != front.freeze(True)
    assert front.freeze(["x"]) != front.freeze({"x": None})
    hash(front.options_key({"tags": {"team": "a"}, "policy_arns": ["arn:aws:iam::1:policy/p"]}))
    with pytest.raises(front.Unfreezable):
        front.freeze(bytearray(b"x"))


def test_front_cache_is_bounded_and_keeps_the_first_value() -> None:
    cache: front.FrontCache[str] = front.FrontCache(maxsize=2)
    assert cache.put("a", "first") == "first"
    assert cache.put("a", "second") == "first"  # a racing thread's value is not replaced
    cache.put("b", "b")
    cache.put("c", "c")
    assert len(cache) == 2
    assert cache.get("a") is None  # the oldest went
    assert cache.get("c") == "c"
    cache.clear()
    assert len(cache) == 0


# -- correctness through the public functions --------------------------------------------------


def test_a_changed_region_variable_gives_that_regions_client(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = env.aws.destination_role_arn
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    west = ecs_xrole.get_client("sts", role)
    assert west.meta.region_name == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert ecs_xrole.get_client("sts", role).meta.region_name == "us-west-2"
    assert ecs_xrole.get_session(role).region_name == "us-west-2"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert ecs_xrole.get_client("sts", role).meta.region_name == "ap-south-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert ecs_xrole.get_client("sts", role) is west


def test_a_changed_endpoint_gives_that_endpoints_credentials(
    env: Any, monkeypatch: pytest.MonkeyPatch, ecs_endpoint: EndpointServer
) -> None:
    role = env.aws.destination_role_arn
    first = ecs_xrole.get_client("sts", role)
    first_creds = ecs_xrole.get_credentials(role)
    ecs_endpoint.credentials = env.aws.task_role_credentials()
    monkeypatch.setenv(FULL_URI, ecs_endpoint.url)
    monkeypatch.delenv(TOKEN, raising=False)
    second = ecs_xrole.get_client("sts", role)
    assert second is not first
    assert ecs_xrole.get_credentials(role) is not first_creds
    assert second.get_caller_identity()["Account"] == DESTINATION
    assert ecs_endpoint.served == 1  # the new endpoint was asked, once


def test_a_changed_token_file_path_gives_another_client(
    env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    role = env.aws.destination_role_arn
    paths = [tmp_path / "one", tmp_path / "two"]
    for path in paths:
        env.endpoint.write_token_file(path)
    monkeypatch.setenv(TOKEN_FILE, str(paths[0]))
    one = ecs_xrole.get_client("sts", role)
    monkeypatch.setenv(TOKEN_FILE, str(paths[1]))
    two = ecs_xrole.get_client("sts", role)
    assert two is not one
    assert two.get_caller_identity()["Account"] == DESTINATION
    monkeypatch.setenv(TOKEN_FILE, str(paths[0]))
    assert ecs_xrole.get_client("sts", role) is one


def test_a_mutated_policy_dict_is_a_new_option_set(env: Any) -> None:
    role = env.aws.destination_role_arn
    policy = copy.deepcopy(POLICY)
    creds = ecs_xrole.get_credentials(role, policy=policy)
    client = ecs_xrole.get_client("sts", role, policy=policy)
    assert ecs_xrole.get_credentials(role, policy=policy) is creds
    assert ecs_xrole.get_client("sts", role, policy=policy) is client
    assert env.aws.assume_role_calls == 1
    policy["Statement"][0]["Action"] = "sts:*"
    assert ecs_xrole.get_credentials(role, policy=policy) is not creds
    assert ecs_xrole.get_client("sts", role, policy=policy) is not client
    assert env.aws.assume_role_calls == 2


def test_arguments_that_cannot_be_keys_are_resolved_every_time(env: Any) -> None:
    role = env.aws.destination_role_arn
    arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    first = ecs_xrole.get_client("sts", role, policy_arns=iter(arns))  # a one-shot iterator
    again = ecs_xrole.get_client("sts", role, policy_arns=iter(arns))
    assert again is first  # the same option set after validation: the same client
    assert first.get_caller_identity()["Account"] == DESTINATION
    assert env.aws.assume_role_calls == 1


def test_credentials_behind_a_cached_client_are_refreshed_before_use(env: Any) -> None:
    env.aws.sts_lifetime = 2.0  # mandatory margin 0.2 s: calls after 1.8 s must refresh
    role = env.aws.destination_role_arn
    client = ecs_xrole.get_client("sts", role)
    first_key = ecs_xrole.get_credentials(role).get_frozen_credentials().access_key
    time.sleep(2.1)  # past expiry, whatever the background refresher did
    assert ecs_xrole.get_client("sts", role) is client
    assert client.get_caller_identity()["Account"] == DESTINATION
    assert ecs_xrole.get_credentials(role).get_frozen_credentials().access_key != first_key
    assert env.aws.assume_role_calls >= 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_clients(env: Any) -> None:
    role = env.aws.destination_role_arn
    parent_client = ecs_xrole.get_client("sts", role)
    parent_creds = ecs_xrole.get_credentials(role)
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            child_client = ecs_xrole.get_client("sts", role)
            code = 2 if child_client is parent_client else 3
            if (
                child_client is not parent_client
                and ecs_xrole.get_credentials(role) is parent_creds
            ):
                code = 0 if child_client.get_caller_identity()["Account"] == DESTINATION else 4
        finally:
            os._exit(code)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert ecs_xrole.get_client("sts", role) is parent_client


def test_resolve_role_is_what_get_session_and_get_credentials_share(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    role = env.aws.destination_role_arn
    credentials, region = session_module.resolve_role(role, external_id=None)
    assert region == "eu-west-1"
    assert ecs_xrole.get_credentials(role, external_id=None) is credentials
    assert ecs_xrole.get_session(role, external_id=None).get_credentials() is credentials
    assert env.aws.assume_role_calls == 1
