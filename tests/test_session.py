"""get_session / get_client / get_credentials over real HTTP: the loopback ECS endpoint serves the
task role's credentials, a moto server with two accounts (trust policies enforced) plays STS,
IAM and ECS."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole import _session as session_module
from ecs_xrole.errors import (
    AssumeRoleDeniedError,
    CredentialsUnavailableError,
    EndpointNotConfiguredError,
    InvalidInputError,
)

DESTINATION = "555566667777"
SOURCE = "111122223333"


@pytest.fixture
def env(ecs_xrole_env: Any) -> Any:
    """The stack with its environment applied, knobs and counters reset, caches cleared."""
    return ecs_xrole_env


def identity(sess: Any) -> dict[str, str]:
    result: dict[str, str] = sess.client("sts").get_caller_identity()
    return result


def test_session_acts_in_the_destination_account(env: Any) -> None:
    sess = ecs_xrole.get_session(env.aws.destination_role_arn)
    who = identity(sess)
    assert who["Account"] == DESTINATION
    assert ":assumed-role/destination-account-role/" in who["Arn"]


def test_client_lists_the_destination_accounts_cluster(env: Any) -> None:
    ecs = ecs_xrole.get_client("ecs", env.aws.destination_role_arn)
    arns = ecs.list_clusters()["clusterArns"]
    assert any(arn.endswith("/destination-cluster") and DESTINATION in arn for arn in arns)


def test_default_session_name_is_the_ecs_task_id(env: Any) -> None:
    who = identity(ecs_xrole.get_session(env.aws.destination_role_arn))
    task_id = env.endpoint.task_arn.rsplit("/", 1)[1]
    assert who["Arn"].endswith("/" + task_id)


def test_explicit_session_name_and_timedelta_duration(env: Any) -> None:
    sess = ecs_xrole.get_session(
        env.aws.destination_role_arn,
        role_session_name="billing-worker",
        duration_seconds=timedelta(minutes=30),
    )
    assert identity(sess)["Arn"].endswith("/billing-worker")


def test_untrusting_role_is_denied_with_the_policies_that_would_allow_it(env: Any) -> None:
    with pytest.raises(AssumeRoleDeniedError) as info:
        ecs_xrole.get_session(env.aws.untrusting_role_arn)
    error = info.value
    assert error.role_arn == env.aws.untrusting_role_arn
    assert error.caller_arn == env.aws.task_role_arn
    statement = error.trust_policy["Statement"][0]
    assert statement["Principal"] == {"AWS": env.aws.task_role_arn}
    assert error.identity_policy["Statement"][0]["Resource"] == env.aws.untrusting_role_arn
    text = str(error)
    assert env.aws.task_role_arn in text
    assert env.aws.untrusting_role_arn in text
    assert "trust policy" in text


def test_missing_identity_policy_is_denied(env: Any) -> None:
    env.aws.remove_identity_policy()
    try:
        with pytest.raises(AssumeRoleDeniedError) as info:
            ecs_xrole.get_credentials(env.aws.destination_role_arn)
    finally:
        env.aws.restore_identity_policy()
    assert info.value.identity_policy["Statement"][0]["Action"] == "sts:AssumeRole"


def test_denied_policies_are_accepted_by_iam(env: Any) -> None:
    with pytest.raises(AssumeRoleDeniedError) as info:
        ecs_xrole.get_session(env.aws.untrusting_role_arn)
    iam = env.aws.admin_client("iam", DESTINATION)
    # A name of its own: the fake AWS outlives one run of this test (mutation testing reruns it).
    name = f"fixed-by-the-error-{uuid.uuid4().hex[:12]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(info.value.trust_policy))
    try:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="from-error",
            PolicyDocument=json.dumps(info.value.identity_policy),
        )
        iam.delete_role_policy(RoleName=name, PolicyName="from-error")
    finally:
        iam.delete_role(RoleName=name)


def test_external_id(env: Any) -> None:
    with pytest.raises(AssumeRoleDeniedError) as info:
        ecs_xrole.get_session(env.aws.external_id_role_arn, external_id="wrong-id")
    condition = info.value.trust_policy["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"sts:ExternalId": "wrong-id"}}
    sess = ecs_xrole.get_session(env.aws.external_id_role_arn, external_id="ecs-xrole-demo-id")
    assert identity(sess)["Account"] == DESTINATION


def test_chaining_through_a_source_session(env: Any) -> None:
    first = ecs_xrole.get_session(env.aws.destination_role_arn)
    second = ecs_xrole.get_session(env.aws.chained_role_arn, source_session=first)
    assert ":assumed-role/chained-role/" in identity(second)["Arn"]
    assert env.aws.assume_role_calls_for(env.aws.destination_role_arn) == 1
    assert env.aws.assume_role_calls_for(env.aws.chained_role_arn) == 1


def test_sessions_share_one_credentials_object(env: Any) -> None:
    one = ecs_xrole.get_session(env.aws.destination_role_arn)
    two = ecs_xrole.get_session(env.aws.destination_role_arn)
    assert one is not two
    assert one.get_credentials() is two.get_credentials()
    assert ecs_xrole.get_credentials(env.aws.destination_role_arn) is one.get_credentials()
    other = ecs_xrole.get_session(env.aws.destination_role_arn, role_session_name="other")
    assert other.get_credentials() is not one.get_credentials()


def test_900_second_credentials_make_one_assume_role_for_100_calls(env: Any) -> None:
    env.aws.sts_lifetime = 900
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn, duration_seconds=900)
    for _ in range(100):
        assert sts.get_caller_identity()["Account"] == DESTINATION
    assert env.aws.assume_role_calls_for(env.aws.destination_role_arn) == 1
    assert env.endpoint.served == 1


def test_1000_calls_from_32_threads_cost_one_fetch_and_one_assume_role(env: Any) -> None:
    role = env.aws.destination_role_arn
    barrier = threading.Barrier(32)
    errors: list[BaseException] = []
    keys: set[str] = set()

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(n):
                if i % 2:
                    creds = ecs_xrole.get_session(role).get_credentials()
                else:
                    creds = ecs_xrole.get_client("sts", role)._request_signer._credentials
                keys.add(creds.get_frozen_credentials().access_key)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(31 if i else 39,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(keys) == 1
    assert env.endpoint.served == 1
    assert env.aws.assume_role_calls == 1


def test_expired_token_refreshes_the_source_and_retries_once(env: Any) -> None:
    env.aws.queue_sts_faults("ExpiredToken")
    sess = ecs_xrole.get_session(env.aws.destination_role_arn)
    assert identity(sess)["Account"] == DESTINATION
    assert env.aws.assume_role_calls == 2
    assert env.endpoint.served == 2


def test_bad_inputs_fail_before_any_network_call(env: Any) -> None:
    role = env.aws.destination_role_arn
    cases: list[tuple[dict[str, Any], str]] = [
        ({"duration_seconds": 7200}, "role chaining"),
        ({"duration_seconds": 60}, "900"),
        ({"role_session_name": "has space"}, "role_session_name"),
        ({"external_id": "x"}, "external_id"),
        ({"tags": {f"k{i}": "v" for i in range(51)}}, "50"),
        ({"policy": "{not json"}, "policy"),
        ({"region_name": "Mars"}, "region"),
    ]
    for options, expected in cases:
        with pytest.raises(InvalidInputError, match=expected):
            ecs_xrole.get_session(role, **options)
    for bad_arn in ("arn:aws:iam::5555:role/x", "arn:aws:iam::555566667777:user/x", "nope"):
        with pytest.raises(InvalidInputError, match="role_arn"):
            ecs_xrole.get_session(bad_arn)
    assert env.endpoint.requests == 0
    assert env.aws.assume_role_calls == 0


def test_dict_policy_limits_the_session(env: Any) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}],
    }
    sess = ecs_xrole.get_session(env.aws.destination_role_arn, policy=policy)
    assert identity(sess)["Account"] == DESTINATION


def test_no_endpoint_says_which_variables(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(EndpointNotConfiguredError, match="AWS_CONTAINER_CREDENTIALS"):
        ecs_xrole.get_session(env.aws.destination_role_arn)


def test_region_comes_from_aws_region_first(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert ecs_xrole.get_session(env.aws.destination_role_arn).region_name == "eu-west-1"
    sess = ecs_xrole.get_session(env.aws.destination_role_arn, region_name="ap-south-1")
    assert sess.region_name == "ap-south-1"


def test_region_falls_back_to_the_task_arn(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    expected = env.endpoint.task_arn.split(":")[3]
    assert session_module.resolve_region() == expected


def test_static_stability_when_the_endpoint_and_sts_go_down(env: Any) -> None:
    """Short-lived credentials; both stand-ins stop: calls keep working until the mandatory
    margin, then fail clearly; the stand-ins come back and calls recover in-process."""
    env.aws.sts_lifetime = 3.0  # background refresh due at ~1.2-1.5 s, mandatory margin 0.3 s
    creds = ecs_xrole.get_credentials(env.aws.destination_role_arn)
    first = creds.get_frozen_credentials()
    assert creds.expiry is not None
    mandatory_at = creds.expiry.timestamp() - 0.3
    env.endpoint.stop()
    env.aws.sts_down = True
    served = 0
    deadline = time.monotonic() + 8
    while True:
        try:
            assert creds.get_frozen_credentials() == first
            served += 1
        except CredentialsUnavailableError as exc:
            failed_at = time.time()
            error = exc
            break
        assert time.monotonic() < deadline, "no error after the credentials expired"
        time.sleep(0.02)
    # Zero failed calls before the mandatory margin, then a clear error.
    assert failed_at >= mandatory_at
    assert served > 10
    assert "failing since" in str(error)
    assert env.aws.destination_role_arn in str(error)
    assert creds.failing_since is not None
    # The stand-ins come back: calls recover without restarting anything.
    env.endpoint.start()
    env.aws.sts_down = False
    deadline = time.monotonic() + 5
    while True:
        try:
            fresh = creds.get_frozen_credentials()
            break
        except CredentialsUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert fresh != first
    assert creds.failing_since is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_keeps_working(env: Any) -> None:
    role = env.aws.destination_role_arn
    assert ecs_xrole.get_client("sts", role).get_caller_identity()["Account"] == DESTINATION
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            who = ecs_xrole.get_client("sts", role).get_caller_identity()
            code = 0 if who["Account"] == DESTINATION else 3
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
    # The parent is unaffected and made no new AssumeRole.
    assert ecs_xrole.get_client("sts", role).get_caller_identity()["Account"] == DESTINATION
    assert env.aws.assume_role_calls == 1


def test_task_role_session_is_the_source_account(env: Any) -> None:
    who = identity(session_module.get_task_role_session())
    assert who["Account"] == SOURCE
    assert ":assumed-role/my-ECS-task-role/" in who["Arn"]


def test_sts_goes_to_the_regional_endpoint(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    source = session_module.get_task_role_credentials()
    sts = session_module._sts_client(source, "eu-west-1")
    assert sts.meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"


def test_aws_endpoint_url_sts_is_honoured(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    source = session_module.get_task_role_credentials()
    sts = session_module._sts_client(source, "eu-west-1")
    assert sts.meta.endpoint_url == "http://127.0.0.1:9"


def test_sessions_ignore_credentials_in_the_environment(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    sess = ecs_xrole.get_session(env.aws.destination_role_arn)
    assert sess.get_credentials().get_frozen_credentials().access_key != "AKIAENVIRONMENTKEY00"
    assert identity(sess)["Account"] == DESTINATION


# -- The health-endpoint how-to (docs/how-to/health-endpoint.md): each snippet run as written.
# Here rather than in a file of their own because the aio tox env, the one with fastapi and
# httpx, runs this file; the main envs run the Flask one (flask comes with moto[server]).


def _health_how_to_blocks() -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "docs/how-to/health-endpoint.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def _secrets_in_play(env: Any) -> list[str]:
    """The keys and tokens of both credentials objects, the endpoint's token and its
    credentials ID: what no health answer may hold."""
    found = [env.token, os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"].rsplit("/", 1)[1]]
    for creds in (
        ecs_xrole.get_task_role_credentials().current,
        ecs_xrole.get_credentials(env.aws.destination_role_arn).current,
    ):
        assert creds is not None
        found += [creds.access_key_id, creds.secret_access_key, creds.session_token or ""]
    return [value for value in found if len(value) >= 8]


def test_the_health_how_to_has_exactly_the_snippets_tested_here() -> None:
    blocks = _health_how_to_blocks()
    assert len(blocks) == 3
    assert "basicConfig" in blocks[0]
    assert "FastAPI()" in blocks[1]
    assert "Flask(__name__)" in blocks[2]


def test_the_health_how_to_logging_snippet_shows_each_assume_role(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("ecs_xrole")
    level = logger.level
    root_handlers = list(logging.getLogger().handlers)
    try:
        exec(_health_how_to_blocks()[0], {})  # noqa: S102 - the documented code
        ecs_xrole.get_credentials(env.aws.destination_role_arn)
    finally:
        logger.setLevel(level)
        # basicConfig's stderr handler would stay on the root logger for the worker's later
        # tests (and their forked children, which can block on its stream's lock).
        logging.getLogger().handlers[:] = root_handlers
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith(f"role {env.aws.destination_role_arn}: loaded") for m in infos)


@pytest.mark.usefixtures("only_live_credentials")
def test_the_health_how_to_fastapi_snippet_answers_ok_then_failing(env: Any) -> None:
    try:
        import fastapi  # noqa: F401
        import httpx
    except ImportError:
        pytest.skip("needs fastapi and httpx (the test-aio group, installed by the aio tox env)")
    namespace: dict[str, Any] = {}
    exec(_health_how_to_blocks()[1], namespace)  # noqa: S102 - the documented code
    role = namespace["ROLE"]
    assert role == env.aws.destination_role_arn

    async def probe() -> tuple[Any, Any, Any]:
        transport = httpx.ASGITransport(app=namespace["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            whoami = await http.get("/whoami")
            answer = await http.get("/healthz")
            # A role the task may not assume: nothing to serve, so the probe fails.
            with pytest.raises(AssumeRoleDeniedError):
                ecs_xrole.get_credentials(env.aws.untrusting_role_arn)
            return whoami, answer, await http.get("/healthz")

    whoami, answer, failing = asyncio.run(probe())
    assert whoami.json() == {"account": DESTINATION}
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert [(r["method"], r["role_arn"], r["state"]) for r in body["roles"]] == [
        ("ecs-xrole-container", env.aws.task_role_arn, "ok"),
        ("ecs-xrole-assume-role", role, "ok"),
    ]
    assert failing.status_code == 503
    body = failing.json()
    assert body["status"] == "failing"
    denied = body["roles"][-1]
    assert (denied["role_arn"], denied["state"]) == (env.aws.untrusting_role_arn, "failing")
    assert (denied["last_error"], denied["last_error_code"]) == (
        "AssumeRoleDeniedError",
        "AccessDenied",
    )
    for secret in _secrets_in_play(env):
        assert secret not in answer.text
        assert secret not in failing.text


@pytest.mark.usefixtures("only_live_credentials")
def test_the_health_how_to_flask_snippet_answers_ok_degraded_ok(env: Any) -> None:
    namespace: dict[str, Any] = {"__name__": __name__}  # Flask(__name__) finds its module
    exec(_health_how_to_blocks()[2], namespace)  # noqa: S102 - the documented code
    role = namespace["ROLE"]
    assert role == env.aws.destination_role_arn
    env.aws.sts_lifetime = 6.0  # the background refresh is due 2.4-3 s after the load
    http = namespace["app"].test_client()

    def probe_until(state: str) -> Any:
        deadline = time.monotonic() + 8
        while True:
            answer = http.get("/healthz")
            if answer.get_json()["status"] == state:
                return answer
            assert time.monotonic() < deadline, f"never {state}: {answer.get_json()}"
            time.sleep(0.02)

    assert http.get("/whoami").get_json() == {"account": DESTINATION}
    ok = probe_until("ok")
    assert ok.status_code == 200
    env.aws.remove_identity_policy()  # the task role lost sts:AssumeRole
    degraded = probe_until("degraded")
    assert degraded.status_code == 200  # still serving valid credentials: keep the task
    role_status = degraded.get_json()["roles"][-1]
    assert (role_status["role_arn"], role_status["last_error_code"]) == (role, "AccessDenied")
    assert role_status["failing_since"] is not None
    env.aws.restore_identity_policy()
    recovered = probe_until("ok")
    assert recovered.status_code == 200
    role_status = recovered.get_json()["roles"][-1]
    assert role_status["failing_since"] is None
    assert role_status["last_error_code"] == "AccessDenied"  # kept: when and why it last failed
    for secret in _secrets_in_play(env):
        for answer in (ok, degraded, recovered):
            assert secret not in answer.get_data(as_text=True)
