"""``ecs-xrole serve``: the credentials endpoint of ``exec`` as a long-running sidecar.

Containers of one ``awsvpc`` task share ``127.0.0.1``: a sidecar running ``serve`` gives every
app container the destination roles, one path per role (``/role/NAME``), through the two
variables every AWS SDK reads. The token lives in a file (created 0600 when missing; a fresh
token at every start) that the app containers read through a shared volume; serve also prints
it as ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` for SDK releases that do not read the file (unless
``--token-file-only``). Standard library only at import time.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import signal
import stat
import sys
from typing import Any

from .._endpoint import FULL_URI, TOKEN, TOKEN_FILE
from .._validate import parse_role_arn
from ..errors import InvalidInputError
from ._common import EXIT_FAILED, EXIT_OK
from ._common import role_kwargs as assume_kwargs
from .exec import (
    ASSUME_FLAGS,
    add_assume_options,
    add_metrics_option,
    add_token_file_only,
    load_role,
    metrics_for,
    new_token,
    profile_kwargs,
    refuse_mixed,
    source_for,
)

log = logging.getLogger("ecs_xrole.serve_command")

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

_DESCRIPTION = """\
Serve destination roles' credentials in the ECS container-endpoint shape, for the app
containers of a task (containers of an awsvpc task share 127.0.0.1), one path per role:
    http://127.0.0.1:PORT/role/NAME

Every role is assumed before the endpoint starts (exit 1 with the reason otherwise), then
kept fresh in the background and still served while STS or the ECS agent is down. The token
is a fresh 256-bit one at every start, written into --token-file (created with mode 0600
when it does not exist; an existing file keeps its owner and mode): a value captured before
a restart is refused after it, and SDKs re-read the file on every fetch. An app container
sets the variables printed at start, for its role:
    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/role/NAME
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<the token file, as mounted in that container>
    AWS_CONTAINER_AUTHORIZATION_TOKEN=<the token: what the file holds>
