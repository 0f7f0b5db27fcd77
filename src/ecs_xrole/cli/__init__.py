"""The command-line tool: ``ecs-xrole`` and ``python -m ecs_xrole``.

:func:`build_parser` joins the commands, one module each in this package (write-config,
whoami and credential-process directly; doctor, demo, policy, exec, serve and health plugged
in by name), and :func:`main`, the console script, runs one. It exists to keep start-up
light: a plain ``write-config``, which runs at every container start, is parsed without
argparse and never imports boto3 or botocore; every other command imports what it needs when
it runs. Exit codes: 0 success, 1 the operation failed, 2 bad usage or input. See
docs/design.md, "The command line".
"""

from __future__ import annotations

import sys

# write-config starts in every container: a plain write-config is parsed without argparse
# (see write_config._parse_write_config_fast), and _config and _validate are standard library
# only; every other command imports what it needs (argparse, json, logging, boto3...) when it
# runs.
from .._version import __version__
from ..errors import ConfigFileBusyError, ConfigFileError, Error, InvalidInputError
from ._common import EXIT_FAILED, EXIT_USAGE, _add_verbose, _opt_in
from .credential_process import _add_credential_process
from .whoami import _add_whoami
from .write_config import _add_write_config, _parse_write_config_fast, _run_write_config

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

_EPILOG = """\
exit codes:
  0  success
  1  the operation failed (for example AssumeRole was denied, or --check found a difference)
  2  bad usage or input, or a config file that cannot be read, parsed or written (nothing
     was changed)
"""

# Subcommands that live in other modules. build_parser imports each one that is installed and
# calls its ``add_parser(subparsers)``, which adds the subcommand and sets ``func`` (the handler,
# ``func(args) -> exit code``) with ``set_defaults``. Importing these modules must stay light
# (standard library only at import time; boto3 and botocore are imported inside the handlers),
# because build_parser runs for --help and for their own commands (main leaves them out when
# the command is one of this module's).
_PLUGGED = (
    "ecs_xrole.cli.doctor",
    "ecs_xrole.cli.demo",
    "ecs_xrole.cli.policy",
    "ecs_xrole.cli.exec",
    "ecs_xrole.cli.serve",
    "ecs_xrole.cli.health",
)
_BUILTIN = frozenset({"write-config", "whoami", "credential-process"})


# --------------------------------------------------------------------------------------------
# The parser and main


def build_parser(*, plugged: bool = True) -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand.

    With ``plugged=False`` the subcommands of other modules are left out (``main`` does that
    when the command is one of this module's, so write-config does not import them).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="ecs-xrole",
        description="Act as an IAM role in another AWS account from an Amazon ECS task.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbose(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_write_config(subparsers)
    _add_whoami(subparsers)
    _add_credential_process(subparsers)
    if plugged:
        import importlib
        import importlib.util
    for module_name in _PLUGGED if plugged else ():
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    # write-config runs at every container start: its plain form skips argparse and logging
    # (it logs nothing at WARNING and above), and the others skip the other modules' commands.
    fast = _parse_write_config_fast(words)
    if fast is not None:
        return _run(_run_write_config, fast)
    import logging

    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(plugged=command not in _BUILTIN)
    args = parser.parse_args(words)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="ecs-xrole: %(levelname)s: %(message)s"
    )
    if level <= logging.INFO:
        # Before any request: botocore and urllib3 log secrets at DEBUG (see redaction).
        from .._redaction import install as install_log_redaction

        install_log_redaction()
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _run(func, args)


def _run(func: Callable[[Any], int], args: Any) -> int:
    """Run a command's handler; map ecs-xrole's errors to exit codes and messages."""
    try:
        with _opt_in(args):
            code: int = func(args)
    except ConfigFileBusyError as exc:  # another writer holds the lock: may pass on a retry
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (InvalidInputError, ConfigFileError) as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Error as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return code
