"""``ecs-xrole health``: ask the endpoint of ``serve`` or ``exec`` how its roles are, in one line.

The command of a container ``healthCheck``: it GETs ``/healthz`` (no token needed, none
sent), prints one line and exits 0 while the credentials served are valid (``ok``,
``degraded``) and 1 once a role has nothing valid to serve (``failing``) or the endpoint does
not answer. It must be fast and small, since ECS runs it every interval: it never imports
boto3 or botocore; the request is made by the library's own HTTP client
(:func:`ecs_xrole._http.http_get`, urllib3 with a wall-clock deadline that holds against a
silent or drip-feeding server), to hosts the endpoint allow-list accepts
(:func:`ecs_xrole._endpoint.check_endpoint_url`). Standard library only at import time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._endpoint import FULL_URI
from .._serving.health import HEALTH_PATH
from ..errors import InvalidInputError
from ._common import _add_verbose

EXIT_OK, EXIT_FAILED = 0, 1

#: Seconds the whole probe may take by default (ECS's healthCheck timeout is 5 s by default).
DEFAULT_TIMEOUT = 2.0
_MAX_TIMEOUT = 60.0
# A /healthz answer is well under this; an env file too.
_MAX_BODY = 64 * 1024
_MAX_ENV_FILE = 64 * 1024

_DESCRIPTION = """\
Ask the credentials endpoint of `ecs-xrole serve` or `ecs-xrole exec` how its roles are
(GET /healthz: no token needed, none is sent) and print one line:
    ok: 2 roles, credentials expire in 53 min
    degraded: /role/app: refreshes failing since 12:00:05Z (AssumeRoleDeniedError,
      AccessDenied), credentials still valid for 41 min     (one line)
    failing: /role/app has nothing valid to serve (AssumeRoleDeniedError, AccessDenied)
    unreachable: http://127.0.0.1:9911/healthz: cannot connect (Connection refused)

The endpoint is, in this order: --url; the AWS_CONTAINER_CREDENTIALS_FULL_URI line of
--env-file (the variables serve prints at start, saved to a file); the
AWS_CONTAINER_CREDENTIALS_FULL_URI variable (set by exec for COMMAND). Only its scheme, host
and port are used. Over http only loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23
are accepted, as for credentials. Never imports boto3; ends within --timeout seconds
whatever the server does.
"""

_EPILOG = """\
a container healthCheck (the sidecar running serve --listen 127.0.0.1:9911):
    "healthCheck": {"command": ["CMD", "ecs-xrole", "health", "--url",
                    "http://127.0.0.1:9911"], "interval": 30, "timeout": 5,
                    "retries": 3, "startPeriod": 10}

exit codes:
  0  ok or degraded: every role has valid credentials to serve (degraded: refreshes fail,
     static stability keeps serving; the line says why)
  1  failing (a role has nothing valid to serve, or has not loaded yet), or the endpoint
     did not answer, or its answer is not a /healthz answer
  2  bad usage or input (no endpoint found, a URL that is not allowed)
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``health`` subcommand (called by :func:`ecs_xrole.cli.build_parser`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "health",
        help="ask serve's or exec's endpoint how its roles are (a container health check)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--url",
        metavar="URL",
        help="the endpoint: http://127.0.0.1:PORT, or any URL on it (its /healthz is asked)",
    )
    where.add_argument(
        "--env-file",
        metavar="PATH",
        help="a file holding the lines serve prints; its AWS_CONTAINER_CREDENTIALS_FULL_URI "
        "names the endpoint",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        default=str(DEFAULT_TIMEOUT),
        help=f"the whole probe's deadline (default {DEFAULT_TIMEOUT:g}; at most {_MAX_TIMEOUT:g})",
    )
    _add_verbose(parser)
    parser.set_defaults(func=_run_health)
    return parser


def health_url(url: str, *, name: str = "--url") -> str:
    """The ``/healthz`` URL of the endpoint ``url`` is on: its scheme, host and port, with
    the path, query and fragment dropped. The URL must pass the endpoint allow-list
    (:func:`~ecs_xrole._endpoint.check_endpoint_url`); raises
    :class:`~ecs_xrole.errors.EndpointNotAllowedError` (an
    :class:`~ecs_xrole.errors.InvalidInputError`) naming ``name`` otherwise. Pure."""
    from .._endpoint import check_endpoint_url

    check_endpoint_url(url, name=name)
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc}{HEALTH_PATH}"


def env_file_url(path: str) -> str:
    """The ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` of an env file: ``NAME=value`` lines as
    serve prints them, ``export NAME=value`` and quoted values accepted, comments and other
    lines skipped; the first one counts (serve's roles share one host and port).

    Never blocks (a FIFO is refused before it is read) and quotes nothing of the file in its
    errors (it may hold the token). Raises :class:`~ecs_xrole.errors.InvalidInputError`.
    """

    def refuse(problem: str, fix: str) -> InvalidInputError:
        return InvalidInputError("--env-file", path, problem, fix=fix)

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(
            f"it cannot be read ({exc.strerror})",
            "point --env-file at the file serve's output was saved to, or pass --url",
        ) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise refuse("it is not a regular file", "point --env-file at a regular file")
        data = handle.read(_MAX_ENV_FILE + 1)
    if len(data) > _MAX_ENV_FILE:
        raise refuse(f"it is larger than {_MAX_ENV_FILE} bytes", "pass --url instead")
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        if sep and name.strip() == FULL_URI:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            if value:
                return value
    raise refuse(
        f"it holds no {FULL_URI} line",
        "save serve's output to it (serve ... > FILE), or pass --url http://127.0.0.1:PORT",
    )


