"""6. Memory per additional destination role held in the process.

Fifty more roles are created in the destination account, each trusting the task role (and the
task role is allowed to assume them). For each library the process then holds what it needs
to call as each role: ecs-xrole's cached client; for the others a session and a client per
role. Python allocations are traced (tracemalloc) from just before the roles are added until
after a garbage collection; the table divides by the number of roles. Two roles are added
first, untraced, so that one-time costs (imports, model loading) are not counted.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench_support import (
    SESSION_NAME,
    Section,
    Target,
    fmt_bytes,
    ready,
    refresh_session,
    refresh_session_client,
    reset_counters,
)

TITLE = "6. Memory per additional destination role"
ROLES = 50
WARM = 2
#: The slower libraries (a botocore session per role) trace fewer roles to stay in budget.
ROLES_SLOW = 20
PREFIX = "bench-role-"


def _add_roles(stack: Any) -> list[str]:
    from ecs_xrole._config.files import write_profiles
    from ecs_xrole._config.model import Profile
    from ecs_xrole._policy import trust_policy
    from ecs_xrole.testing.aws import DESTINATION_ACCOUNT_ID, SOURCE_ACCOUNT_ID, TASK_ROLE_NAME

    aws = stack.aws
    iam = aws.admin_client("iam", DESTINATION_ACCOUNT_ID)
    existing = {r["RoleName"] for r in iam.list_roles(PathPrefix="/")["Roles"]}
    arns = []
    for i in range(WARM + ROLES):
        name = f"{PREFIX}{i:02d}"
        if name not in existing:
            iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(aws.task_role_arn))
            )
        arns.append(f"arn:aws:iam::{DESTINATION_ACCOUNT_ID}:role/{name}")
    aws.admin_client("iam", SOURCE_ACCOUNT_ID).put_role_policy(
        RoleName=TASK_ROLE_NAME,
        PolicyName="bench-roles",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Resource": f"arn:aws:iam::{DESTINATION_ACCOUNT_ID}:role/{PREFIX}*",
                    }
                ],
            }
        ),
    )
    write_profiles(
        [Profile(f"{PREFIX}{i:02d}", arn) for i, arn in enumerate(arns)], path=stack.config_file
    )
    return arns


def _traced(hold: Callable[[int, str], Any], arns: list[str], count: int) -> float:
    """Bytes still allocated per role after holding ``count`` more roles."""
    held = [hold(i, arn) for i, arn in enumerate(arns[:WARM])]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held += [hold(WARM + i, arn) for i, arn in enumerate(arns[WARM : WARM + count])]
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del held
    return (after - before) / count


def run(stack: Any) -> Section:
    import aws_assume_role_lib
    import boto3

    import ecs_xrole

    arns = _add_roles(stack)
    region = stack.aws.region
    parent = boto3.Session()
    forms: list[tuple[str, str, int, Callable[[int, str], Any]]] = [
        (
            "ecs-xrole",
            '`ecs_xrole.get_client("sts", role)` (cached by ecs-xrole)',
            ROLES,
            lambda i, arn: ecs_xrole.get_client("sts", arn, role_session_name=SESSION_NAME),
        ),
        (
            "botocore profile",
            'a `boto3.Session(profile_name=...)` and its `.client("sts")` per role',
            ROLES_SLOW,
            lambda i, arn: ready(boto3.Session(profile_name=f"{PREFIX}{i:02d}").client("sts")),
        ),
        (
            "aws-assume-role-lib",
            '`assume_role(parent, role)` and its `.client("sts")` per role',
            ROLES_SLOW,
            lambda i, arn: ready(aws_assume_role_lib.assume_role(parent, arn).client("sts")),
        ),
        (
            "boto3-refresh-session",
            '`RefreshableSession(...)` and its `.client("sts", ...)` per role',
            ROLES_SLOW,
            lambda i, arn: ready(refresh_session_client(refresh_session(arn, region), region)),
        ),
    ]
    rows = []
    per_role: dict[str, float] = {}
    for library, holds, count, hold in forms:
        reset_counters(stack)
        size = _traced(hold, arns, count)
        per_role[library] = size
        rows.append([library, holds, str(count), fmt_bytes(size)])
    ours = per_role["ecs-xrole"]
    for row, library in zip(rows, per_role, strict=True):
        row.append(f"{per_role[library] / ours:.1f}x")
    return Section(
        title=TITLE,
        what=(
            "Python memory still allocated per role added (tracemalloc), once the process holds "
            "a ready client for each role."
        ),
        header=["Library", "Held per role", "Roles traced", "Per role", "Memory / ecs-xrole"],
        rows=rows,
        targets=[
            Target(
                "6. memory per additional destination role",
                None,
                f"{fmt_bytes(ours)} per role",
            )
        ],
    )
