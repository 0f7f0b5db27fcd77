"""The task definitions ecs-xrole ships (examples/task-definition.json and
``ecs-xrole policy --only task-definition``) register and run on Fargate as they are.

Each is checked with botocore's own parameter validator against the ECS service model's
``RegisterTaskDefinition`` input (what the AWS CLI checks before sending), then against the
Fargate rules that only the service enforces, then registered on moto's ECS.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from ecs_xrole import cli
from ecs_xrole.cli._env import profiles_from_env

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TASK_ROLE = "arn:aws:iam::111122223333:role/my-ECS-task-role"
DEST = "arn:aws:iam::555566667777:role/destination-account-role"
OTHER = "arn:aws:iam::222233334444:role/billing-reader"

# Fargate's task sizes: cpu units -> the memory (MiB) each allows.
FARGATE_SIZES: dict[int, range] = {
    256: range(512, 2048 + 1, 512),
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
    8192: range(16384, 61440 + 1, 4096),
    16384: range(32768, 122880 + 1, 8192),
}


def generated(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    """``ecs-xrole policy --only task-definition`` for the article's roles, parsed."""
    argv = ["policy", "--task-role-arn", TASK_ROLE, "--role-arn", DEST, *extra]
    assert cli.main([*argv, "--only", "task-definition"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def shipped() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / "task-definition.json").read_text())
    return document


def validate_with_botocore(document: dict[str, Any]) -> None:
    """Raise if botocore's validator (the AWS CLI's, before any request) refuses it."""
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(document, shape)
    assert not report.has_errors(), report.generate_report()


def fargate_problems(document: dict[str, Any]) -> list[str]:
    """What Fargate would refuse in a task definition that botocore accepts."""
    problems = []
    if "FARGATE" not in document.get("requiresCompatibilities", []):
        problems.append("requiresCompatibilities lacks FARGATE")
    if document.get("networkMode") != "awsvpc":
        problems.append("networkMode is not awsvpc")
    try:
        cpu, memory = int(document["cpu"]), int(document["memory"])
    except (KeyError, ValueError):
        problems.append("task-level cpu and memory are required")
    else:
        if memory not in FARGATE_SIZES.get(cpu, ()):
            problems.append(f"cpu {cpu} with memory {memory} is not a Fargate size")
    execution = document.get("executionRoleArn")
    for container in document["containerDefinitions"]:
        private_ecr = ".dkr.ecr." in container["image"]
        log = container.get("logConfiguration", {})
        if (private_ecr or log.get("logDriver") == "awslogs") and not execution:
            problems.append("a private ECR image or awslogs needs executionRoleArn")
        if log.get("logDriver") != "awslogs":
            problems.append(f"container {container['name']} has no awslogs log configuration")
        else:
            options = log.get("options", {})
            for option in ("awslogs-group", "awslogs-region", "awslogs-stream-prefix"):
                if option not in options:
                    problems.append(f"awslogs needs {option}")
    return problems


def test_the_fargate_rules_catch_what_0_1_0_shipped() -> None:
    # The checker itself can fail: the task definition of 0.1.0 had no execution role and no log.
    old = shipped()
    del old["executionRoleArn"]
    del old["containerDefinitions"][0]["logConfiguration"]
    old["memory"] = "4096"
    assert fargate_problems(old) == [
        "cpu 256 with memory 4096 is not a Fargate size",
        "a private ECR image or awslogs needs executionRoleArn",
        "container app has no awslogs log configuration",
    ]
    with pytest.raises(AssertionError, match="containerDefinitions"):
        validate_with_botocore({"family": "x", "containerDefinitions": [{"name": 1}]})


