"""``ecs-xrole exec``: run a command whose every AWS SDK acts as the destination role.

The command's default credential chain finds a credentials endpoint of ecs-xrole's own
(:mod:`ecs_xrole._serving.server`) on ``127.0.0.1``, serving the destination role from one
shared refreshing credentials object: one AssumeRole per lifetime for every process the
command starts, served while STS or the ECS agent is down and the credentials are valid. The
command is supervised (:mod:`ecs_xrole._serving.supervise`). Also what ``exec`` and
``serve`` share: the AssumeRole options, loading a role, the token. Standard library only
until the command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._endpoint import COMPETING_VARIABLES, FULL_URI, RELATIVE_URI, TOKEN, TOKEN_FILE
from .._environ import REGION_VARIABLES, region_from_environment
from .._option_table import CLI_OPTIONS
from .._validate import parse_role_arn
from ..errors import EndpointError, Error, InvalidInputError
from ._common import _add_verbose
from ._common import role_kwargs as assume_kwargs

if TYPE_CHECKING:
    from .._config.model import Profile
    from .._credentials import TemporaryCredentials
    from .._refresh import RefreshingCredentials
    from .._serving.metrics import Metrics

log = logging.getLogger("ecs_xrole.exec_command")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Removed from COMMAND's environment: each would win over (or compete with) the endpoint in
#: some SDK's default chain. The relative URI wins over the full URI in every SDK but Go's.
#: The token is then set to exec's own (unless ``--token-file-only``).
REMOVED_VARIABLES = (
    RELATIVE_URI,
    TOKEN,
    *COMPETING_VARIABLES,
)
#: The path of the one role exec serves.
EXEC_PATH = "/role/exec"
# botocore-based clients refresh 15 minutes before expiry: shorter credentials make them
# fetch from the endpoint on every call once inside that window.
_CLIENT_ADVISORY = 15 * 60
_SHORT_DURATION = 2 * _CLIENT_ADVISORY

_DESCRIPTION = """\
Run COMMAND with the destination role as its default AWS credentials, in any language.

