"""The names of the fake AWS: its two accounts, their roles, the cluster, the STS faults.

What :class:`~ecs_xrole.testing.FakeAWS` sets up, for tests that must name it: the source
account holds the task role, the destination account the role the task acts as, a role that
does not trust the task role, one reachable only by chaining, one that requires an external
ID, and an ECS cluster. Plain constants, no imports: a test module can read them at
collection time for nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CHAINED_ROLE_NAME",
    "CLUSTER_NAME",
    "DESTINATION_ACCOUNT_ID",
    "DESTINATION_ROLE_NAME",
    "EXTERNAL_ID",
    "EXTERNAL_ID_ROLE_NAME",
    "REGION",
    "SOURCE_ACCOUNT_ID",
    "STS_FAULTS",
    "TASK_ID",
    "TASK_ROLE_NAME",
    "TASK_ROLE_POLICY_NAME",
    "UNTRUSTING_ROLE_NAME",
    "role_arn",
]

_PARTITION = "aws"

SOURCE_ACCOUNT_ID = "111122223333"
DESTINATION_ACCOUNT_ID = "555566667777"
#: The account named in the untrusting role's trust policy (no such account is set up).
OTHER_ACCOUNT_ID = "444455556666"
REGION = "us-east-1"
TASK_ROLE_NAME = "my-ECS-task-role"
DESTINATION_ROLE_NAME = "destination-account-role"
UNTRUSTING_ROLE_NAME = "untrusting-role"
CHAINED_ROLE_NAME = "chained-role"
EXTERNAL_ID_ROLE_NAME = "external-id-role"
EXTERNAL_ID = "ecs-xrole-demo-id"
CLUSTER_NAME = "destination-cluster"
#: The task ID: ECS names the task role's own session after it.
TASK_ID = "0123456789abcdef0123456789abcdef"
#: The task role's inline policy that allows sts:AssumeRole on the destination roles.
TASK_ROLE_POLICY_NAME = "assume-destination-roles"

#: The faults :meth:`FakeAWS.queue_sts_faults` accepts: name -> (status, type, message).
STS_FAULTS: Mapping[str, tuple[int, str, str]] = {
    "Throttling": (400, "Sender", "Rate exceeded"),
    "InternalError": (500, "Receiver", "An internal error occurred."),
    "ServiceUnavailable": (503, "Receiver", "Service Unavailable"),
    "ExpiredToken": (400, "Sender", "The security token included in the request is expired"),
    "AccessDenied": (403, "Sender", ""),  # message built per request
}


def role_arn(account_id: str, name: str) -> str:
    """The ARN of role ``name`` (path ``/``) in ``account_id``."""
    return f"arn:{_PARTITION}:iam::{account_id}:role/{name}"