(SDK releases before late 2023 read only the last one: AWS CLI v2 before 2.15, the Go SDKs
of Debian 12; an entrypoint can set it from the file, see docs/how-to/every-process.md;
--token-file-only leaves it out of the output), and must not set
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (every SDK but Go's prefers it): ECS sets it in
containers of a task with a task role, so unset it in the app's entrypoint.
"""

_EPILOG = """\
--from-env reads the roles from write-config's ECS_XROLE_* variables: ECS_XROLE_ROLE_ARN
(served as /role/<ECS_XROLE_PROFILE, default cross-account>) and/or ECS_XROLE_PROFILES with
ECS_XROLE_<NAME>_ROLE_ARN ... (each served as /role/<name>, with its own options).

GET http://127.0.0.1:PORT/healthz answers without the token: 200 while every role's
credentials are fresh ("ok") or refreshes fail but they are still valid ("degraded"), 503
once a role has nothing valid to serve ("failing"); no secret in it. `ecs-xrole health
--url http://127.0.0.1:PORT` reads it (a container healthCheck).

Stops cleanly on SIGTERM and SIGINT.

exit codes:
  0  stopped by SIGTERM or SIGINT
  1  a role cannot be assumed, or the address cannot be bound
  2  bad usage or input (an unsafe token file included)
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand (called by :func:`ecs_xrole.cli.build_parser`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve roles' credentials to the task's other containers (a sidecar)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        required=True,
        help="where to listen, e.g. 127.0.0.1:9911 ([::1]:9911; port 0: any free port)",
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        required=True,
        help="the token file: a fresh token is written into it at every start (created 0600 "
        "when missing; refused when others can read it)",
    )
    parser.add_argument(
        "--role",
        metavar="NAME=ARN",
        action="append",
        default=[],
        help="serve ARN at /role/NAME (repeatable)",
    )
    parser.add_argument(
        "--from-env", action="store_true", help="take the roles from ECS_XROLE_* variables"
    )
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow a --listen address other than loopback (SDKs accept plain-http "
        "endpoints only on loopback, 169.254.170.2 and 169.254.170.23)",
    )
    add_token_file_only(parser, "what serve prints")
    add_metrics_option(parser)
    add_assume_options(parser)
    parser.set_defaults(func=_run_serve)
    return parser


def parse_listen(value: str, *, allow_non_loopback: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT``) as (host, port); the host must be an IP literal (or
    ``localhost``) and loopback unless ``allow_non_loopback``. Raises
    :class:`~ecs_xrole.errors.InvalidInputError`."""
    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidInputError(
            "--listen", value, "expected HOST:PORT", fix="for example 127.0.0.1:9911"
        )
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInputError(
            "--listen",
            value,
            "the host must be an IP address (names are not resolved)",
            fix="use 127.0.0.1 or [::1]",
        ) from None
    if not address.is_loopback and not allow_non_loopback:
        raise InvalidInputError(
            "--listen",
            value,
            "it is not a loopback address: other hosts could ask for credentials",
            fix="listen on 127.0.0.1 (containers of an awsvpc task share it), or pass "
            "--allow-non-loopback if you mean it",
        )
    return str(address), int(port_text)


def _roles(args: argparse.Namespace) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, role ARN, AssumeRole options) per role to serve."""
    roles: list[tuple[str, str, dict[str, Any]]] = []
    if args.from_env:
        from ._env import profiles_from_env

        refuse_mixed(args, ("--role", *ASSUME_FLAGS))
        for profile in profiles_from_env(os.environ):
            roles.append((profile.name, profile.role_arn, profile_kwargs(profile)))
        if not roles:
            raise InvalidInputError(
                "ECS_XROLE_ROLE_ARN",
                None,
                "serve --from-env needs it (or ECS_XROLE_PROFILES) set",
                fix="set ECS_XROLE_ROLE_ARN to the destination role's ARN",
            )
    else:
        kwargs = assume_kwargs(args)
        for item in args.role:
            name, sep, arn = item.partition("=")
            if not sep:
                raise InvalidInputError("--role", item, "expected NAME=ARN")
            roles.append((name, parse_role_arn(arn, name="--role").arn, dict(kwargs)))
        if not roles:
            raise InvalidInputError(
                "--role", None, "serve needs a role", fix="pass --role NAME=ARN, or --from-env"
            )
    seen: set[str] = set()
    for name, _, _ in roles:
        if not _NAME.fullmatch(name):
            raise InvalidInputError(
                "--role", name, "a role name is 1-64 of A-Z a-z 0-9 _ . -", fix="rename it"
            )
        if name in seen:
            raise InvalidInputError("--role", name, "the name is given twice", fix="rename one")
        seen.add(name)
    return roles


def prepare_token_file(path: str) -> str:
    """Write a fresh token into ``path`` and return it; called at every start of ``serve``.

    A fresh token at every start means an ``Authorization`` value captured before (by a
    process that took the port while serve was down) is refused after; SDKs re-read the
    file on every fetch, so the app containers follow. A missing file is created (0600);
    an existing one is rewritten in place, so it keeps its owner, mode and inode (a file
    bind-mounted on its own stays the same file). The token is written without a newline,
    since botocore sends the file's bytes as they are.

    Refused (:class:`~ecs_xrole.errors.InvalidInputError`) when it is a symlink owned by
    another user (other than root), not a regular file, owned by another user, readable or
    writable by group or others, or not writable. Never blocks, and never opens anything but
    a regular file for writing.
    """
    token = new_token()
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise InvalidInputError(
                "--token-file",
                path,
                f"it cannot be created ({exc.strerror})",
                fix="create its directory, writable by this user only",
            ) from None
        with os.fdopen(fd, "w", encoding="ascii") as created:
            created.write(token)
        log.info("created the token file %s (mode 0600)", path)
        return token
    me = os.geteuid()

    def refuse(problem: str, fix: str) -> InvalidInputError:
        return InvalidInputError("--token-file", path, problem, fix=fix)

    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (me, 0):
        raise refuse(
            f"it is a symbolic link owned by another user (uid {link.st_uid})",
            "remove it; ecs-xrole then creates the file",
        )
    try:
        target = os.stat(path)
    except OSError as exc:
        raise refuse(f"it cannot be read ({exc.strerror})", "remove it, or fix its link") from None
    if not stat.S_ISREG(target.st_mode):  # judged before opening: a device is never written
        raise refuse("it is not a regular file", "point --token-file at a regular file")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(
            f"it cannot be opened for writing ({exc.strerror}); serve writes a fresh token "
            "into it at every start",
            f"chmod 600 {path}",
        ) from None
    with os.fdopen(fd, "wb") as handle:
        info = os.fstat(handle.fileno())  # the file opened, whatever the path says now
        if not stat.S_ISREG(info.st_mode):
            raise refuse("it is not a regular file", "point --token-file at a regular file")
        if info.st_uid not in (me, 0):
            raise refuse(
                f"it is owned by another user (uid {info.st_uid})",
                "remove it, or create it as this user",
            )
        if info.st_mode & 0o077:
            raise refuse(
                f"group or others may access it (mode {stat.S_IMODE(info.st_mode):04o})",
                f"chmod 600 {path}",
            )
        # Over the old token, then cut to length: a reader sees no empty file in between.
        data = token.encode("ascii")
        os.pwrite(handle.fileno(), data, 0)
        os.ftruncate(handle.fileno(), len(data))
    log.info("wrote a fresh token into %s", path)
    return token


def _run_serve(args: argparse.Namespace) -> int:
    from .._serving import supervise
    from .._serving.health import health_source
    from .._serving.server import CredentialsServer

    host, port = parse_listen(args.listen, allow_non_loopback=args.allow_non_loopback)
    roles = _roles(args)
    token_file = os.path.abspath(args.token_file)
    token = prepare_token_file(token_file)
    waited = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)  # before any thread starts
    routes = {}
    arns = {}
    loaded = {}
    metrics = metrics_for(args)
    for name, arn, kwargs in roles:
        credentials = load_role(arn, kwargs)
        if credentials is None:
            return EXIT_FAILED
        routes[f"/role/{name}"] = source_for(credentials)
        arns[f"/role/{name}"] = arn
        loaded[f"/role/{name}"] = credentials
        if metrics is not None:
            metrics.add_role(f"/role/{name}", arn, credentials)
    server = CredentialsServer(
        routes,
        token=token,
        host=host,
        port=port,
        role_arns=arns,
        health=health_source(loaded),
        metrics=metrics,
    )
    try:
        server.start()
    except Exception as exc:
        print(f"ecs-xrole: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if metrics is not None:
        log.info("metrics (no token): %s", server.url(metrics.path))
    try:
        for name, arn, _ in roles:
            print(f"# role {name}: {arn}")
            print(f"{FULL_URI}={server.url('/role/' + name)}")
            print(f"{TOKEN_FILE}={token_file}")
            if not args.token_file_only:
                # The printed token is the contract (app containers need it); it is never
                # logged. It is the value the file holds and the server checks.
                print(f"{TOKEN}={token}")
        sys.stdout.flush()
        if supervise.pending_stop_signal() is None:
            received = signal.sigwait(waited)
            log.info("%s received; stopping", signal.Signals(received).name)
        return EXIT_OK
    finally:
        server.stop()
