"""``ecs-xrole exec`` end to end on the loopback stand-ins, with real clients: the AWS CLI and
boto3 in child processes find the destination role in their default chain; the supervisor
passes exit status and signals through and reaps orphans as PID 1."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ecs_xrole.cli.exec import REMOVED_VARIABLES, child_environment

pytest.importorskip("moto")

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

BIN = Path(sys.executable).parent
AWS = BIN / "aws"
DESTINATION_ACCOUNT = "555566667777"
pytestmark = pytest.mark.slow


# A subprocess that overruns must fail the test well before pytest-timeout's 10 s (a timeout
# that fires while pytest formats a failure aborts the whole run).
_BUDGET = 7.5
_deadline = [0.0]


@pytest.fixture(autouse=True)
def _test_budget() -> None:
    _deadline[0] = 0.0


def _left() -> float:
    # The budget starts at the test's first process, not at setup: the first test to use the
    # stand-ins pays for starting them, which must not shorten its processes' time.
    if not _deadline[0]:
        _deadline[0] = time.monotonic() + _BUDGET
    return max(0.5, _deadline[0] - time.monotonic())


def _watchdog(proc: subprocess.Popen[str]) -> threading.Timer:
    """Kill ``proc`` when the budget is spent, so that no read or wait blocks past it."""
    timer = threading.Timer(_left(), proc.kill)
    timer.daemon = True
    timer.start()
    return timer


@pytest.fixture
def task_env(ecs_xrole_env: LocalStack, tmp_path: Path) -> dict[str, str]:
    """The environment of a process in the task (HOME of its own: the AWS CLI caches there)."""
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def exec_argv(stack: LocalStack, *command: str, role: str | None = None) -> list[str]:
    role_arn = role or stack.aws.destination_role_arn
    return [sys.executable, "-m", "ecs_xrole", "exec", "--role-arn", role_arn, "--", *command]


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=_left())
    except subprocess.TimeoutExpired as exc:
        # A short failure: formatting a long traceback can itself outlast pytest-timeout.
        pytest.fail(
            f"{argv[3:]} did not finish within the test's budget: {exc.stderr!r}"[:2000],
            pytrace=False,
        )


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


# -- real clients with no profile ----------------------------------------------------------


def test_aws_cli_without_profile_acts_as_the_destination(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed")
    done = run(exec_argv(ecs_xrole_env, str(AWS), "sts", "get-caller-identity"), task_env)
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert identity["Account"] == DESTINATION_ACCOUNT
    assert ":assumed-role/destination-account-role/" in identity["Arn"]


def test_aws_cli_without_profile_lists_the_destination_cluster(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed")
    done = run(exec_argv(ecs_xrole_env, str(AWS), "ecs", "list-clusters"), task_env)
    assert done.returncode == 0, done.stderr
    arns = json.loads(done.stdout)["clusterArns"]
    assert any(arn.endswith(":cluster/destination-cluster") for arn in arns), arns
    assert all(f":{DESTINATION_ACCOUNT}:" in arn for arn in arns)


BOTO3_CHILD = """\
import json, boto3
session = boto3.Session()
print(json.dumps({
    "method": session.get_credentials().method,
    "account": session.client("sts").get_caller_identity()["Account"],
    "clusters": session.client("ecs").list_clusters()["clusterArns"],
}))
"""


def test_boto3_default_session_in_a_child_acts_as_the_destination(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    child = script(tmp_path, "child.py", BOTO3_CHILD)
    done = run(exec_argv(ecs_xrole_env, sys.executable, child), task_env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["method"] == "container-role"  # the default chain, no profile
    assert seen["account"] == DESTINATION_ACCOUNT
    assert any(arn.endswith(":cluster/destination-cluster") for arn in seen["clusters"])


SIXTEEN = """\
import json, os, sys
import boto3, botocore.session
# Service models are loaded once, before the fork, and shared; each process still resolves
# its own credentials through its own default chain (a new botocore session each).
warm = botocore.session.get_session()
loader = warm.get_component("data_loader")
boto3.Session(botocore_session=warm).client(  # explicit keys: no credential lookup here
    "sts", aws_access_key_id="warm", aws_secret_access_key="up"
)
def say(*line):  # one write(2) of under PIPE_BUF bytes: lines of the 16 never interleave
    os.write(1, (json.dumps(list(line)) + "\\n").encode())
