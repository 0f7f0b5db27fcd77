"""The command-line tool: ``ecs-xrole`` and ``python -m ecs_xrole``.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or input. Logging goes to stderr
through :mod:`logging`; ``-v`` raises the level. Subcommands import what they need when they
run, so ``write-config`` never imports boto3 or botocore.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ._version import __version__
from .errors import Error, InvalidInputError

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_EPILOG = """\
exit codes:
  0  success
  1  the operation failed (for example AssumeRole was denied, or --check found a difference)
  2  bad usage or input (nothing was changed)
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ecs-xrole",
        description="Act as an IAM role in another AWS account from an Amazon ECS task.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more to stderr (-vv for debug)"
    )
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, stream=sys.stderr, format="ecs-xrole: %(levelname)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = func(args)
    except InvalidInputError as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Error as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return code
