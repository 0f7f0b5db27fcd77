"""``ecs-xrole demo``: AWS's cross-account recipe end to end, on loopback stand-ins.

Starts a fake AWS (moto, two accounts) and a fake ECS credentials endpoint, applies a task's
environment to this process, and plays the recipe: the policy documents, ``write-config``,
the AWS CLI with the profile (when ``aws`` is on ``PATH``), ``whoami``, ``doctor``, a client
of the destination account, and a role that does not trust the task role, explained by
``doctor``. Each step prints PASS or FAIL; the exit code is 0 only when every step passed.
Needs the ``local`` extra; no AWS account, no network beyond loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import Error
from ._common import _add_verbose

if TYPE_CHECKING:
    from ..testing._stack import LocalStack

PROFILE = "cross-account"
INSTALL_FIX = (
    "install the local extra: python3 -m pip install '.[local]' in a checkout of ecs-xrole "
    "(once it is on PyPI: pip install 'ecs-xrole[local]')"
)


@dataclass(frozen=True)
class Step:
    """One step's outcome: its title, whether it did what it should, and what was seen."""

    title: str
    ok: bool
    summary: str
    #: Not run, because what it needs is missing (it does not fail the demo).
    skipped: bool = False


class _Demo:
    """The state the steps share: the stack, the roles, and where to print."""

    def __init__(self, stack: LocalStack, out: TextIO) -> None:
        from ..testing import aws

        self.stack = stack
        self.out = out
        self.task_role = aws.role_arn(aws.SOURCE_ACCOUNT_ID, aws.TASK_ROLE_NAME)
        self.role = aws.role_arn(aws.DESTINATION_ACCOUNT_ID, aws.DESTINATION_ROLE_NAME)
        self.untrusting = aws.role_arn(aws.DESTINATION_ACCOUNT_ID, aws.UNTRUSTING_ROLE_NAME)
        self.source_account = aws.SOURCE_ACCOUNT_ID
        self.destination_account = aws.DESTINATION_ACCOUNT_ID
        self.cluster = aws.CLUSTER_NAME

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def show(self, text: str, indent: str = "    ") -> None:
        for line in text.rstrip("\n").splitlines():
            self.say(indent + line)


def _command(argv: list[str]) -> tuple[int, str]:
    """Run ``ecs-xrole <argv>`` in this process; return its exit code and what it printed."""
    from . import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, buffer.getvalue()


# --- the steps -------------------------------------------------------------------------------


def step_policy(demo: _Demo) -> Step:
    """Print the three documents and check that they name the two roles."""
    from .policy import documents

    argv = ["policy", "--task-role-arn", demo.task_role, "--role-arn", demo.role]
    demo.say(f"$ ecs-xrole {' '.join(argv)}")
    code, text = _command(argv)
    demo.show(text)
    docs = documents(demo.task_role, demo.role)
    ok = (
        code == 0
        and docs["identity_policy"]["Statement"][0]["Resource"] == demo.role
        and docs["trust_policy"]["Statement"][0]["Principal"] == {"AWS": demo.task_role}
        and docs["task_definition"]["taskRoleArn"] == demo.task_role
    )
    return Step(
        "the policy documents",
        ok,
        "identity policy allows sts:AssumeRole on the destination role; the trust policy "
        "names the task role; the task definition's taskRoleArn is the task role",
    )