pids = []
for worker in range(16):
    pid = os.fork()
    if pid == 0:
        try:
            core = botocore.session.Session()
            core.register_component("data_loader", loader)
            client = boto3.Session(botocore_session=core).client("sts")
            accounts = {client.get_caller_identity()["Account"] for _ in range(10)}
            say(*sorted(accounts), core.get_credentials().method)
            os._exit(0)
        except BaseException as exc:
            say("error", repr(exc))
            os._exit(1)
    pids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
sys.exit(max(codes))
"""


def test_sixteen_processes_ten_calls_each_one_fetch_one_assume_role(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    child = script(tmp_path, "sixteen.py", SIXTEEN)
    done = run(exec_argv(ecs_xrole_env, sys.executable, child), task_env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 16
    assert all(json.loads(line) == [DESTINATION_ACCOUNT, "container-role"] for line in lines)
    assert ecs_xrole_env.endpoint.requests == 1  # the ECS agent stand-in: one fetch
    assert ecs_xrole_env.aws.assume_role_calls == 1  # STS: one AssumeRole


def test_the_library_under_exec_chains_from_the_destination_role(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    # The how-to's claim: inside exec, ecs_xrole's task-role source is exec's endpoint.
    chained = ecs_xrole_env.aws.chained_role_arn
    code = (
        "import ecs_xrole; "
        f"print(ecs_xrole.get_session({chained!r}).client('sts').get_caller_identity()['Arn'])"
    )
    done = run(exec_argv(ecs_xrole_env, sys.executable, "-c", code), task_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"arn:aws:sts::{DESTINATION_ACCOUNT}:assumed-role/chained-role/")


# -- the endpoint exec starts ------------------------------------------------------------------

PROBE = """\
import json, os, stat, urllib.error, urllib.request
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
path = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
token = open(path).read()

