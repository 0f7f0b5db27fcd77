"""An application in an ECS task that works in another AWS account.

The task role (account 111122223333) may assume the destination role (account 555566667777):
see identity-policy.json and trust-policy.json. The role comes from the task definition's
ECS_XROLE_ROLE_ARN (see task-definition.json); the entrypoint has also written it as the
``cross-account`` profile, for the AWS CLI and other tools in the container.

``ecs_xrole.get_session`` takes the task role's credentials from the ECS container endpoint,
assumes the destination role and refreshes the credentials before they expire, so the session
can be kept for the life of the task.
"""

from __future__ import annotations

import os
import sys

import ecs_xrole


def main() -> int:
    role_arn = os.environ.get("ECS_XROLE_ROLE_ARN")
    if not role_arn:
        print("app: set ECS_XROLE_ROLE_ARN to the destination role's ARN", file=sys.stderr)
        return 2
    try:
        session = ecs_xrole.get_session(
            role_arn,
            external_id=os.environ.get("ECS_XROLE_EXTERNAL_ID") or None,
            role_session_name=os.environ.get("ECS_XROLE_ROLE_SESSION_NAME") or None,
        )
        identity = session.client("sts").get_caller_identity()
        clusters = session.client("ecs").list_clusters()["clusterArns"]
    except ecs_xrole.Error as exc:  # says what failed and how to fix it
        print(f"app: {exc}", file=sys.stderr)
        return 1
    print(f"acting as {identity['Arn']} in account {identity['Account']}")
    for arn in clusters:
        print(f"cluster: {arn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
