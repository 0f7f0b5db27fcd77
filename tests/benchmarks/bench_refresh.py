"""3. One hundred API calls on 900-second credentials: how many AssumeRole calls?

botocore refreshes credentials with less than 15 minutes left (and its AssumeRole cache calls
them stale), so credentials that live 15 minutes are renewed on every call. FakeAWS makes every
AssumeRole answer expire 900 seconds after it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench_support import (
    PROFILE,
    Section,
    Target,
    refresh_session,
    refresh_session_client,
    reset_counters,
)

TITLE = "3. 100 API calls on 900-second credentials"
CALLS = 100


def run(stack: Any) -> Section:
    import aws_assume_role_lib
    import boto3

    import ecs_xrole

    role = stack.aws.destination_role_arn
    region = stack.aws.region
    clients: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "ecs-xrole",
            '`ecs_xrole.get_client("sts", role)`',
            lambda: ecs_xrole.get_client("sts", role),
        ),
        (
            "botocore profile",
            f'`boto3.Session(profile_name="{PROFILE}").client("sts")`',
            lambda: boto3.Session(profile_name=PROFILE).client("sts"),
        ),
        (
            "aws-assume-role-lib",
            '`assume_role(boto3.Session(), role).client("sts")`',
            lambda: aws_assume_role_lib.assume_role(boto3.Session(), role).client("sts"),
        ),
        (
            "boto3-refresh-session",
            '`RefreshableSession(...).client("sts", ...)`',
            lambda: refresh_session_client(refresh_session(role, region), region),
        ),
    ]
    rows = []
    ours = -1
    for library, form, make in clients:
        reset_counters(stack)
        stack.aws.sts_lifetime = 900
        client = make()
        for _ in range(CALLS):
            client.get_caller_identity()
        assumes = stack.aws.assume_role_calls
        ours = assumes if ours < 0 else ours
        rows.append([library, form, str(CALLS), str(assumes), f"{assumes / CALLS:.2f}"])
    stack.aws.sts_lifetime = None
    return Section(
        title=TITLE,
        what=(
            "One client, created once, makes 100 `GetCallerIdentity` calls in a row; the count "
            "includes the first AssumeRole."
        ),
        header=["Library", "Client", "API calls", "AssumeRole calls", "Per API call"],
        rows=rows,
        targets=[
            Target(
                "3. 100 calls on 900-second credentials: 1 AssumeRole",
                ours == 1,
                f"{ours} AssumeRole call(s)",
            )
        ],
    )
