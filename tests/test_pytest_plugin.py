"""The pytest plugin: fixtures usable from any test suite, and free when unused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ecs_xrole.testing import LocalStack

USER_TESTS = """
import json
import os
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

SEEN = {}


def test_env_is_a_task_that_can_reach_the_destination(ecs_xrole_env):
    assert os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == ecs_xrole_env.endpoint.url
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    session = boto3.session.Session()
    sts = session.client("sts")
    assert sts.get_caller_identity()["Account"] == "111122223333"
    creds = sts.assume_role(
        RoleArn=ecs_xrole_env.aws.destination_role_arn, RoleSessionName="user-test"
    )["Credentials"]
    ecs = session.client(
        "ecs",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]] == [
        "destination-cluster"
    ]
    assert ecs_xrole_env.aws.assume_role_calls == 1
    SEEN["stack"] = ecs_xrole_env
    # Knobs changed here must not leak into the next test.
    ecs_xrole_env.aws.sts_down = True
    ecs_xrole_env.endpoint.queue(503)


def test_env_starts_clean_and_shares_the_stack(ecs_xrole_env, ecs_xrole_stack, fake_aws):
    assert ecs_xrole_env is ecs_xrole_stack is SEEN["stack"]
    assert fake_aws is ecs_xrole_stack.aws
    assert not fake_aws.sts_down
    assert fake_aws.assume_role_calls == 0
    assert ecs_xrole_env.endpoint.pending_faults == 0
    assert ecs_xrole_env.endpoint.requests == 0


def test_env_is_gone_after_the_test():
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in os.environ
    assert os.environ.get("AWS_ENDPOINT_URL") != SEEN["stack"].environ["AWS_ENDPOINT_URL"]


def test_fake_aws_knobs(fake_aws):
    fake_aws.queue_sts_faults("Throttling")
    sts = fake_aws.admin_client("sts")
    creds = fake_aws.task_role_credentials()
    task_sts = boto3.session.Session().client(
        "sts",
        endpoint_url=fake_aws.endpoint_url,
        region_name=fake_aws.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=__import__("botocore.config").config.Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError, match="Throttling"):
        task_sts.assume_role(RoleArn=fake_aws.destination_role_arn, RoleSessionName="tt")
    assert sts.get_caller_identity()["Account"] == "111122223333"


def test_ecs_endpoint_is_a_fresh_server(ecs_endpoint):
    assert ecs_endpoint.running
    assert ecs_endpoint.requests == 0
    with urllib.request.urlopen(ecs_endpoint.url) as answer:
        body = json.load(answer)
    assert body["AccessKeyId"].startswith("ASIA")
    SEEN["endpoint"] = ecs_endpoint


def test_ecs_endpoint_was_stopped(ecs_endpoint):
    assert ecs_endpoint is not SEEN["endpoint"]
    assert not SEEN["endpoint"].running
"""


# Inner runs skip hypothesis's plugin: it imports all of hypothesis (seconds) in its summary.
# The inner suite runs in file order: its tests check what the ones before them left.
INNER = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:randomly")


def test_a_user_suite_can_use_every_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(*INNER, "-q")
    result.assert_outcomes(passed=6)


def test_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", *INNER)
    text = result.stdout.str()
    for name in ("ecs_xrole_env", "ecs_xrole_stack", "fake_aws", "ecs_endpoint"):
        assert name in text
    assert "Run the test inside an ECS task" in text


def test_loading_the_plugin_imports_neither_moto_nor_boto3(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cheap="""
        import sys

        def test_nothing_heavy(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("ecs_xrole")
            heavy = [m for m in ("moto", "boto3", "botocore", "werkzeug") if m in sys.modules]
            assert heavy == []
        """
    )
    result = pytester.runpytest_subprocess(*INNER, "-q")
    result.assert_outcomes(passed=1)


def test_importing_the_package_and_plugin_is_cheap() -> None:
    code = (
        "import sys, ecs_xrole.testing, ecs_xrole.testing.pytest_plugin\n"
        "print(sorted(m for m in ('moto', 'boto3', 'botocore', 'werkzeug', 'urllib3') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=9,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.stdout.strip() == "[]"


def test_env_fixture_applies_the_stack(ecs_xrole_env: LocalStack) -> None:
    for name, value in ecs_xrole_env.environ.items():
        assert os.environ[name] == value
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        assert name not in os.environ
