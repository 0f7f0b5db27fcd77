"""``ecs-xrole policy``: print the three documents of AWS's cross-account recipe.

For a task role and a destination role it prints the identity policy (attach to the task role),
the trust policy (the destination role's), and a task-definition skeleton. Each document is
valid JSON on its own, so ``--only`` output pipes straight into ``aws iam put-role-policy`` or
``aws iam create-role``. No network, no files: the documents are built by :mod:`ecs_xrole.policy`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from . import policy
from .validate import check_profile_name, parse_role_arn

__all__ = ["DOCUMENTS", "add_parser", "documents", "run"]

#: The names ``--only`` accepts, in printing order, and the key each has under ``--json``.
DOCUMENTS = {
    "identity": "identity_policy",
    "trust": "trust_policy",
    "task-definition": "task_definition",
}


def documents(
    task_role_arn: str,
    role_arn: str,
    *,
    external_id: str | None = None,
    profile: str = "cross-account",
    family: str = "cross-account-app",
) -> dict[str, dict[str, Any]]:
    """Build the three documents, keyed as under ``--json``.

    Pure: no I/O. Raises :class:`~ecs_xrole.errors.InvalidInputError` for a bad ARN, external
    ID, profile or family name.
    """
    task_role = parse_role_arn(task_role_arn, name="--task-role-arn")
    role = parse_role_arn(role_arn, name="--role-arn")
    check_profile_name(profile, name="--profile")
    return {
        "identity_policy": policy.identity_policy(task_role, role),
        "trust_policy": policy.trust_policy(task_role, external_id=external_id),
        "task_definition": policy.task_definition(
            task_role, role, profile=profile, family=family, external_id=external_id
        ),
    }


def _headings(args: argparse.Namespace) -> dict[str, str]:
    """One comment block per document: what it is, where it goes, the command that applies it."""
    task_role = parse_role_arn(args.task_role_arn)
    role = parse_role_arn(args.role_arn)
    again = f"ecs-xrole policy --task-role-arn {task_role.arn} --role-arn {role.arn}"
    if args.external_id is not None:
        again += f" --external-id {args.external_id}"
    return {
        "identity_policy": (
            f"# 1. Identity policy: attach to the task role {task_role.arn}\n"
            f"#    (in account {task_role.account_id}). It lets the task role call "
            "sts:AssumeRole on the destination role.\n"
            f"#    {again} --only identity > identity.json\n"
            f"#    aws iam put-role-policy --role-name {task_role.name} "
            "--policy-name ecs-xrole-assume --policy-document file://identity.json"
        ),
        "trust_policy": (
            f"# 2. Trust policy: the trust policy of the destination role {role.arn}\n"
            f"#    (in account {role.account_id}). It names the task role as a principal "
            "that may assume it.\n"
            f"#    {again} --only trust > trust.json\n"
            f"#    aws iam update-assume-role-policy --role-name {role.name} "
            "--policy-document file://trust.json\n"
            f"#    (or, for a new role: aws iam create-role --role-name {role.name} "
            "--assume-role-policy-document file://trust.json)"
        ),
        "task_definition": (
            "# 3. Task definition skeleton: taskRoleArn is the task role; the container's\n"
            "#    ECS_XROLE_* variables are what `ecs-xrole write-config --from-env` reads.\n"
            f"#    {again} --only task-definition > taskdef.json\n"
            "#    aws ecs register-task-definition --cli-input-json file://taskdef.json"
        ),
    }


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
            "of the destination role, and a task-definition skeleton. Each is valid JSON; by\n"
            "default each comes under a comment saying where it goes. Makes no AWS call."
        ),
        epilog=(
            "examples:\n"
            "  ecs-xrole policy \\\n"
            "      --task-role-arn arn:aws:iam::111122223333:role/my-ECS-task-role \\\n"
            "      --role-arn arn:aws:iam::555566667777:role/destination-account-role\n"
            "  ecs-xrole policy ... --only trust > trust.json\n"
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
        metavar="ARN",
        help="the destination role in the other account",
    )
    parser.add_argument(
        "--external-id",
        metavar="ID",
        help="require this sts:ExternalId in the trust policy (and pass it in the task definition)",
    )
    parser.add_argument(
        "--profile",
        default="cross-account",
        metavar="NAME",
        help="the profile named in the task definition's ECS_XROLE_PROFILE (default: %(default)s)",
    )
    parser.add_argument(
        "--family",
        default="cross-account-app",
        metavar="NAME",
        help="the task definition family (default: %(default)s)",
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
    # -v after the subcommand too, as the built-in subcommands accept (SUPPRESS keeps a -v
    # given before it).
    parser.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="log more to stderr"
    )
    parser.set_defaults(func=run)
    return parser
