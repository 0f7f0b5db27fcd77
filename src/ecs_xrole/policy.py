"""The three documents of AWS's cross-account recipe, built from real ARNs.

1. the identity policy that lets the task role call ``sts:AssumeRole`` on the destination role;
2. the destination role's trust policy naming the task role (with an ``sts:ExternalId``
   condition when an external ID is used);
3. a task-definition skeleton whose ``taskRoleArn`` is the task role.

Pure functions returning dicts ready for ``json.dumps``; standard library only.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidInputError
from .validate import RoleArn, check_external_id, parse_role_arn

__all__ = [
    "identity_policy",
    "role_arn_from_caller",
    "task_definition",
    "trust_policy",
]

_ASSUMED_ROLE = re.compile(
    r"arn:(?P<partition>[a-z-]+):sts::(?P<account>\d{12}):assumed-role/(?P<name>[\w+=,.@-]+)/.+",
    re.ASCII,
)


def role_arn_from_caller(caller_arn: str) -> RoleArn:
    """Turn a caller ARN (a role ARN, or an STS ``assumed-role`` session ARN) into a role ARN.

    An assumed-role ARN does not carry the role's path; the result then has path ``/``.
    Raises :class:`InvalidInputError` for other principals (users, root).
    """
    match = _ASSUMED_ROLE.fullmatch(caller_arn)
    if match is not None:
        return parse_role_arn(
            f"arn:{match['partition']}:iam::{match['account']}:role/{match['name']}",
            name="caller_arn",
        )
    return parse_role_arn(caller_arn, name="caller_arn")


def identity_policy(task_role_arn: str | RoleArn, role_arn: str | RoleArn) -> dict[str, Any]:
    """The identity policy for the task role: allow ``sts:AssumeRole`` on ``role_arn``."""
    parse_role_arn(task_role_arn, name="task_role_arn")
    target = parse_role_arn(role_arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AssumeCrossAccountRole",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": target.arn,
            }
        ],
    }


def trust_policy(task_role_arn: str | RoleArn, *, external_id: str | None = None) -> dict[str, Any]:
    """The destination role's trust policy: let the task role assume it.

    With ``external_id``, the statement requires it through an ``sts:ExternalId`` condition.
    """
    source = parse_role_arn(task_role_arn, name="task_role_arn")
    statement: dict[str, Any] = {
        "Sid": "TrustEcsTaskRole",
        "Effect": "Allow",
        "Principal": {"AWS": source.arn},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {
            "StringEquals": {"sts:ExternalId": check_external_id(external_id)}
        }
    return {"Version": "2012-10-17", "Statement": [statement]}


def task_definition(
    task_role_arn: str | RoleArn,
    role_arn: str | RoleArn,
    *,
    family: str = "cross-account-app",
    image: str = "public.ecr.aws/docker/library/python:3.12-slim",
    profile: str = "cross-account",
    external_id: str | None = None,
) -> dict[str, Any]:
    """A minimal task definition whose ``taskRoleArn`` is the task role.

    Its container carries the ``ECS_XROLE_*`` variables that ``write-config --from-env`` reads.
    """
    source = parse_role_arn(task_role_arn, name="task_role_arn")
    target = parse_role_arn(role_arn)
    if not family or len(family) > 255:
        raise InvalidInputError("family", family, "must be 1-255 characters", fix="pass a name")
    environment = [
        {"name": "ECS_XROLE_ROLE_ARN", "value": target.arn},
        {"name": "ECS_XROLE_PROFILE", "value": profile},
    ]
    if external_id is not None:
        environment.append(
            {"name": "ECS_XROLE_EXTERNAL_ID", "value": check_external_id(external_id)}
        )
    return {
        "family": family,
        "taskRoleArn": source.arn,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": "app",
                "image": image,
                "essential": True,
                "environment": environment,
            }
        ],
    }