def step_write_config(demo: _Demo) -> Step:
    """Run ``ecs-xrole write-config`` into the stack's config file, and show the file."""
    from .._config.files import read_profile

    argv = ["write-config", "--profile", PROFILE, "--role-arn", demo.role]
    demo.say(f"$ ecs-xrole {' '.join(argv)}")
    code, output = _command(argv)
    demo.show(output)
    path = demo.stack.config_file
    demo.say(f"$ cat {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        return Step("write-config", False, f"exit code {code}; cannot read {path}: {exc}")
    demo.show(text)
    back = read_profile(PROFILE, path=path)
    ok = code == 0 and back.role_arn == demo.role and "credential_source = EcsContainer" in text
    return Step(
        "write-config",
        ok,
        f"[profile {PROFILE}] with role_arn and credential_source = EcsContainer in {path}"
        if ok
        else f"exit code {code}; expected the profile in {path}",
    )


def step_aws_cli(demo: _Demo) -> Step:
    """The AWS CLI with the written profile, as AWS's recipe checks it (when ``aws`` is on PATH).

    The AWS CLI runs with a ``HOME`` in the demo's temporary directory, so its credential
    cache never touches the real ``~/.aws``.
    """
    import os
    import shutil
    import subprocess

    aws = shutil.which("aws")
    if aws is None:
        demo.say("(the aws command is not on PATH: install the AWS CLI to see this step)")
        return Step("aws cli", True, "skipped: the aws command is not on PATH", skipped=True)
    home = os.path.join(os.path.dirname(demo.stack.config_file), "home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home)
    too_old = _ignores_endpoint_url(aws, env)
    if too_old:
        demo.say(f"({too_old})")
        return Step("aws cli", True, f"skipped: {too_old}", skipped=True)
    commands = (
        ["sts", "get-caller-identity", "--profile", PROFILE],
        ["ecs", "list-clusters", "--profile", PROFILE],
    )
    # Both at once: each AWS CLI start costs about a second of its own.
    running = []
    for argv in commands:
        try:
            running.append(
                subprocess.Popen(
                    [aws, *argv, "--output", "json"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        except OSError as exc:
            return Step("aws cli", False, f"cannot run {aws}: {exc}")
    outputs = []
    for argv, proc in zip(commands, running, strict=True):
        demo.say(f"$ aws {' '.join(argv)}")
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for other in running:
                other.kill()
                other.wait()
            return Step("aws cli", False, f"aws {argv[0]} {argv[1]} did not finish in 60 s")
        demo.show(stdout + stderr)
        if proc.returncode != 0:
            for other in running:
                other.kill()
                other.wait()
            return Step("aws cli", False, f"aws {argv[0]} {argv[1]} exited with {proc.returncode}")
        outputs.append(stdout)
    try:
        identity = json.loads(outputs[0])
        clusters = json.loads(outputs[1])["clusterArns"]
    except (ValueError, KeyError, TypeError) as exc:
        return Step("aws cli", False, f"unexpected output from the AWS CLI: {exc}")
    wanted = f":{demo.destination_account}:cluster/{demo.cluster}"
    ok = identity.get("Account") == demo.destination_account and any(
        str(arn).endswith(wanted) for arn in clusters
    )
    return Step(
        "aws cli",
        ok,
        f"aws --profile {PROFILE} acts in {demo.destination_account} and lists {demo.cluster}"
        if ok
        else f"expected account {demo.destination_account} and cluster {demo.cluster}",
    )


#: The first releases that read ``AWS_ENDPOINT_URL``, by major version; an older AWS CLI
#: would send the demo's requests to the real AWS instead of the stand-ins.
_ENDPOINT_URL_SINCE = {1: (1, 29, 0), 2: (2, 13, 0)}


def _ignores_endpoint_url(aws: str, env: dict[str, str]) -> str | None:
    """Why the AWS CLI at ``aws`` cannot be pointed at the stand-ins, or None: it is asked
    its version first (``aws --version`` makes no request), so an old one calls nothing."""
    import re
    import subprocess

    try:
        done = subprocess.run(
            [aws, "--version"], capture_output=True, text=True, env=env, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{aws} --version failed: {exc}"
    found = re.search(r"aws-cli/(\d+)\.(\d+)\.(\d+)", done.stdout + done.stderr)
    if found is None:
        return None  # not an AWS CLI we know: let the commands say what it is
    version = tuple(int(part) for part in found.groups())
    since = _ENDPOINT_URL_SINCE.get(version[0])
    if since is None or version >= since:
        return None
    return (
        f"{aws} is aws-cli/{'.'.join(map(str, version))}, which ignores AWS_ENDPOINT_URL "
        f"(read since {'.'.join(map(str, since))}) and would call the real AWS: put a newer "
        "AWS CLI first on PATH (python3 -m pip install awscli)"
    )


def _identity_arns(text: str) -> list[str]:
    return [word.strip(",;()") for word in text.split() if word.startswith("arn:aws:sts::")]


def step_whoami(demo: _Demo) -> Step:
    """``whoami`` for the profile: the task role in the source account, then the destination."""
    argv = ["whoami", "--profile", PROFILE]
    demo.say(f"$ ecs-xrole {' '.join(argv)}")
    code, text = _command(argv)
    demo.show(text)
    arns = _identity_arns(text)
    source = [a for a in arns if f"::{demo.source_account}:assumed-role/" in a]
    dest = [a for a in arns if f"::{demo.destination_account}:assumed-role/" in a]
    ok = code == 0 and bool(source) and bool(dest)
    return Step(
        "whoami",
        ok,
        f"task role in {demo.source_account}, destination role in {demo.destination_account}"
        if ok
        else f"exit code {code}; expected identities in both accounts",
    )


def step_get_session(demo: _Demo) -> Step:
    """List the destination account's ECS clusters through :func:`ecs_xrole.get_session`."""
    from .._session import get_session

    demo.say(">>> import ecs_xrole")
    demo.say(f'>>> session = ecs_xrole.get_session("{demo.role}")')
    demo.say('>>> session.client("ecs").list_clusters()["clusterArns"]')
    session = get_session(demo.role)
    clusters = session.client("ecs").list_clusters()["clusterArns"]
    demo.show(json.dumps(clusters, indent=2))
    wanted = f":{demo.destination_account}:cluster/{demo.cluster}"
    ok = any(arn.endswith(wanted) for arn in clusters)
    return Step(
        "get_session",
        ok,
        f"the destination account's cluster {demo.cluster} is listed"
        if ok
        else f"no cluster ending in {wanted}",
    )


def step_untrusting(demo: _Demo) -> Step:
    """A role whose trust policy does not name the task role: doctor explains the failure."""
    argv = ["doctor", "--role-arn", demo.untrusting]
    demo.say(f"$ ecs-xrole {' '.join(argv)}")
    code, text = _command(argv)
    demo.show(text)
    denied = "AccessDenied" in text and "TrustEcsTaskRole" in text and demo.task_role in text
    ok = code == 1 and denied
    return Step(
        "untrusting role",
        ok,
        "AssumeRole was refused and doctor printed the trust statement to add"
        if ok
        else f"exit code {code}; expected a failing assume-role check with its fix",
    )


def step_doctor(demo: _Demo) -> Step:
    """``doctor`` on the profile: every check passes."""
    argv = ["doctor", "--profile", PROFILE]
    demo.say(f"$ ecs-xrole {' '.join(argv)}")
    code, text = _command(argv)
    demo.show(text)
    ok = code == 0 and "all checks passed" in text
    return Step(
        "doctor",
        ok,
        "every check passed" if ok else f"exit code {code}; expected every check to pass",
    )


#: The steps in order, each with the heading printed above it.
STEPS: tuple[tuple[str, Callable[[_Demo], Step]], ...] = (
    ("The three policy documents (ecs-xrole policy)", step_policy),
    ("The profile in the AWS config file (write-config)", step_write_config),
    ("The AWS CLI with the profile (aws --profile cross-account)", step_aws_cli),
    ("Who am I: the task role, then the destination role (whoami)", step_whoami),
    ("Every link checked (doctor)", step_doctor),
    ("The destination account's ECS clusters through ecs_xrole.get_session", step_get_session),
    ("A role whose trust policy does not name the task role (doctor)", step_untrusting),
)


def run_demo(*, out: TextIO | None = None, stack: LocalStack | None = None) -> list[Step]:
    """Play the recipe on the stand-ins; return each step's outcome (never raises for a step).

    Does I/O: starts loopback servers (or plays on ``stack``, a running
    :class:`~ecs_xrole.testing._stack.LocalStack`, as the tests do), writes a config file in a
    temporary directory, and changes ``os.environ`` while it runs (restored exactly afterwards).

    Raises :class:`~ecs_xrole.errors.Error` when the ``local`` extra (moto) is not installed.
    """
    out = out or sys.stdout
    if importlib.util.find_spec("moto") is None:
        raise Error("the demo needs moto, which is not installed", fix=INSTALL_FIX)
    from .._session import clear_caches
    from ..testing._stack import local_stack

    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="ecs-xrole-demo-") as tmp:
        started = time.monotonic()
        played = contextlib.nullcontext(stack) if stack else local_stack(tmp_dir=tmp)
        with played as stack, stack.apply():
            clear_caches()  # the demo's task is a new one: nothing from before may be reused
            demo = _Demo(stack, out)
            demo.say("ecs-xrole demo: AWS's cross-account recipe on loopback stand-ins")
            demo.say(f"  task role (source account):       {demo.task_role}")
            demo.say(f"  destination role (other account): {demo.role}")
            demo.say(f"  fake AWS: {stack.aws.endpoint_url}; credentials endpoint: "
                     f"{stack.endpoint.base_url}")  # fmt: skip
            for number, (heading, step) in enumerate(STEPS, 1):
                demo.say()
                demo.say(f"== {number}. {heading}")
                try:
                    result = step(demo)
                except Error as exc:
                    result = Step(step.__name__.removeprefix("step_"), False, str(exc))
                except Exception as exc:  # a demo step reports, never crashes the demo
                    result = Step(
                        step.__name__.removeprefix("step_"),
                        False,
                        f"unexpected {type(exc).__name__}: {exc}",
                    )
                verdict = "SKIP" if result.skipped else "PASS" if result.ok else "FAIL"
                demo.say(f"{verdict}  {number}. {result.title}: {result.summary}")
                steps.append(result)
            clear_caches()
        passed = sum(1 for s in steps if s.ok and not s.skipped)
        skipped = sum(1 for s in steps if s.skipped)
        elapsed = time.monotonic() - started
        note = f" ({skipped} skipped)" if skipped else ""
        out.write(f"\n{passed} of {len(steps) - skipped} steps passed{note} in {elapsed:.1f} s\n")
    return steps


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """The handler of ``ecs-xrole demo``: 0 when every step passed, 1 otherwise."""
    steps = run_demo(out=out)
    return 0 if steps and all(s.ok for s in steps) else 1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand (called by :func:`ecs_xrole.cli.build_parser`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="play AWS's cross-account recipe end to end on local stand-ins (no AWS account)",
        description=(
            "Start a fake AWS with two accounts and a fake ECS credentials endpoint on "
            "loopback, then show the policy documents, write-config, the AWS CLI with the "
            "profile (when aws is on PATH), whoami, doctor, a client "
            "of the destination account through get_session, and a role that does not trust "
            "the task role, explained by doctor. Each step prints PASS or FAIL. Needs the "
            "local extra (python3 -m pip install '.[local]' in a checkout). Takes a few seconds."
        ),
        epilog="exit codes: 0 every step passed, 1 a step failed or moto is missing",
    )
    _add_verbose(parser)
    parser.set_defaults(func=run)
    return parser
