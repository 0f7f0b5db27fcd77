"""The AWS clients beyond botocore that tests run as subprocesses, as Debian 12 installs them:
the AWS CLI v2 (Debian's ``awscli``) and small whoami programs built with the AWS SDKs for
Go v2 and v1 (``tests/clients/go``, built from Debian's packaged SDK sources by
``tests/clients/install.sh``, which CI runs before the tests); and, where Node.js is there,
a whoami with the AWS SDK for JavaScript v3 (``tests/clients/js``, the SDK from npm).

Each client is looked for once per test process, by absolute path (the PyPI AWS CLI v1 in the
virtualenv is also called ``aws``); :func:`require` skips the test, with the reason, when it
is missing. Nothing here is shared between test processes but the read-only programs.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
#: Where tests/clients/install.sh puts the Go programs.
BUILT = Path.home() / ".cache" / "ecs-xrole" / "test-clients"
INSTALL = "tests/clients/install.sh"
#: Where a distribution (or AWS's own installer) puts the AWS CLI v2.
AWS_CLI_V2_PATHS = ("/usr/bin/aws", "/usr/local/bin/aws")
#: The PyPI AWS CLI v1 of the test environment.
AWS_CLI_V1 = Path(sys.executable).parent / "aws"
NAMES = ("aws-cli-v2", "go-sdk-v2", "go-sdk-v1", "js-sdk-v3")
#: Where install.sh puts the JavaScript SDK (NODE_PATH for the whoami script).
JS_MODULES = BUILT / "js" / "node_modules"
_GO = {"go-sdk-v2": "sdkv2", "go-sdk-v1": "sdkv1"}
_PACKAGE = {
    "aws-cli-v2": "awscli",
    "go-sdk-v2": "golang-go golang-github-aws-aws-sdk-go-v2-dev",
    "go-sdk-v1": "golang-go golang-github-aws-aws-sdk-go-dev",
    "js-sdk-v3": "nodejs npm",
}


@dataclass(frozen=True)
class Client:
    """A client found on this machine: its name, version and program."""

    name: str
    version: str
    path: str

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.path})"

    def whoami(self, endpoint_url: str) -> list[str]:
        """The command that prints the caller identity as JSON (``Account``, ``Arn``), with
        its STS calls sent to ``endpoint_url``: the CLI v2 of Debian 12 (2.9) does not read
        ``AWS_ENDPOINT_URL``, so it gets ``--endpoint-url``; the Go programs apply
        ``AWS_ENDPOINT_URL`` themselves."""
        if self.name == "aws-cli-v2":
            command = [self.path, "sts", "get-caller-identity", "--output", "json"]
            return [*command, "--endpoint-url", endpoint_url]
        if self.name == "js-sdk-v3":
            return [self.path, str(HERE / "clients" / "js" / "whoami.cjs")]
        return [self.path]

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` as this client needs it: Go v1 reads profiles from the config file only
        with ``AWS_SDK_LOAD_CONFIG``; the JavaScript one finds the SDK through ``NODE_PATH``."""
        if self.name == "go-sdk-v1":
            return {**env, "AWS_SDK_LOAD_CONFIG": "1"}
        if self.name == "js-sdk-v3":
            return {**env, "NODE_PATH": str(JS_MODULES)}
        return env


def _version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=8, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def find(name: str) -> Client | str:
    """The client called ``name`` (one of :data:`NAMES`), or why it is not usable here."""
    fix = f"run {INSTALL} (Debian: apt-get install {_PACKAGE[name]})"
    if name == "aws-cli-v2":
        seen = []
        for path in AWS_CLI_V2_PATHS:
            if not os.access(path, os.X_OK):
                continue
            said = _version([path, "--version"]) or "no version"
            if said.startswith("aws-cli/2."):
                return Client(name, said.split()[0].removeprefix("aws-cli/"), path)
            seen.append(f"{path} is {said.split(' ')[0]}")
        found = "; ".join(seen) or f"none of {', '.join(AWS_CLI_V2_PATHS)} exists"
        return f"no AWS CLI v2 ({found}): {fix}"
    if name == "js-sdk-v3":
        node = shutil.which("node")
        package = JS_MODULES / "@aws-sdk" / "client-sts" / "package.json"
        if node is None:
            return f"no node on PATH: {fix}"
        if not package.exists():
            return f"{package.parent} is not installed: {fix}"
        return Client(name, str(json.loads(package.read_text())["version"]), node)
    program = BUILT / f"go-{_GO[name]}"
    source = HERE / "clients" / "go" / _GO[name] / "main.go"
    if not program.exists():
        return f"{program} is not built: {fix}"
    if program.stat().st_mtime < source.stat().st_mtime:
        return f"{program} is older than {source.relative_to(HERE.parent)}: {fix}"
    version = _version([str(program), "-version"])
    if version is None:
        return f"{program} does not run: {fix}"
    return Client(name, version, str(program))


def require(name: str) -> Client:
    """The client called ``name``; skips the test, saying why, when it is not usable here."""
    found = find(name)
    if isinstance(found, str):
        pytest.skip(f"{name}: {found}")
    return found


class Budget:
    """A test's time for its subprocesses: each is killed when the budget is spent, well
    before pytest-timeout's 10 s (a timeout that fires while pytest formats a failure aborts
    the whole run). Starts at the first process, not at setup."""

    def __init__(self, seconds: float = 7.5) -> None:
        self._seconds = seconds
        self._end = 0.0

    def left(self) -> float:
        import time

        if not self._end:
            self._end = time.monotonic() + self._seconds
        return max(0.5, self._end - time.monotonic())

    def watch(self, proc: subprocess.Popen[str]) -> threading.Timer:
        """Kill ``proc`` when the budget is spent (cancel the timer when done with it)."""
        timer = threading.Timer(self.left(), proc.kill)
        timer.daemon = True
        timer.start()
        return timer

    def run(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, env=env, timeout=self.left(), check=False
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"{argv} did not finish within the test's budget: {exc.stderr!r}"[:2000],
                pytrace=False,
            )
