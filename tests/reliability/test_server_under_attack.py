"""The exec/serve credentials endpoint against an attacker who shares the task's network
namespace but not the token (issue 24): held connections, a restart, a killed exec, a token
file ending in a newline. Real sockets on loopback, real clients (botocore's container
provider, the library's fetcher, ``ecs-xrole exec`` and ``serve`` as processes)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._endpoint import FULL_URI, TOKEN_FILE, Endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole._serving.server import CredentialsServer
from ecs_xrole.testing import fake_credentials

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

TOKEN = "held-connections-test-token-0123456789abcdef"
PATH = "/role/app"

# -- 1. held connections -----------------------------------------------------------------------

# The attacker, in a process of its own: keeps COUNT connections open (reopening each one the
# server closes), silent or sending one byte of a head that never ends every 0.1 s.
HOLDER = r"""
import selectors, socket, sys, time
port, count, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
head = b"GET /role/app HTTP/1.1\r\nX-Filler: " + b"a" * 100000
selector = selectors.DefaultSelector()
sent = {}

def open_one():
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            continue
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
        sent[conn] = 0
        return

began = time.monotonic()
while len(sent) < count and time.monotonic() - began < 3:  # a server that stalls connects
    open_one()
print("held", flush=True)
next_drip = time.monotonic()
while True:
    for key, _ in selector.select(0.05):
        conn = key.fileobj
        selector.unregister(conn)
        del sent[conn]
        conn.close()
        open_one()
    if mode == "drip" and time.monotonic() >= next_drip:
        next_drip = time.monotonic() + 0.1
        for conn in list(sent):
            try:
                conn.send(head[sent[conn] : sent[conn] + 1])
                sent[conn] += 1
            except OSError:
                pass
"""


@pytest.fixture
def creds() -> TemporaryCredentials:
    return fake_credentials(lifetime=3600)


@pytest.fixture
def server(creds: TemporaryCredentials) -> Iterator[CredentialsServer]:
    with CredentialsServer({PATH: lambda: creds}, token=TOKEN) as running:
        yield running


def hold(port: int, count: int, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(port), str(count), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    timer = threading.Timer(6, proc.kill)  # never wait past the test's budget
    timer.start()
    try:
        assert proc.stdout.readline() == "held\n"
    finally:
        timer.cancel()
    return proc


def botocore_client(server: CredentialsServer, creds: TemporaryCredentials) -> bool:
    from botocore.credentials import ContainerProvider

    environ = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url(PATH),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
    }
    try:
        loaded = ContainerProvider(environ=environ).load()
    except Exception:
        return False
    return loaded is not None and loaded.get_frozen_credentials().secret_key == (
        creds.secret_access_key
    )


def library_client(server: CredentialsServer, creds: TemporaryCredentials) -> bool:
    endpoint = Endpoint(server.url(PATH), auth="token", token=TOKEN)
    try:
        got = fetch_credentials(endpoint, deadline=3.0)
    except Exception:
        return False
    return got.secret_access_key == creds.secret_access_key


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["silent", "drip"])
@pytest.mark.parametrize("held", [32, 500])
def test_held_connections_do_not_shut_out_legitimate_clients(
    server: CredentialsServer, creds: TemporaryCredentials, held: int, mode: str
) -> None:
    # Before: 32 silent connections held every worker for the 5 s head deadline, and each
    # client got 503 "Busy" (botocore's provider loaded 0 of 4).
    clients: list[Callable[[CredentialsServer, TemporaryCredentials], bool]] = [
        botocore_client,
        library_client,
    ] * 4
    attacker = hold(server.port, held, mode)
    results: list[bool] = []
    try:
        threads = [
            threading.Thread(target=lambda c=client: results.append(c(server, creds)))
            for client in clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(8)
    finally:
        attacker.kill()
        attacker.wait(5)
        if attacker.stdout is not None:
            attacker.stdout.close()
    served = sum(results)
    assert served == len(clients), f"{served} of {len(clients)} clients served ({mode}, {held})"


# -- 2. a restart of serve; 7. a token file ending in a newline ---------------------------------


class Serve:
    """``ecs-xrole serve`` as a process, for one role; ``url`` is what it printed."""

    def __init__(self, token_file: Path, role_arn: str, port: int = 0) -> None:
        argv = [sys.executable, "-m", "ecs_xrole", "serve", "--listen", f"127.0.0.1:{port}"]
        argv += ["--token-file", str(token_file), "--role", f"app={role_arn}"]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        timer = threading.Timer(6, self.proc.kill)  # never wait past the test's budget
        timer.start()
        try:
            printed = [self.proc.stdout.readline() for _ in range(3)]
        finally:
            timer.cancel()
        found = dict(line.strip().split("=", 1) for line in printed if "=" in line)
        assert FULL_URI in found, self.proc.stderr.read() if self.proc.stderr else ""
        self.url = found[FULL_URI]
        self.port = int(self.url.split(":")[2].split("/")[0])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(5)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


def status_with(url: str, authorization: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_a_value_captured_before_a_restart_is_refused_after(
    env: LocalStack, tmp_path: Path, secret_guard: Any
) -> None:
    token_file = tmp_path / "token"
    first = Serve(token_file, env.aws.destination_role_arn)
    try:
        captured = token_file.read_text()  # what a squatter on the port would have received
        secret_guard.add(captured)
        assert status_with(first.url, captured) == 200
        before = os.stat(token_file)
    finally:
        assert first.stop() == 0
    # Same file, same port: the restart a squatter waits for.
    second = Serve(token_file, env.aws.destination_role_arn, port=first.port)
    try:
        fresh = token_file.read_text()
        secret_guard.add(fresh)
        assert status_with(second.url, captured) == 401  # before: 200, the destination's keys
        assert status_with(second.url, fresh) == 200
        assert fresh != captured
        after = os.stat(token_file)
        assert (after.st_uid, after.st_gid, after.st_ino) == (
            before.st_uid,
            before.st_gid,
            before.st_ino,
        )
        assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode) == 0o600
    finally:
        second.stop()


@pytest.mark.slow
def test_a_token_file_ending_in_a_newline_still_serves_botocore(
    env: LocalStack, tmp_path: Path, secret_guard: Any
) -> None:
    from botocore.credentials import ContainerProvider

    token_file = tmp_path / "token"
    token_file.write_text("n" * 43 + "\n")  # as `echo "$TOKEN" > file` writes it
    token_file.chmod(0o600)
    served = Serve(token_file, env.aws.destination_role_arn)
    try:
        secret_guard.add(token_file.read_text().strip())
        environ = {FULL_URI: served.url, TOKEN_FILE: str(token_file)}
        # Before: serve accepted the file, and botocore sent its newline: "not a legal
        # header value", no credentials.
        loaded = ContainerProvider(environ=environ).load()
        assert loaded is not None
        secret_guard.add_credentials(loaded.get_frozen_credentials())
        assert loaded.get_frozen_credentials().access_key.startswith("ASIA")
        assert not token_file.read_bytes().endswith(b"\n")  # serve wrote a token without one
    finally:
        assert served.stop() == 0


# -- 3. exec SIGKILLed: COMMAND must not outlive it --------------------------------------------

CHILD = """\
import os, sys, time
with open(sys.argv[1] + ".new", "w") as f:
    f.write(str(os.getpid()))
