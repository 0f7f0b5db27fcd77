"""``ecs-xrole policy``: the three documents, as JSON a user can pipe into the AWS CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from ecs_xrole import cli
from ecs_xrole.cli import _env as cli_env

TASK_ROLE = "arn:aws:iam::111122223333:role/my-ECS-task-role"
ROLE = "arn:aws:iam::555566667777:role/destination-account-role"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ecs-xrole <argv>`` in-process; return (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def policy(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "policy", "--task-role-arn", TASK_ROLE, "--role-arn", ROLE, *extra)


def test_json_holds_the_three_documents_built_from_the_arns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = policy(capsys, "--json")
    assert code == 0
    docs = json.loads(out)
    assert set(docs) == {"identity_policy", "trust_policy", "task_definition"}
    (allow,) = docs["identity_policy"]["Statement"]
    assert allow["Action"] == "sts:AssumeRole"
    assert allow["Resource"] == ROLE
    (trust,) = docs["trust_policy"]["Statement"]
    assert trust["Principal"] == {"AWS": TASK_ROLE}
    assert trust["Action"] == "sts:AssumeRole"
    assert "Condition" not in trust
    assert docs["task_definition"]["taskRoleArn"] == TASK_ROLE
    env = {
        item["name"]: item["value"]
        for item in docs["task_definition"]["containerDefinitions"][0]["environment"]
    }
    assert env["ECS_XROLE_ROLE_ARN"] == ROLE


@pytest.mark.parametrize(
    ("only", "key"),
    [
        ("identity", "identity_policy"),
        ("trust", "trust_policy"),
        ("task-definition", "task_definition"),
    ],
)
def test_only_prints_that_document_alone(
    capsys: pytest.CaptureFixture[str], only: str, key: str
) -> None:
    _, out, _ = policy(capsys, "--json")
    expected = json.loads(out)[key]
    code, out, _ = policy(capsys, "--only", only)
    assert code == 0
    assert json.loads(out) == expected


def test_default_output_has_headings_and_each_block_parses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = policy(capsys)
    assert code == 0
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    parsed: list[Any] = []
    for block in blocks:
        lines = block.splitlines()
        assert lines[0].startswith("# ")
        parsed.append(json.loads("\n".join(line for line in lines if not line.startswith("#"))))
    assert "Identity policy" in blocks[0]
    assert "aws iam put-role-policy --role-name my-ECS-task-role" in blocks[0]
    assert "Trust policy" in blocks[1]
    assert "--role-name destination-account-role" in blocks[1]
    assert "Task definition" in blocks[2]
    assert parsed[1]["Statement"][0]["Principal"]["AWS"] == TASK_ROLE


def test_external_id_adds_the_condition_and_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = policy(capsys, "--json", "--external-id", "ecs-xrole-demo-id")
    assert code == 0
    docs = json.loads(out)
    assert docs["trust_policy"]["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": "ecs-xrole-demo-id"}
    }
    env = docs["task_definition"]["containerDefinitions"][0]["environment"]
    assert {"name": "ECS_XROLE_EXTERNAL_ID", "value": "ecs-xrole-demo-id"} in env


def test_profile_and_family_reach_the_task_definition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = policy(
        capsys, "--only", "task-definition", "--profile", "billing", "--family", "f1"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["family"] == "f1"
    assert {"name": "ECS_XROLE_PROFILE", "value": "billing"} in doc["containerDefinitions"][0][
        "environment"
    ]


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--role-arn", "arn:aws:iam::555566667777:user/bob", "user ARN"),
        ("--task-role-arn", "arn:aws:iam::1111:role/x", "not 12 digits"),
        ("--role-arn", "arn:aws:sts::555566667777:assumed-role/r/s", "assumed-role"),
    ],
)
def test_bad_arn_exits_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, said: str
) -> None:
    args = {"--task-role-arn": TASK_ROLE, "--role-arn": ROLE, flag: value}
    code, out, err = run_cli(capsys, "policy", *[x for kv in args.items() for x in kv])
    assert code == 2
    assert out == ""
    assert flag in err
    assert said in err


def test_bad_external_id_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = policy(capsys, "--external-id", "has space")
    assert code == 2
    assert "external" in err


def test_only_and_json_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = policy(capsys, "--json", "--only", "trust")
    assert code == 2
    assert "not allowed with" in err


def test_subprocess_output_pipes_as_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ecs_xrole", "policy", "--task-role-arn", TASK_ROLE,
         "--role-arn", ROLE, "--only", "trust"],
        capture_output=True, text=True, timeout=9, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Statement"][0]["Principal"]["AWS"] == TASK_ROLE


@pytest.fixture
def iam_fake(request: pytest.FixtureRequest) -> Any:
    """The session's FakeAWS (moto on loopback), when the local extra is installed."""
    pytest.importorskip("moto")
    return request.getfixturevalue("fake_aws")


