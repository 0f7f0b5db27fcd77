"""``ecs-xrole credential-process``: the one contract that prints credentials."""

from __future__ import annotations

import sys

from .._validate import (
    parse_role_arn,
)
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    _add_role_options,
    _add_source_profile,
    _add_verbose,
    role_kwargs,
)

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    import argparse
    from datetime import datetime
    from typing import Any

# --------------------------------------------------------------------------------------------
# credential-process


_CREDENTIAL_PROCESS_EPILOG = """\
exit codes:
  0  the credentials were printed
  1  no credentials: the task role's endpoint failed, or AssumeRole was refused (the reason
     goes to stderr; the AWS tool that ran this command shows it)
  2  bad usage or input (a malformed --role-arn, --duration-seconds outside 900-3600, ...)
"""


def _add_credential_process(subparsers: Any) -> None:
    import argparse

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "credential-process",
        help="print the destination role's credentials in the AWS credential_process format",
        description=(
            "Assume the role from the ECS task role and print its temporary credentials as the\n"
            'AWS credential_process JSON: {"Version": 1, "AccessKeyId", "SecretAccessKey",\n'
            '"SessionToken", "Expiration"}. This is the only command that prints secrets,\n'
            "because that is its contract: run it from a credential_process line (see\n"
            "write-config --credential-process), not by hand."
        ),
        epilog=_CREDENTIAL_PROCESS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_role_options(parser, required=True)
    _add_source_profile(parser)
    _add_verbose(parser)
    parser.set_defaults(func=_run_credential_process)


def _iso_utc(moment: datetime) -> str:
    from datetime import timezone

    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_credential_process(args: argparse.Namespace) -> int:
    role_arn = parse_role_arn(args.role_arn, name="--role-arn").arn
    kwargs = role_kwargs(args)

    import json

    from botocore.exceptions import BotoCoreError, ClientError

    from .. import _session as sessions

    try:
        credentials = sessions.get_credentials(role_arn, **kwargs)
        frozen = credentials.get_frozen_credentials()
    except (BotoCoreError, ClientError) as exc:
        print(f"ecs-xrole: error: cannot assume {role_arn}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    document: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": frozen.access_key,
        "SecretAccessKey": frozen.secret_key,
        "SessionToken": frozen.token,
    }
    expiry = sessions.credential_expiry(credentials)
    if expiry is not None:
        document["Expiration"] = _iso_utc(expiry)
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
    return EXIT_OK
