"""``ecs-xrole policy``: print the three documents of AWS's cross-account recipe.

For a task role and a destination role it prints the identity policy (attach to the task
role), the trust policy (the destination role's) and a task definition that runs on Fargate.
Each document is valid JSON on its own, so ``--only`` output pipes straight into ``aws iam
put-role-policy`` or ``aws iam create-role``. No network, no files: the documents are built
by :mod:`ecs_xrole._policy`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .. import _policy as policy
from .._environ import resolve_region
from .._validate import check_profile_name, check_region, parse_role_arn
from ..errors import InvalidInputError
from ._common import _add_verbose

#: The names ``--only`` accepts, in printing order, and the key each has under ``--json``.
DOCUMENTS = {
    "identity": "identity_policy",
    "trust": "trust_policy",
    "task-definition": "task_definition",
}


def documents(
    task_role_arn: str,
    role_arn: str | Sequence[str],
    *,
    external_id: str | None = None,
    profile: str | Sequence[str] | None = None,
    family: str = "cross-account-app",
    execution_role_arn: str | None = None,
    image: str | None = None,
    region: str = "us-east-1",
) -> dict[str, dict[str, Any]]:
    """Build the three documents, keyed as under ``--json``.

    ``role_arn`` may be several roles: the identity policy then has one statement per role,
    the trust policy (the same for each role) names the task role, and the task definition
    writes one profile per role (``profile``: one name per role, default
    :func:`ecs_xrole._policy.profile_names`). Pure: no I/O. Raises
    :class:`~ecs_xrole.errors.InvalidInputError` for a bad ARN, external ID, profile, family
    or region.
    """
    task_role = parse_role_arn(task_role_arn, name="--task-role-arn")
    given = [role_arn] if isinstance(role_arn, str) else list(role_arn)
    roles = [parse_role_arn(arn, name="--role-arn") for arn in given]
    names = [profile] if isinstance(profile, str) else profile
    for name in names or ():
        check_profile_name(name, name="--profile")
    if names is not None and len(names) != len(roles):
        raise InvalidInputError(
            "--profile",
            " ".join(names),
            f"{len(names)} profile name(s) for {len(roles)} --role-arn",
            fix="give one --profile per --role-arn, in the same order, or none for the defaults",
        )
    check_region(region, name="--region")
    for role in roles:
        policy.check_same_partition(task_role, role, name="--role-arn")
    return {
        "identity_policy": policy.identity_policy(task_role, roles),
        "trust_policy": policy.trust_policy(task_role, external_id=external_id),
        "task_definition": policy.task_definition(
            task_role,
            roles,
            profile=names,
            family=family,
            external_id=external_id,
            execution_role_arn=execution_role_arn,
            image=image,
            region=region,
        ),
    }


def _headings(args: argparse.Namespace) -> dict[str, str]:
    """One comment block per document: what it is, where it goes, the command that applies it."""
    task_role = parse_role_arn(args.task_role_arn)
    roles = [parse_role_arn(arn) for arn in args.role_arn]
    again = f"ecs-xrole policy --task-role-arn {task_role.arn}"
    again += "".join(f" --role-arn {role.arn}" for role in roles)
    if args.external_id is not None:
        again += f" --external-id {args.external_id}"
    several = len(roles) > 1
    trust_lines = [
        f"# 2. Trust policy: the trust policy of the destination role{'s' if several else ''} "
        + ", ".join(role.arn for role in roles),
        f"#    (in account{'s' if several else ''} "
        f"{', '.join(dict.fromkeys(r.account_id for r in roles))}). "
        "It names the task role as a principal that may assume " + ("each." if several else "it."),
        f"#    {again} --only trust > trust.json",
    ]
    for role in roles:
        trust_lines.append(
            f"#    aws iam update-assume-role-policy --role-name {role.name} "
            "--policy-document file://trust.json"
            + (f"   # in account {role.account_id}" if several else "")
        )
    name = "NAME" if several else roles[0].name
    trust_lines.append(
        f"#    (or, for a new role: aws iam create-role --role-name {name} "
        "--assume-role-policy-document file://trust.json)"
    )
    trust_lines.append(
        "#    update-assume-role-policy replaces the whole trust policy: if the role trusts "
        "others too,\n#    add this statement to its current one (aws iam get-role "
        f"--role-name {name} --query Role.AssumeRolePolicyDocument)."
    )
    return {
        "identity_policy": (
            f"# 1. Identity policy: attach to the task role {task_role.arn}\n"
            f"#    (in account {task_role.account_id}). It lets the task role call "
            "sts:AssumeRole on the destination role"
            + ("s (one statement each).\n" if several else ".\n")
            + f"#    {again} --only identity > identity.json\n"
            f"#    aws iam put-role-policy --role-name {task_role.name} "
            "--policy-name ecs-xrole-assume --policy-document file://identity.json"
        ),
        "trust_policy": "\n".join(trust_lines),
        "task_definition": (
            "# 3. Task definition for Fargate: taskRoleArn is the task role; executionRoleArn\n"
            "#    pulls the image and sends the awslogs log; the container's ECS_XROLE_*\n"
            "#    variables are what `ecs-xrole write-config --from-env` reads.\n"
            f"#    {again} --only task-definition > taskdef.json\n"
            f"#    aws logs create-log-group --log-group-name /ecs/{args.family}\n"
            "#    aws ecs register-task-definition --cli-input-json file://taskdef.json"
        ),
    }


def _default_region() -> str:
    """The region for the task definition when --region is not given: the AWS CLI's."""
    found = resolve_region(None)  # no task metadata: policy runs where the roles are made
    return found[0] if found is not None else "us-east-1"


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """The handler of ``ecs-xrole policy``: print the documents; return the exit code (0).

    Raises :class:`~ecs_xrole.errors.InvalidInputError` (exit 2) for bad input.
    """
    out = out or sys.stdout
    docs = documents(
        args.task_role_arn,
        args.role_arn,
        external_id=args.external_id,
        profile=args.profile,
        family=args.family,
        execution_role_arn=args.execution_role_arn,
        image=args.image,
        region=args.region or _default_region(),
    )
    if args.only:
        out.write(json.dumps(docs[DOCUMENTS[args.only]], indent=2) + "\n")
    elif args.json:
        out.write(json.dumps(docs, indent=2) + "\n")
    else:
        headings = _headings(args)
        blocks = [f"{headings[key]}\n{json.dumps(doc, indent=2)}" for key, doc in docs.items()]
        out.write("\n\n".join(blocks) + "\n")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``policy`` subcommand (called by :func:`ecs_xrole.cli.build_parser`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "policy",
        help="print the identity policy, trust policy and task definition for two roles",
        description=(
            "Print the three documents of AWS's cross-account recipe for a task role and a\n"
            "destination role: the identity policy to attach to the task role, the trust policy\n"
            "of the destination role, and a Fargate task definition. Each is valid JSON; by\n"
            "default each comes under a comment saying where it goes. Makes no AWS call."
        ),
        epilog=(
            "examples:\n"
            "  ecs-xrole policy \\\n"
            "      --task-role-arn arn:aws:iam::111122223333:role/my-ECS-task-role \\\n"
            "      --role-arn arn:aws:iam::555566667777:role/destination-account-role\n"
            "  ecs-xrole policy ... --only trust > trust.json\n"
            "  ecs-xrole policy --task-role-arn ARN --role-arn ARN1 --role-arn ARN2 "
            "--only identity\n"
            "  ecs-xrole policy ... --json | jq .identity_policy"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--task-role-arn",
        required=True,
        metavar="ARN",
        help="the ECS task role (the source, e.g. arn:aws:iam::111122223333:role/my-ECS-task-role)",
    )
    parser.add_argument(
        "--role-arn",
        required=True,
        action="append",
        metavar="ARN",
        help="the destination role in the other account (repeat it for several roles: one "
        "identity statement and one profile per role)",
    )
    parser.add_argument(
        "--external-id",
        metavar="ID",
        help="require this sts:ExternalId in the trust policy (and pass it in the task definition)",
    )
    parser.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help="the profile the task definition has written (default: cross-account; with "
        "several roles, each role's name; repeat it to give one name per role)",
    )
    parser.add_argument(
        "--family",
        default="cross-account-app",
        metavar="NAME",
        help="the task definition family (default: %(default)s)",
    )
    parser.add_argument(
        "--execution-role-arn",
        metavar="ARN",
        help="the task execution role (default: ecsTaskExecutionRole in the task role's account)",
    )
    parser.add_argument(
        "--image",
        metavar="IMAGE",
        help="the container image (default: <family>:latest in the task account's ECR)",
    )
    parser.add_argument(
        "--region",
        metavar="REGION",
        help="the region of the image and the log group (default: AWS_REGION, "
        "AWS_DEFAULT_REGION, else us-east-1)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--only",
        choices=list(DOCUMENTS),
        help="print only this document, as plain JSON (for piping into the AWS CLI)",
    )
    output.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"identity_policy", "trust_policy", "task_definition"}',
    )
    _add_verbose(parser)
    parser.set_defaults(func=run)
    return parser