def test_iam_accepts_the_documents(iam_fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """moto's IAM (through FakeAWS) takes the trust policy and the identity policy as they are."""
    suffix = uuid.uuid4().hex[:8]
    task_name, dest_name = f"policy-test-task-{suffix}", f"policy-test-dest-{suffix}"
    task_role = f"arn:aws:iam::111122223333:role/{task_name}"
    role = f"arn:aws:iam::555566667777:role/{dest_name}"
    code, out, _ = run_cli(
        capsys, "policy", "--task-role-arn", task_role, "--role-arn", role, "--json",
        "--external-id", "policy-test-id",
    )  # fmt: skip
    assert code == 0
    docs = json.loads(out)
    source_iam = iam_fake.admin_client("iam", account_id="111122223333")
    dest_iam = iam_fake.admin_client("iam", account_id="555566667777")
    ecs_tasks = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    source_iam.create_role(RoleName=task_name, AssumeRolePolicyDocument=json.dumps(ecs_tasks))
    source_iam.put_role_policy(
        RoleName=task_name,
        PolicyName="ecs-xrole-assume",
        PolicyDocument=json.dumps(docs["identity_policy"]),
    )
    created = dest_iam.create_role(
        RoleName=dest_name, AssumeRolePolicyDocument=json.dumps(docs["trust_policy"])
    )
    assert created["Role"]["Arn"] == role
    trust = dest_iam.get_role(RoleName=dest_name)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    assert trust == docs["trust_policy"]
    inline = source_iam.get_role_policy(RoleName=task_name, PolicyName="ecs-xrole-assume")[
        "PolicyDocument"
    ]
    if isinstance(inline, str):
        inline = json.loads(inline)
    assert inline == docs["identity_policy"]


def test_verbose_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = policy(capsys, "--only", "trust", "-v")
    assert code == 0
    assert json.loads(out)["Statement"][0]["Principal"] == {"AWS": TASK_ROLE}


OTHER = "arn:aws:iam::222233334444:role/billing-reader"


def test_several_roles_give_one_statement_and_one_profile_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 0.1.0 kept only the last --role-arn, silently.
    code, out, _ = policy(capsys, "--role-arn", OTHER, "--json")
    assert code == 0
    docs = json.loads(out)
    statements = docs["identity_policy"]["Statement"]
    assert [s["Resource"] for s in statements] == [ROLE, OTHER]
    assert len({s["Sid"] for s in statements}) == 2  # IAM refuses repeated Sids
    assert docs["trust_policy"]["Statement"][0]["Principal"] == {"AWS": TASK_ROLE}
    env = {
        item["name"]: item["value"]
        for item in docs["task_definition"]["containerDefinitions"][0]["environment"]
    }
    profiles = cli_env.profiles_from_env(env, command=("ecs-xrole",))
    assert [(p.name, p.role_arn) for p in profiles] == [
        ("destination-account-role", ROLE),
        ("billing-reader", OTHER),
    ]


def test_several_roles_headings_name_each_role(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = policy(capsys, "--role-arn", OTHER)
    assert code == 0
    assert "update-assume-role-policy --role-name destination-account-role" in out
    assert "update-assume-role-policy --role-name billing-reader" in out
    assert f"--role-arn {ROLE} --role-arn {OTHER} --only identity" in out


def test_several_roles_take_one_profile_name_each(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = policy(
        capsys, "--role-arn", OTHER, "--profile", "dest", "--profile", "billing",
        "--only", "task-definition",
    )  # fmt: skip
    assert code == 0
    env = {e["name"]: e["value"] for e in json.loads(out)["containerDefinitions"][0]["environment"]}
    assert env["ECS_XROLE_PROFILES"] == "dest billing"
    assert env["ECS_XROLE_BILLING_ROLE_ARN"] == OTHER

    code, out, err = policy(capsys, "--role-arn", OTHER, "--profile", "only-one")
    assert code == 2
    assert out == ""
    assert "--profile 'only-one' is not valid: 1 profile name(s) for 2 --role-arn" in err


def test_a_role_given_twice_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = policy(capsys, "--role-arn", ROLE)
    assert code == 2
    assert "given twice" in err


def test_the_trust_heading_warns_that_the_update_replaces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = policy(capsys)
    assert code == 0
    heading = out.split("# 2. Trust policy", 1)[1].split("{", 1)[0]
    assert "replaces the whole trust policy" in heading
    assert "add this statement to its current one" in heading
