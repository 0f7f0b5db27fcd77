"""``python -m ecs_xrole.testing serve``: the stand-ins for a shell, until stopped.

Starts :func:`~ecs_xrole.testing._stack.local_stack`, writes the task's environment as
``export`` lines a POSIX shell can source (``--env-file``) and prints them, and serves until
SIGINT, SIGTERM or SIGHUP; then it stops both servers and removes everything it created. The
environment has its own ``HOME``, ``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` in
a temporary directory, so nothing run from that shell touches the real ``~/.aws``, and
``unset`` lines for the variables that would win over the container endpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TextIO

from ..errors import Error, InvalidInputError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def export_lines(environ: dict[str, str], unset: Sequence[str], *, comments: Sequence[str]) -> str:
    """The text of the env file: comments, ``unset`` lines, then one ``export`` per variable.

    Values are quoted for a POSIX shell (``sh``, ``bash``, ``zsh``). Pure.
    """
    lines = [f"# {line}" for line in comments]
    if unset:
        lines.append("unset " + " ".join(sorted(unset)))
    lines += [f"export {name}={shlex.quote(environ[name])}" for name in sorted(environ)]
    return "\n".join(lines) + "\n"


def _exists(path: str) -> InvalidInputError:
    return InvalidInputError(
        "--env-file",
        path,
        "the file exists, and serve only writes a file of its own (it removes it on exit)",
        fix="remove it (a serve stopped with SIGKILL leaves it behind) or choose another path",
    )


def _create_private(path: str, text: str) -> None:
    """Create ``path`` (it must not exist) with mode 0600: it holds the endpoint's token."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise InvalidInputError(
            "--env-file",
            path,
            f"it cannot be created: {exc.strerror or exc}",
            fix="choose a path in a writable directory",
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP; the previous handlers come back on exit."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(env_file: str | None, *, out: TextIO, err: TextIO) -> int:
    """Run the stand-ins until a stop signal; return the exit code (0).

    Does I/O: binds two loopback ports, creates a temporary directory and ``env_file``, and
    removes both before returning. Raises :class:`~ecs_xrole.errors.Error` when moto is not
    installed, :class:`~ecs_xrole.errors.InvalidInputError` when ``env_file`` exists.
    """
    if importlib.util.find_spec("moto") is None:
        raise Error(
            "serve needs moto, which is not installed",
            fix="install the local extra: pip install '.[local]' in a checkout of ecs-xrole",
        )
    from ._stack import REMOVED_VARIABLES, local_stack
    from .aws import CLUSTER_NAME

    path = os.path.abspath(env_file) if env_file else None
    if path is not None and os.path.lexists(path):
        raise _exists(path)  # before anything starts (checked again when it is created)
    with contextlib.ExitStack() as cleanup, _stop_on_signals() as stop:
        base = tempfile.mkdtemp(prefix="ecs-xrole-serve-")
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        home = os.path.join(base, "home")
        os.mkdir(home, 0o700)
        stack = cleanup.enter_context(local_stack(tmp_dir=base))
        environ = dict(stack.environ, HOME=home)
        unset = [name for name in stack.variables_to_remove() if name not in environ]
        unset = sorted(set(unset) | {n for n in REMOVED_VARIABLES if n not in environ})
        aws = stack.aws
        comments = [
            "ecs-xrole test stand-ins: source this file in a POSIX shell (. ./FILE), e.g. a new",
            "`bash`; exit that shell when done. Your own ~/.aws is not used (HOME is a",
            "temporary directory).",
            f"task role (the endpoint serves it): {aws.task_role_arn}",
            f"destination role, trusts the task role: {aws.destination_role_arn}",
            f"destination role that does not: {aws.untrusting_role_arn}",
            f"ECS cluster in the destination account: {CLUSTER_NAME}",
            f"fake AWS {aws.endpoint_url}, credentials endpoint {stack.endpoint.base_url}",
        ]
        text = export_lines(environ, unset, comments=comments)
        if path is not None:
            _create_private(path, text)
            cleanup.callback(_remove, path)
        out.write(text)
        out.flush()
        where = f"; the same lines are in {path}" if path else ""
        err.write(
            f"ecs-xrole testing serve: running (pid {os.getpid()}){where}. "
            "Stop with Ctrl-C or SIGTERM.\n"
        )
        err.flush()
        while not stop.wait(0.5):
            pass
        err.write("ecs-xrole testing serve: stopping; removing what it created\n")
        err.flush()
    return 0


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ecs_xrole.testing",
        description="The ecs-xrole test stand-ins (a fake AWS and an ECS credentials endpoint\n"
        "on loopback), for a shell.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = commands.add_parser(
        "serve",
        help="run the stand-ins and print the environment of a task that uses them",
        description=(
            "Start a fake AWS with two accounts and an ECS credentials endpoint on loopback,\n"
            "write the environment of a task using them as `export` lines (to --env-file and\n"
            "stdout), and serve until SIGINT, SIGTERM or SIGHUP; then stop and remove every\n"
            "file it made. The environment has its own HOME, AWS_CONFIG_FILE and\n"
            "AWS_SHARED_CREDENTIALS_FILE in a temporary directory: your ~/.aws is not used."
        ),
        epilog=(
            "example:\n"
            "  python -m ecs_xrole.testing serve --env-file stack.env &\n"
            "  bash -c '. ./stack.env && aws sts get-caller-identity'\n"
            "  kill %1\n\n"
            "exit codes: 0 stopped by a signal, 1 moto is missing, 2 bad usage (the env file\n"
            "exists)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="also write the export lines to FILE (created 0600, must not exist; removed on exit)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m ecs_xrole.testing`` command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        return serve(args.env_file, out=sys.stdout, err=sys.stderr)
    except InvalidInputError as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return 2
    except Error as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return 1