def status(headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None

ok, body = status({"Authorization": token})
print(json.dumps({
    "url": url, "token_file": path, "token_length": len(token),
    "file_mode": stat.S_IMODE(os.stat(path).st_mode),
    "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
    "ok": ok, "keys": sorted(body),
    "missing": status({})[0], "wrong": status({"Authorization": token[:-1] + "x"})[0],
    "env": sorted(k for k in os.environ if k.startswith("AWS_")),
    "env_token_is_the_files": os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") == token,
}))
with open(os.environ["SECRETS_OUT"], "w") as out:
    json.dump([token, body["SecretAccessKey"], body["Token"]], out)
"""


def test_endpoint_token_file_and_cleanup(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    child = script(tmp_path, "probe.py", PROBE)
    task_env["SECRETS_OUT"] = str(tmp_path / "secrets.json")
    done = run(exec_argv(ecs_xrole_env, sys.executable, child), task_env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["url"].startswith("http://127.0.0.1:")
    assert seen["token_length"] >= 43  # 256 bits, URL-safe base64
    assert seen["file_mode"] == 0o600
    assert seen["dir_mode"] == 0o700
    assert seen["ok"] == 200
    assert seen["keys"] == [
        "AccessKeyId",
        "AccountId",
        "Expiration",
        "RoleArn",
        "SecretAccessKey",
        "Token",
    ]
    assert (seen["missing"], seen["wrong"]) == (401, 401)
    # Both: the file for current SDKs, the variable (the same token) for older releases.
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" in seen["env"]
    assert seen["env_token_is_the_files"] is True
    # When COMMAND has ended, the endpoint is gone and so is the token's directory.
    assert not Path(seen["token_file"]).parent.exists()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(seen["url"], timeout=2)


def test_competing_variables_are_removed_and_named_at_v(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    task_env.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_SESSION_TOKEN": "static-session-token",
            "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/web-identity",
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token",
            "AWS_ROLE_SESSION_NAME": "web",
        }
    )
    argv = exec_argv(ecs_xrole_env, "env")
    argv.insert(3, "-v")
    done = run(argv, task_env)
    assert done.returncode == 0, done.stderr
    child_env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for name in REMOVED_VARIABLES:
        if name != "AWS_CONTAINER_AUTHORIZATION_TOKEN":
            assert name not in child_env
    assert child_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" in child_env
    # The task's own token is replaced by exec's (the token file's value).
    assert child_env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] != ecs_xrole_env.token
    assert len(child_env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) >= 43
    removed_line = next(line for line in done.stderr.splitlines() if "removed from" in line)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_SESSION_NAME",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ):
        assert name in removed_line
    assert "wJalrXUtnFEMI" not in done.stderr  # names, never values


def test_token_file_only_keeps_the_token_out_of_the_environment(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    argv = exec_argv(ecs_xrole_env, "env")
    argv.insert(argv.index("--"), "--token-file-only")
    done = run(argv, task_env)
    assert done.returncode == 0, done.stderr
    child_env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in child_env  # not even the task's own
    assert Path(child_env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).name == "token"


def test_child_environment_removes_every_competing_variable() -> None:
    environ = dict.fromkeys(REMOVED_VARIABLES, "x") | {
        "PATH": "/bin",
        "AWS_REGION": "eu-west-1",
    }
    env, removed = child_environment(
        environ,
        url="http://127.0.0.1:1/role/exec",
        token_file="/t",
        token="exec-token",
        region="us-east-2",
    )
    assert removed == sorted(REMOVED_VARIABLES)
    assert env == {
        "PATH": "/bin",
        "AWS_REGION": "eu-west-1",  # the environment's region wins, as in botocore
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/role/exec",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/t",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "exec-token",  # exec's, not the environment's
    }
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        assert name in removed
    env, _ = child_environment({}, url="u", token_file="t", token=None, region="us-east-2")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-2"
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in env  # --token-file-only


# -- static stability -------------------------------------------------------------------------

LATER = """\
import json, subprocess, sys
first = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True)
print(first.stdout.strip(), flush=True)
sys.stdin.readline()  # the test stops the ECS agent and STS now
second = subprocess.run([sys.executable, sys.argv[2]], capture_output=True, text=True)
print(second.stdout.strip() or second.stderr[-500:], flush=True)
"""
ECS_CHILD = """\
import json, boto3
session = boto3.Session()
clusters = session.client("ecs").list_clusters()["clusterArns"]
print(json.dumps({"clusters": clusters, "method": session.get_credentials().method}))
"""


def test_children_started_after_agent_and_sts_stop_still_get_credentials(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    launcher = script(tmp_path, "later.py", LATER)
    first = script(tmp_path, "first.py", BOTO3_CHILD)
    second = script(tmp_path, "second.py", ECS_CHILD)
    with subprocess.Popen(
        exec_argv(ecs_xrole_env, sys.executable, launcher, first, second),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=task_env,
    ) as proc:
        _watchdog(proc)
        assert proc.stdout is not None
        assert proc.stdin is not None
        before = json.loads(proc.stdout.readline())
        assert before["account"] == DESTINATION_ACCOUNT
        ecs_xrole_env.endpoint.stop()  # the ECS agent is gone...
        ecs_xrole_env.aws.sts_down = True  # ...and STS answers 503 to everything
        proc.stdin.write("go\n")
        proc.stdin.flush()
        after_line = proc.stdout.readline()
        proc.wait(timeout=_left())
    after = json.loads(after_line)
    assert after["method"] == "container-role"
    assert any(arn.endswith(":cluster/destination-cluster") for arn in after["clusters"])
    assert ecs_xrole_env.aws.assume_role_calls == 1


# -- failing early, bad input, commands that cannot start --------------------------------------


def test_fails_before_starting_command_when_the_role_cannot_be_assumed(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    done = run(
        exec_argv(ecs_xrole_env, "touch", str(marker), role=ecs_xrole_env.aws.untrusting_role_arn),
        task_env,
    )
    assert done.returncode == 1
    assert not marker.exists()
    assert f"cannot act as role {ecs_xrole_env.aws.untrusting_role_arn}" in done.stderr
    assert "the destination role's trust policy" in done.stderr  # whoami's fixes
    assert '"sts:AssumeRole"' in done.stderr


def test_fails_with_whoamis_error_when_the_agent_refuses(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    ecs_xrole_env.endpoint.queue(400)  # "Credentials not found": not retried
    marker = tmp_path / "started"
    done = run(exec_argv(ecs_xrole_env, "touch", str(marker)), task_env)
    assert done.returncode == 1
    assert not marker.exists()
    assert "cannot act as the task role" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role-arn", "arn:aws:iam::555566667777:role/x"], "nothing to run"),
        (["--role-arn", "not-an-arn", "--", "true"], "not-an-arn"),
        (["--", "true"], "--role-arn"),
        (
            [
                "--role-arn",
                "arn:aws:iam::555566667777:role/x",
                "--duration-seconds",
                "7200",
                "--",
                "true",
            ],
            "7200",
        ),
        (["--from-env", "--", "true"], "ECS_XROLE_ROLE_ARN"),
        (["--from-env", "--region", "eu-west-1", "--", "true"], "--from-env"),
    ],
)
def test_bad_input_exits_2_before_anything(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECS_XROLE_")}
    done = run([sys.executable, "-m", "ecs_xrole", "exec", *args], env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_from_env_reads_write_configs_variables(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    task_env["ECS_XROLE_ROLE_ARN"] = ecs_xrole_env.aws.external_id_role_arn
    task_env["ECS_XROLE_EXTERNAL_ID"] = "ecs-xrole-demo-id"
    child = script(tmp_path, "child.py", BOTO3_CHILD)
    done = run(
        [sys.executable, "-m", "ecs_xrole", "exec", "--from-env", "--", sys.executable, child],
        task_env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["account"] == DESTINATION_ACCOUNT
    task_env["ECS_XROLE_PROFILES"] = "other"
    task_env["ECS_XROLE_OTHER_ROLE_ARN"] = ecs_xrole_env.aws.destination_role_arn
    done = run([sys.executable, "-m", "ecs_xrole", "exec", "--from-env", "--", "true"], task_env)
    assert done.returncode == 2
    assert "exec serves one role" in done.stderr


def test_command_not_found_127_not_executable_126(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    done = run(exec_argv(ecs_xrole_env, "no-such-command-ecs-xrole"), task_env)
    assert done.returncode == 127
    assert "no-such-command-ecs-xrole: command not found" in done.stderr
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    plain.chmod(0o644)
    done = run(exec_argv(ecs_xrole_env, str(plain)), task_env)
    assert done.returncode == 126


# -- the supervisor ---------------------------------------------------------------------------


def test_exit_status_passes_through(ecs_xrole_env: LocalStack, task_env: dict[str, str]) -> None:
    done = run(exec_argv(ecs_xrole_env, "sh", "-c", "exit 7"), task_env)
    assert done.returncode == 7


def test_a_command_ended_by_a_signal_gives_128_plus_n(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    done = run(exec_argv(ecs_xrole_env, "sh", "-c", "kill -USR1 $$"), task_env)
    assert done.returncode == 128 + signal.SIGUSR1


# os.write, not print: a handler that prints while the main code is still inside
# print("ready") fails with "reentrant call inside BufferedWriter" (seen on a loaded machine).
HANDLER = """\
import os, signal, sys, time
names = {s: s.name for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                             signal.SIGUSR2, signal.SIGTERM)}
def on(signum, frame):
    os.write(1, names[signum].encode() + b"\\n")
    if signum == signal.SIGTERM:
        sys.exit(42)
