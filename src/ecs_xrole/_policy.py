"""The three documents of AWS's cross-account recipe, built from real ARNs.

1. the identity policy that lets the task role call ``sts:AssumeRole`` on the destination role;
2. the destination role's trust policy naming the task role (with an ``sts:ExternalId``
   condition when an external ID is used);
3. a task definition whose ``taskRoleArn`` is the task role, ready for Fargate.

Pure functions returning dicts ready for ``json.dumps``; standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ._environ import ENV_PREFIX, profile_env_name
from ._validate import (
    RoleArn,
    check_external_id,
    check_profile_name,
    check_region,
    parse_role_arn,
)
from .errors import InvalidInputError

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


#: What to do when the caller and the role are in different partitions.
PARTITION_FIX = (
    "assume the role with credentials from its own partition (for aws-cn, a task running in "
    "a China region; for aws-us-gov, one in GovCloud), or use a destination role in the "
    "caller's partition"
)


def _partition_of(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" else None


def cross_partition(caller_arn: str | RoleArn | None, role_arn: str | RoleArn) -> str | None:
    """Why ``caller_arn`` can never assume ``role_arn`` (different partitions), or ``None``."""
    caller = str(caller_arn) if caller_arn is not None else None
    target = parse_role_arn(role_arn)
    partition = _partition_of(caller)
    if partition is None or partition == target.partition:
        return None
    return (
        f"{caller} is in partition {partition!r} and {target} in {target.partition!r}: IAM "
        "roles cannot be assumed across partitions, and no policy can allow it"
    )


def check_same_partition(
    task_role_arn: str | RoleArn, role_arn: str | RoleArn, *, name: str = "role_arn"
) -> None:
    """Raise :class:`InvalidInputError` (named ``name``) when the two roles are in different
    partitions: no identity or trust policy can make that AssumeRole work."""
    problem = cross_partition(task_role_arn, role_arn)
    if problem is not None:
        raise InvalidInputError(name, str(role_arn), problem, fix=PARTITION_FIX)


def _roles(role_arn: str | RoleArn | Sequence[str | RoleArn]) -> list[RoleArn]:
    """One or several destination roles, parsed; a role given twice is refused."""
    given = [role_arn] if isinstance(role_arn, (str, RoleArn)) else list(role_arn)
    if not given:
        raise InvalidInputError(
            "role_arn", role_arn, "no destination role given", fix="pass at least one role ARN"
        )
    roles = [parse_role_arn(arn) for arn in given]
    seen: set[str] = set()
    for role in roles:
        if role.arn in seen:
            raise InvalidInputError(
                "role_arn", role.arn, "it is given twice", fix="give each role once"
            )
        seen.add(role.arn)
    return roles


def identity_policy(
    task_role_arn: str | RoleArn, role_arn: str | RoleArn | Sequence[str | RoleArn]
) -> dict[str, Any]:
    """The identity policy for the task role: allow ``sts:AssumeRole`` on ``role_arn``.

    ``role_arn`` may be a list: the policy then has one statement per role (``Sid``
    ``AssumeCrossAccountRole1``, ``2``...), in the order given. Raises
    :class:`InvalidInputError` when a role is in another partition than the task role.
    """
    parse_role_arn(task_role_arn, name="task_role_arn")
    targets = _roles(role_arn)
    for target in targets:
        check_same_partition(task_role_arn, target)
    numbered = len(targets) > 1
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"AssumeCrossAccountRole{index if numbered else ''}",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": target.arn,
            }
            for index, target in enumerate(targets, 1)
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


def _dns_suffix(partition: str) -> str:
    return "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


def profile_names(roles: Sequence[str | RoleArn]) -> list[str]:
    """Default profile names: ``cross-account`` for one role; for several, each role's name
    (``<name>-<account>`` where two roles share a name)."""
    parsed = [parse_role_arn(arn) for arn in roles]
    if len(parsed) == 1:
        return ["cross-account"]
    names = [role.name for role in parsed]
    return [
        role.name if names.count(role.name) == 1 else f"{role.name}-{role.account_id}"
        for role in parsed
    ]


def task_definition(
    task_role_arn: str | RoleArn,
    role_arn: str | RoleArn | Sequence[str | RoleArn],
    *,
    family: str = "cross-account-app",
    image: str | None = None,
    profile: str | Sequence[str] | None = None,
    external_id: str | None = None,
    execution_role_arn: str | RoleArn | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """A task definition that registers and runs on Fargate, whose ``taskRoleArn`` is the task
    role.

    Fargate's rules are met: ``requiresCompatibilities`` ``FARGATE``, ``networkMode``
    ``awsvpc``, task-level ``cpu``/``memory`` (256/512, a valid pair), and an
    ``executionRoleArn`` (default: ``ecsTaskExecutionRole`` in the task role's account), which
    Fargate needs to pull a private ECR image and to send the ``awslogs`` log configuration to
    the log group ``/ecs/<family>`` in ``region``. ``image`` defaults to ``<family>:latest`` in
    the task account's ECR repository in ``region``.

    The container carries the ``ECS_XROLE_*`` variables that ``write-config --from-env``
    reads: for one role ``ECS_XROLE_ROLE_ARN`` and ``ECS_XROLE_PROFILE`` (``profile``, default
    ``cross-account``); for several, ``ECS_XROLE_PROFILES`` and ``ECS_XROLE_<NAME>_ROLE_ARN``
    per profile (``profile`` is then a list with one name per role; default
    :func:`profile_names`). ``external_id`` applies to every role. Pure: no I/O.
    """
    source = parse_role_arn(task_role_arn, name="task_role_arn")
    targets = _roles(role_arn)
    check_region(region, name="region")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", family):
        raise InvalidInputError(
            "family",
            family,
            "ECS allows 1-255 letters, digits, hyphens and underscores",
            fix="pass a name such as cross-account-app",
        )
    if profile is None:
        names = profile_names(targets)
    else:
        names = [profile] if isinstance(profile, str) else list(profile)
    if len(names) != len(targets):
        raise InvalidInputError(
            "profile",
            names,
            f"{len(names)} profile name(s) for {len(targets)} role(s)",
            fix="give one profile name per role, in the same order, or none for the defaults",
        )
    for name in names:
        check_profile_name(name, name="profile")
    if len({profile_env_name(name) for name in names}) != len(names):
        raise InvalidInputError(
            "profile",
            names,
            "two profile names share one ECS_XROLE_<NAME>_* variable name",
            fix="rename one of them",
        )
    execution = (
        parse_role_arn(execution_role_arn, name="execution_role_arn").arn
        if execution_role_arn is not None
        else f"arn:{source.partition}:iam::{source.account_id}:role/ecsTaskExecutionRole"
    )
    if image is None:
        image = (
            f"{source.account_id}.dkr.ecr.{region}.{_dns_suffix(source.partition)}/{family}:latest"
        )
    extra = {} if external_id is None else {"EXTERNAL_ID": check_external_id(external_id)}
    environment: list[dict[str, str]] = []
    if len(targets) == 1:
        environment.append({"name": "ECS_XROLE_ROLE_ARN", "value": targets[0].arn})
        environment.append({"name": "ECS_XROLE_PROFILE", "value": names[0]})
        environment += [{"name": f"ECS_XROLE_{k}", "value": v} for k, v in extra.items()]
    else:
        environment.append({"name": "ECS_XROLE_PROFILES", "value": " ".join(names)})
        for name, target in zip(names, targets, strict=True):
            prefix = f"{ENV_PREFIX}{profile_env_name(name)}_"
            environment.append({"name": f"{prefix}ROLE_ARN", "value": target.arn})
            environment += [{"name": prefix + k, "value": v} for k, v in extra.items()]
    return {
        "family": family,
        "taskRoleArn": source.arn,
        "executionRoleArn": execution,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": "app",
                "image": image,
                "essential": True,
                "environment": environment,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/{family}",
                        "awslogs-region": region,
                        "awslogs-stream-prefix": "ecs",
                    },
                },
            }
        ],
    }