def _endpoint_url(
    url: str | None, env_file: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """(the URL given, the name of where it came from), from the options or the environment."""
    if url is not None:
        return url, "--url"
    if env_file is not None:
        return env_file_url(env_file), f"{FULL_URI} in --env-file {env_file}"
    found = environ.get(FULL_URI)
    if found:
        return found, FULL_URI
    raise InvalidInputError(
        "--url",
        None,
        f"no endpoint to ask: neither --url nor --env-file was given, and {FULL_URI} is "
        "not set (exec sets it for COMMAND; serve's containers set it in the task definition)",
        fix="pass --url http://127.0.0.1:PORT (serve's --listen address), or --env-file with "
        "the lines serve printed",
        missing=True,
    )


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= _MAX_TIMEOUT:
        raise InvalidInputError(
            "--timeout",
            value,
            f"it must be seconds above 0 and at most {_MAX_TIMEOUT:g}",
            fix=f"for example --timeout {DEFAULT_TIMEOUT:g}",
        )
    return seconds


def _clean(value: object, limit: int = 120) -> str:
    """A value from the answer made safe for one terminal line (no control characters)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "an unknown time"
    if seconds < 120:
        return f"{max(0, int(seconds))} s"
    return f"{int(seconds) // 60} min"


def _error(role: Mapping[str, Any]) -> str:
    error = role.get("last_error")
    if not isinstance(error, Mapping):
        return ""
    parts = [_clean(error.get(key)) for key in ("type", "code") if error.get(key)]
    return f" ({', '.join(parts)})" if parts else ""


def _since(role: Mapping[str, Any]) -> str:
    since = role.get("failing_since")
    if not isinstance(since, str):
        return ""
    # The time of day is enough for a health line; the JSON answer has the date.
    _, sep, clock = since.partition("T")
    if sep:
        whole, dot, _ = clock.partition(".")
        clock = whole + "Z" if dot else clock
    return f" since {_clean(clock if sep else since, 40)}"


_FAILING_WORDS = {"failing": "has nothing valid to serve", "pending": "has not loaded yet"}


def summarize(status: int, body: bytes | None) -> tuple[int, str]:
    """The exit code and the one line for an answer to ``GET /healthz``. Pure.

    An answer that is not a ``/healthz`` answer (another status, a body that is not its
    JSON: another kind of endpoint, or an ecs-xrole too old to have it) is a failure.
    """
    try:
        document = json.loads(body or b"")
    except ValueError:
        document = None
    state = document.get("status") if isinstance(document, dict) else None
    roles = document.get("roles") if isinstance(document, dict) else None
    expected = {"ok": 200, "degraded": 200, "failing": 503}
    if (
        state not in expected
        or expected[state] != status
        or not isinstance(roles, list)
        or not all(isinstance(role, dict) for role in roles)
    ):
        return EXIT_FAILED, f"unexpected: HTTP {status}, not an ecs-xrole /healthz answer"
    count = f"{len(roles)} role{'' if len(roles) == 1 else 's'}"
    if state == "failing":
        bad = [r for r in roles if r.get("state") in _FAILING_WORDS]
        told = "; ".join(
            f"{_clean(r.get('path'))} {_FAILING_WORDS.get(r.get('state'), '')}{_error(r)}"
            for r in bad
        )
        return EXIT_FAILED, f"failing: {told or count}"
    lefts = [r.get("expires_in") for r in roles if isinstance(r.get("expires_in"), (int, float))]
    expiry = f", credentials expire in {_duration(min(lefts))}" if lefts else ""
    if state == "degraded":
        told = "; ".join(
            f"{_clean(r.get('path'))}: refreshes failing{_since(r)}{_error(r)}, credentials "
            f"still valid for {_duration(r.get('expires_in'))}"
            for r in roles
            if r.get("state") == "degraded"
        )
        return EXIT_OK, f"degraded: {told or count}"
    return EXIT_OK, f"ok: {count}{expiry}"


def probe(url: str, *, timeout: float) -> tuple[int, str]:
    """GET ``url`` (a ``/healthz`` URL) once, within ``timeout`` seconds whatever the server
    does; return the exit code and the line. Does I/O (imports urllib3, never botocore)."""
    from .._fetch import _describe
    from .._http import http_get

    started = time.monotonic()
    try:
        answer = http_get(
            url,
            deadline=started + timeout,
            connect_timeout=timeout,
            read_timeout=timeout,
            limit=_MAX_BODY,
        )
    except Exception as exc:  # urllib3, http.client and socket errors: all mean "no answer"
        reason = _describe(exc, connect=timeout, read=timeout)
        return EXIT_FAILED, f"unreachable: {url}: {reason}"
    return summarize(answer.status, answer.body)


def _run_health(args: argparse.Namespace) -> int:
    timeout = _timeout(args.timeout)
    given, origin = _endpoint_url(args.url, args.env_file, os.environ)
    code, line = probe(health_url(given, name=origin), timeout=timeout)
    print(line)
    sys.stdout.flush()
    return code