os.replace(sys.argv[1] + ".new", sys.argv[1])
time.sleep(60)  # would keep running, and trust whoever takes the port next
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its reaper has ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def until(condition: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_command_dies_with_a_sigkilled_exec(env: LocalStack, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    argv = [sys.executable, "-m", "ecs_xrole", "exec", "--role-arn", env.aws.destination_role_arn]
    argv += ["--", sys.executable, "-c", CHILD, str(pid_file)]
    supervisor = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = 0
    try:
        until(pid_file.exists, 7)
        child = int(pid_file.read_text())
        assert alive(child)
        supervisor.kill()  # as the OOM killer would: no chance to forward anything
        supervisor.wait(5)
        until(lambda: not alive(child), 2)  # before: still running a minute later
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(5)
        if child and alive(child):
            os.kill(child, signal.SIGKILL)


# -- 5. legacy key variables -------------------------------------------------------------------

# Read by the Go v2 and Ruby SDKs ahead of the container endpoint when the primary names
# (AWS_ACCESS_KEY_ID...) are unset.
LEGACY_KEYS = {
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7LEGACY1",
    "AWS_SECRET_KEY": "legacy/secret/key/aws/0123456789abcdefghij",
    "AMAZON_ACCESS_KEY_ID": "AKIAIOSFODNN7LEGACY2",
    "AMAZON_SECRET_ACCESS_KEY": "legacy/secret/key/amazon/0123456789abcdef",
    "AMAZON_SESSION_TOKEN": "legacy-amazon-session-token-0123456789",
}


@pytest.mark.slow
def test_legacy_key_variables_never_reach_command(env: LocalStack) -> None:
    child_env = dict(os.environ, **LEGACY_KEYS)
    argv = [sys.executable, "-m", "ecs_xrole", "exec", "--role-arn", env.aws.destination_role_arn]
    done = subprocess.run(
        [*argv, "--", "env"], env=child_env, capture_output=True, text=True, timeout=8
    )
    assert done.returncode == 0, done.stderr
    seen = {line.split("=", 1)[0] for line in done.stdout.splitlines() if "=" in line}
    assert FULL_URI in seen
    assert not seen & set(LEGACY_KEYS)  # before: all five reached COMMAND


def test_the_stand_ins_remove_legacy_key_variables(
    env: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in LEGACY_KEYS.items():
        monkeypatch.setenv(name, value)
    assert set(env.variables_to_remove()) >= set(LEGACY_KEYS)
    with env.apply():
        assert not set(os.environ) & set(LEGACY_KEYS)  # before: all five stayed