ecs-xrole assumes the role from the ECS task role (as write-config's profile would), starts a
credentials endpoint on 127.0.0.1 (an ephemeral port, a fresh 256-bit token) and runs COMMAND
with AWS_CONTAINER_CREDENTIALS_FULL_URI pointing at it and the token both in a file
(AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) and in AWS_CONTAINER_AUTHORIZATION_TOKEN (releases
before late 2023, such as AWS CLI v2 before 2.15 and the Go SDKs of Linux distributions, read
only the variable). Every AWS SDK and the AWS CLI read these from their default chain: no
--profile, no code change. Every process COMMAND starts shares one set of credentials (one
AssumeRole per lifetime), refreshed in the background and still served while STS or the ECS
agent is down.

Removed from COMMAND's environment (they would win over the endpoint): the relative endpoint
URI, static keys, AWS_PROFILE/AWS_DEFAULT_PROFILE, web identity variables (-v lists them).
"""

_EPILOG = """\
--from-env reads the ECS_XROLE_* variables of write-config --from-env (one role:
ECS_XROLE_ROLE_ARN, ECS_XROLE_EXTERNAL_ID, ECS_XROLE_ROLE_SESSION_NAME,
ECS_XROLE_DURATION_SECONDS, ECS_XROLE_REGION), for a Dockerfile:
    ENTRYPOINT ["ecs-xrole", "exec", "--from-env", "--"]
    CMD ["python", "app.py"]

The endpoint also answers GET /healthz without the token (200 "ok" or "degraded", 503
"failing"; no secret): `ecs-xrole health` run under COMMAND finds it through
AWS_CONTAINER_CREDENTIALS_FULL_URI.

As a supervisor: SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to
COMMAND; as PID 1 it reaps orphans (no --init or tini needed); when COMMAND ends the
endpoint stops and the token file is removed.

exit codes:
  COMMAND's own, or 128+N when signal N ended it
  1    the role cannot be assumed (nothing was started; the reason and fixes are printed)
  2    bad usage or input
  126  COMMAND is not executable;  127  COMMAND was not found
"""


# --------------------------------------------------------------------------------------------
# Shared with serve


#: The AssumeRole options' flags (refused with --from-env).
ASSUME_FLAGS = tuple(row.flag for row in CLI_OPTIONS if row.flag)


def add_assume_options(
    parser: argparse.ArgumentParser, *, region_help: str = "the STS region"
) -> None:
    """The AssumeRole options of the table (without --role-arn), and -v."""
    from ._common import _add_role_options

    helps = {"duration_seconds": "900-3600 (1800 or more advised)", "region_name": region_help}
    _add_role_options(parser, required=False, helps=helps)
    _add_verbose(parser)


def profile_kwargs(profile: Profile) -> dict[str, Any]:
    """The AssumeRole options a profile from ``--from-env`` holds."""
    return {row.name: value for row, value in profile.options()}


def refuse_mixed(args: argparse.Namespace, given: Sequence[str]) -> None:
    """--from-env takes every option from the environment: refuse command-line ones."""
    for option in given:
        value = getattr(args, option.lstrip("-").replace("-", "_"), None)
        if value:
            raise InvalidInputError(
                option,
                value,
                "--from-env takes the role and its options from the environment only",
                fix=f"drop --from-env, or drop {option}",
            )


def quiet_wire_logs() -> None:
    """Keep botocore's and urllib3's DEBUG lines out of this process's log, even at -vv.

    They print request headers (the task role's session token) and whole STS answers (the
    destination's secret key). exec and serve run for the life of a container whose stderr
    goes to CloudWatch Logs, so their -vv shows ecs-xrole's own DEBUG lines only; whoami -vv
    is the place for wire details.
    """
    for name in ("botocore", "boto3", "urllib3", "s3transfer"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def add_token_file_only(parser: argparse.ArgumentParser, where: str) -> None:
    """The ``--token-file-only`` option of exec and serve."""
    parser.add_argument(
        "--token-file-only",
        action="store_true",
        help=f"keep the token out of {where}: only AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
        "(SDKs from late 2023 on read it; older ones, such as AWS CLI v2 before 2.15 and "
        "the Go SDKs of Debian 12, then get 401)",
    )


def add_metrics_option(parser: argparse.ArgumentParser) -> None:
    """The ``--metrics`` option of exec and serve."""
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also answer GET /metrics on the endpoint, without the token: Prometheus text "
        "(requests, refreshes, AssumeRole durations, task role fetches, seconds to expiry; "
        "no secret), with a rate budget of its own",
    )


def metrics_for(args: argparse.Namespace) -> Metrics | None:
    """With ``--metrics``: the endpoint's metrics, timing every AssumeRole from now on (call it
    before the roles load, so that their first AssumeRole counts); else ``None`` (nothing is
    counted, and :mod:`ecs_xrole._serving.metrics` is not imported)."""
    if not getattr(args, "metrics", False):
        return None
    from .._serving.metrics import Metrics

    metrics = Metrics()
    metrics.observe_fetches()
    return metrics


def new_token() -> str:
    """A fresh endpoint token: 256 bits from :mod:`secrets`, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def load_role(role_arn: str, kwargs: Mapping[str, Any]) -> RefreshingCredentials | None:
    """Assume ``role_arn`` now (the shared refreshing credentials of the sessions layer).

    On failure prints whoami's error (what failed, the fix, and for a denial the two policies
    that would allow it) and returns ``None``. Invalid options raise
    :class:`~ecs_xrole.errors.InvalidInputError`. Does I/O: the endpoint fetch and AssumeRole.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from .. import _session as sessions
    from ..errors import AssumeRoleDeniedError
    from ._common import _print_whoami

    quiet_wire_logs()
    duration = kwargs.get("duration_seconds")
    if duration is not None and int(duration) < _SHORT_DURATION:
        log.warning(
            "--duration-seconds %s: SDKs built on botocore refresh credentials %d minutes "
            "before they expire, so with credentials shorter than %d s they fetch from the "
            "endpoint on every call in the last %d minutes; prefer %d s or more",
            duration,
            _CLIENT_ADVISORY // 60,
            _SHORT_DURATION,
            _CLIENT_ADVISORY // 60,
            _SHORT_DURATION,
        )
    try:
        return sessions.get_credentials(role_arn, **kwargs)
    except InvalidInputError:
        raise
    except (Error, BotoCoreError, ClientError) as exc:
        error: dict[str, Any] = {
            "stage": "task_role" if isinstance(exc, EndpointError) else "destination",
            "message": str(exc),
        }
        if isinstance(exc, AssumeRoleDeniedError):
            error["identity_policy"] = exc.identity_policy
            error["trust_policy"] = exc.trust_policy
        report = {
            "task_role": None,
            "destination": None,
            "profile": None,
            "role_arn": role_arn,
            "error": error,
        }
        _print_whoami(report, as_json=False, out=sys.stdout)
        return None


def source_for(credentials: RefreshingCredentials) -> Any:
    """The server's source for one role: the shared object's current credentials (no I/O
    while they are fresh; raises :class:`~ecs_xrole.errors.CredentialsUnavailableError` when
    they cannot be refreshed in time)."""

    def current() -> TemporaryCredentials:
        credentials.get_frozen_credentials()  # refreshes when inside the mandatory margin
        snapshot = credentials.current
        assert snapshot is not None  # loaded by the call above
        return snapshot

    return current


# --------------------------------------------------------------------------------------------
# exec


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``exec`` subcommand (called by :func:`ecs_xrole.cli.build_parser`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "exec",
        help="run COMMAND with the destination role as its default AWS credentials",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s (--role-arn ARN | --from-env) [options] -- COMMAND [ARGS...]",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--role-arn", metavar="ARN", help="the destination role")
    target.add_argument(
        "--from-env",
        action="store_true",
        help="take the role and its options from ECS_XROLE_* variables (see below)",
    )
    add_assume_options(
        parser,
        region_help="the STS region; also COMMAND's when AWS_REGION and AWS_DEFAULT_REGION "
        "are unset",
    )
    add_token_file_only(parser, "COMMAND's environment")
    add_metrics_option(parser)
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]", help="what to run"
    )
    parser.set_defaults(func=_run_exec)
    return parser


def child_environment(
    environ: Mapping[str, str],
    *,
    url: str,
    token_file: str,
    token: str | None,
    region: str | None = None,
) -> tuple[dict[str, str], list[str]]:
    """COMMAND's environment: ``environ`` with the endpoint's variables set (the URL, the
    token file and, unless ``token`` is ``None``, the token itself, which SDK releases before
    the token file's support read) and the competing ones (:data:`REMOVED_VARIABLES`)
    removed; also the names removed. ``region`` sets ``AWS_REGION`` and
    ``AWS_DEFAULT_REGION`` where neither is set. Pure."""
    env = dict(environ)
    removed = sorted(name for name in REMOVED_VARIABLES if name in env)
    for name in removed:
        del env[name]
    env[FULL_URI] = url
    env[TOKEN_FILE] = token_file
    if token is not None:
        env[TOKEN] = token  # the file's value: every SDK that reads both prefers the file
    if region is not None and region_from_environment(env) is None:
        for variable in REGION_VARIABLES:
            env[variable] = region
    return env, removed


def _exec_target(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The role and its AssumeRole options, from the command line or the environment."""
    if not args.from_env:
        if args.role_arn is None:
            raise InvalidInputError(
                "--role-arn",
                None,
                "exec needs the role to assume",
                fix="pass --role-arn arn:aws:iam::<account>:role/<name>, or --from-env",
            )
        return parse_role_arn(args.role_arn, name="--role-arn").arn, assume_kwargs(args)
    from ._env import profiles_from_env

    refuse_mixed(args, ASSUME_FLAGS)
    profiles = profiles_from_env(os.environ)
    if not profiles:
        raise InvalidInputError(
            "ECS_XROLE_ROLE_ARN",
            None,
            "exec --from-env needs it set (without it COMMAND would act as the task role)",
            fix="set ECS_XROLE_ROLE_ARN to the destination role's ARN in the task definition",
        )
    if len(profiles) > 1:
        raise InvalidInputError(
            "ECS_XROLE_PROFILES",
            os.environ.get("ECS_XROLE_PROFILES"),
            f"exec serves one role as COMMAND's default credentials; {len(profiles)} are set",
            fix="set only ECS_XROLE_ROLE_ARN for exec (serve can serve several roles)",
        )
    return profiles[0].role_arn, profile_kwargs(profiles[0])


def _write_token(directory: str, token: str) -> str:
    path = os.path.join(directory, "token")
    # O_EXCL and O_NOFOLLOW: a fresh file in our own 0700 directory, never a planted one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token)  # no newline: botocore sends the file's bytes as they are
    return path


def _run_exec(args: argparse.Namespace) -> int:
    from .._serving import supervise
    from .._serving.health import health_source
    from .._serving.server import CredentialsServer

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise InvalidInputError(
            "COMMAND", None, "nothing to run", fix="add -- COMMAND [ARGS...] at the end"
        )
    role_arn, kwargs = _exec_target(args)
    # Before any thread starts: every thread inherits the mask, so none takes a signal meant
    # for COMMAND; the main thread takes them one by one.
    supervise.block_signals()
    metrics = metrics_for(args)
    credentials = load_role(role_arn, kwargs)
    if credentials is None:
        return EXIT_FAILED
    if metrics is not None:
        metrics.add_role(EXEC_PATH, role_arn, credentials)
    token = new_token()
    directory = tempfile.mkdtemp(prefix="ecs-xrole-exec-")  # mode 0700
    server = CredentialsServer(
        {EXEC_PATH: source_for(credentials)},
        token=token,
        role_arns={EXEC_PATH: role_arn},
        health=health_source({EXEC_PATH: credentials}),
        metrics=metrics,
    )
    try:
        token_file = _write_token(directory, token)
        server.start()
        env, removed = child_environment(
            os.environ,
            url=server.url(EXEC_PATH),
            token_file=token_file,
            token=None if args.token_file_only else token,
            region=kwargs.get("region_name"),
        )
        if removed:
            log.info("removed from COMMAND's environment: %s", ", ".join(removed))
        log.info("COMMAND's credentials endpoint: %s (role %s)", server.url(EXEC_PATH), role_arn)
        if metrics is not None:
            log.info("metrics (no token): %s", server.url(metrics.path))
        stop = supervise.pending_stop_signal()
        if stop is not None:
            log.info("signal %d arrived before COMMAND started; not starting it", stop)
            return 128 + stop
        try:
            pid = supervise.spawn(command, env)
        except OSError as exc:
            code = supervise.exit_code_for(exc)
            reason = "command not found" if code == supervise.EXIT_NOT_FOUND else exc.strerror
            print(f"ecs-xrole: exec: {command[0]}: {reason}", file=sys.stderr)
            return code
        return supervise.supervise(pid)
    finally:
        server.stop(timeout=1.0)
        if metrics is not None:
            metrics.close()
        shutil.rmtree(directory, ignore_errors=True)