for s in names:
    signal.signal(s, on)
os.write(1, b"ready\\n")
while True:
    time.sleep(0.05)
"""


def test_signals_are_forwarded_and_status_returned(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    child = script(tmp_path, "handler.py", HANDLER)
    with subprocess.Popen(
        exec_argv(ecs_xrole_env, sys.executable, child),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=task_env,
    ) as proc:
        started = time.monotonic()
        _watchdog(proc)
        assert proc.stdout is not None
        stdout = proc.stdout

        def line() -> str:
            # A closed pipe says why: exec's exit status (-9: the watchdog, at the budget),
            # how long it ran and what it said on stderr.
            text = stdout.readline().strip()
            if not text:
                code = proc.wait(timeout=_left())
                said = proc.stderr.read() if proc.stderr else ""
                pytest.fail(
                    f"exec's output ended after {time.monotonic() - started:.1f} s, "
                    f"exit status {code}; stderr: {said!r}"
                )
            return text

        assert line() == "ready"
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            proc.send_signal(sig)
            assert line() == sig.name
        proc.send_signal(signal.SIGTERM)
        assert line() == "SIGTERM"
        assert proc.wait(timeout=_left()) == 42


def test_a_terminal_ctrl_c_reaches_the_command_once(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    # In a terminal, Ctrl-C goes to the whole foreground group: exec must not send it again.
    import pty

    counter = script(
        tmp_path,
        "count.py",
        """\
        import signal, sys, time
        seen = []
        signal.signal(signal.SIGINT, lambda *_: seen.append(1))
        print("ready", flush=True)
        end = time.monotonic() + 30
        while not seen and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.5)  # a second copy would arrive now
        print("count", len(seen), flush=True)
        """,
    )
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(  # noqa: S606
            sys.executable, exec_argv(ecs_xrole_env, sys.executable, counter), task_env
        )
    output = b""
    sent = False
    status = None
    try:
        while _left() > 0.5:
            if not select.select([fd], [], [], _left() - 0.5)[0]:
                break
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if b"ready" in output and not sent:
                os.write(fd, b"\x03")  # Ctrl-C at the terminal
                sent = True
            if b"count" in output and output.rstrip().endswith((b"0", b"1", b"2")):
                break
    finally:
        for _ in range(20):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"count 1" in output, output
    assert os.waitstatus_to_exitcode(status) == 0


def test_as_pid_1_orphans_are_reaped(ecs_xrole_env: LocalStack, task_env: dict[str, str]) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a PID namespace")
    probe = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=5
    )
    if probe.returncode != 0:
        pytest.skip("PID namespaces are not available here")
    # The shell starts a background sleep and exits its subshell at once: the sleep is
    # re-parented to PID 1 (exec) and ends 0.2 s later; without reaping it stays a zombie.
    command = "(sleep 0.2 &); sleep 1; ps -eo stat=,pid=,comm="
    argv = [
        unshare,
        "--pid",
        "--fork",
        "--mount-proc",
        *exec_argv(ecs_xrole_env, "sh", "-c", command),
    ]
    done = run(argv, task_env)
    assert done.returncode == 0, done.stderr
    states = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert states, done.stdout
    assert not [s for s in states if s.startswith("Z")], done.stdout
    pid1 = next(line for line in done.stdout.splitlines() if line.split()[1] == "1")
    assert "python" in pid1 or "ecs-xrole" in pid1


# -- no secret in any log line -----------------------------------------------------------------


def test_debug_logging_holds_no_secret(
    ecs_xrole_env: LocalStack, task_env: dict[str, str], tmp_path: Path
) -> None:
    child = script(tmp_path, "probe.py", PROBE)
    task_env["SECRETS_OUT"] = str(tmp_path / "secrets.json")
    argv = exec_argv(ecs_xrole_env, sys.executable, child)
    argv.insert(3, "-vv")
    done = run(argv, task_env)
    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr
    token, secret_key, session_token = json.loads(Path(task_env["SECRETS_OUT"]).read_text())
    task_role = ecs_xrole_env.endpoint.credentials
    assert callable(task_role)
    task = task_role()
    credentials_id = ecs_xrole_env.endpoint.path.rsplit("/", 1)[1]  # the agent's capability
    for secret in (
        token,
        secret_key,
        session_token,
        task.secret_access_key,
        task.session_token,
        credentials_id,
    ):
        assert secret
        assert secret not in done.stderr


def test_token_file_mode_in_private_directory(tmp_path: Path) -> None:
    from ecs_xrole.cli.exec import _write_token

    path = _write_token(str(tmp_path), "x" * 43)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Path(path).read_text() == "x" * 43  # no newline: botocore sends it as is
    with pytest.raises(FileExistsError):
        _write_token(str(tmp_path), "y" * 43)  # never over a planted file


def test_health_under_exec_finds_the_endpoint(
    ecs_xrole_env: LocalStack, task_env: dict[str, str]
) -> None:
    health = [sys.executable, "-m", "ecs_xrole", "health"]
    done = run(exec_argv(ecs_xrole_env, *health), task_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 1 role, credentials expire in ")
    assert done.stdout.count("\n") == 1