def test_the_shipped_file_registers_on_fargate() -> None:
    document = shipped()
    validate_with_botocore(document)
    assert fargate_problems(document) == []
    # Built around the article's family and task role.
    assert document["family"] == "cross-account-app"
    assert document["taskRoleArn"] == TASK_ROLE
    assert document["executionRoleArn"] == "arn:aws:iam::111122223333:role/ecsTaskExecutionRole"


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--external-id", "ext-123", "--region", "eu-west-1"],
        ["--role-arn", OTHER],
        ["--image", "public.ecr.aws/docker/library/python:3.12-slim", "--family", "app_2"],
    ],
    ids=["default", "external-id-region", "two-roles", "public-image"],
)
def test_the_generated_skeleton_registers_on_fargate(
    capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    document = generated(capsys, *extra)
    validate_with_botocore(document)
    assert fargate_problems(document) == []
    assert document["taskRoleArn"] == TASK_ROLE
    variables = {e["name"]: e["value"] for e in document["containerDefinitions"][0]["environment"]}
    profiles = profiles_from_env(variables, command=("ecs-xrole",))
    assert {p.role_arn for p in profiles} == {DEST, *([OTHER] if OTHER in extra else [])}


def test_the_shipped_file_is_the_generated_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert shipped() == generated(capsys)


def test_region_reaches_the_image_and_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    document = generated(capsys, "--region", "eu-west-1")
    container = document["containerDefinitions"][0]
    assert container["image"] == (
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com/cross-account-app:latest"
    )
    assert container["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"


@pytest.fixture
def ecs_admin(request: pytest.FixtureRequest) -> Any:
    """moto's ECS in the source account (the session's FakeAWS)."""
    pytest.importorskip("moto")
    return request.getfixturevalue("fake_aws").admin_client("ecs")


@pytest.mark.parametrize("which", ["shipped", "generated"])
def test_moto_registers_it(ecs_admin: Any, capsys: pytest.CaptureFixture[str], which: str) -> None:
    document = shipped() if which == "shipped" else generated(capsys)
    document["family"] = f"cross-account-app-{uuid.uuid4().hex[:8]}"  # moto's state is shared
    registered = ecs_admin.register_task_definition(**document)["taskDefinition"]
    try:
        assert registered["taskRoleArn"] == TASK_ROLE
        assert registered["executionRoleArn"] == document["executionRoleArn"]
        assert registered["requiresCompatibilities"] == ["FARGATE"]
        assert registered["networkMode"] == "awsvpc"
        assert (registered["cpu"], registered["memory"]) == ("256", "512")
        log = registered["containerDefinitions"][0]["logConfiguration"]
        assert log == document["containerDefinitions"][0]["logConfiguration"]
    finally:
        ecs_admin.deregister_task_definition(taskDefinition=registered["taskDefinitionArn"])


# -- the sidecar example: serve in one container, its health check, the app in another ---------

# ECS's bounds for a container healthCheck (RegisterTaskDefinition's HealthCheck).
HEALTH_CHECK_LIMITS = {
    "interval": range(5, 300 + 1),
    "timeout": range(2, 60 + 1),
    "retries": range(1, 10 + 1),
    "startPeriod": range(300 + 1),
}


def sidecar() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / "sidecar-task-definition.json").read_text())
    return document


def containers(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["containerDefinitions"]}


def test_the_sidecar_example_registers_on_fargate() -> None:
    document = sidecar()
    validate_with_botocore(document)
    assert fargate_problems(document) == []
    assert document["taskRoleArn"] == TASK_ROLE
    assert set(containers(document)) == {"credentials", "app"}


def test_the_sidecar_health_check_runs_health_on_serves_address_within_ecs_limits() -> None:
    from ecs_xrole.cli.health import DEFAULT_TIMEOUT, health_url
    from ecs_xrole.cli.serve import parse_listen

    found = containers(sidecar())
    check = found["credentials"]["healthCheck"]
    assert set(check) == {"command", "interval", "timeout", "retries", "startPeriod"}
    for name, allowed in HEALTH_CHECK_LIMITS.items():
        assert check[name] in allowed, name
    assert (check["interval"], check["timeout"], check["retries"]) == (30, 5, 3)
    # The probe ends by its own deadline, well inside ECS's timeout.
    assert check["timeout"] > DEFAULT_TIMEOUT
    kind, *argv = check["command"]
    assert kind == "CMD"
    assert argv[0] == "ecs-xrole"
    args = cli.build_parser().parse_args(argv[1:])
    assert args.command == "health"
    assert args.func.__module__ == "ecs_xrole.cli.health"
    # It asks serve's own --listen address, the one the app's URL names.
    serve = cli.build_parser().parse_args(found["credentials"]["command"][1:])
    assert serve.command == "serve"
    host, port = parse_listen(serve.listen)
    assert health_url(args.url) == f"http://{host}:{port}/healthz"
    app_env = {e["name"]: e["value"] for e in found["app"]["environment"]}
    assert health_url(app_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]) == health_url(args.url)
    # The app starts once the credentials are served.
    assert found["app"]["dependsOn"] == [{"containerName": "credentials", "condition": "HEALTHY"}]


def test_the_sidecar_how_to_shows_the_same_health_check() -> None:
    text = (EXAMPLES.parent / "docs" / "how-to" / "every-process.md").read_text()
    line = next(line for line in text.splitlines() if '"healthCheck":' in line)
    shown = json.loads(line.split(":", 1)[1].strip().rstrip(","))
    assert shown == containers(sidecar())["credentials"]["healthCheck"]


def test_moto_registers_the_sidecar(ecs_admin: Any) -> None:
    document = sidecar()
    document["family"] = f"cross-account-sidecar-{uuid.uuid4().hex[:8]}"
    registered = ecs_admin.register_task_definition(**document)["taskDefinition"]
    try:
        by_name = containers(registered)
        assert (
            by_name["credentials"]["healthCheck"]
            == (containers(document)["credentials"]["healthCheck"])
        )
        assert by_name["app"]["dependsOn"] == containers(document)["app"]["dependsOn"]
    finally:
        ecs_admin.deregister_task_definition(taskDefinition=registered["taskDefinitionArn"])
