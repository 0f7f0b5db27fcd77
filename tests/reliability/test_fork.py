"""A preloaded parent forks workers, as gunicorn --preload does: every child works, none hangs.

The parent loads credentials and clients before forking, and keeps a thread busy with them
while it forks, so locks may be held at the moment of the fork. Each child makes real calls on
loopback, then waits for its own background refresh (the destination's credentials live a few
seconds). Waits are bounded: a child that does not finish in time is killed and fails the test.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from typing import Any

import pytest

import ecs_xrole

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

DESTINATION = "555566667777"
CHILDREN = 8

# Child exit codes.
OK, WRONG_ACCOUNT, NO_REFRESH, RAISED = 0, 3, 4, 5


def child(role: str, first_key: str, report: int) -> int:
    """What a worker does: calls, then a call after its own refresh. Returns an exit code."""
    try:
        sts = ecs_xrole.get_client("sts", role)
        for _ in range(3):
            if sts.get_caller_identity()["Account"] != DESTINATION:
                return WRONG_ACCOUNT
        ecs = ecs_xrole.get_session(role).client("ecs")
        ecs.list_clusters()
        creds = ecs_xrole.get_credentials(role)
        deadline = time.monotonic() + 5
        while creds.get_frozen_credentials().access_key == first_key:
            if time.monotonic() > deadline:
                return NO_REFRESH  # the child's refresher never ran
            time.sleep(0.05)
        if sts.get_caller_identity()["Account"] != DESTINATION:
            return WRONG_ACCOUNT
        return OK
    except BaseException as exc:
        os.write(report, f"{type(exc).__name__}: {exc}\n".encode()[:2000])
        return RAISED


def test_eight_forked_children_of_a_preloaded_parent_all_work(env: Any, secret_guard: Any) -> None:
    role = env.aws.destination_role_arn
    env.aws.sts_lifetime = 4.0  # children must refresh on their own after the fork
    sts = ecs_xrole.get_client("sts", role)
    assert sts.get_caller_identity()["Account"] == DESTINATION  # the preload
    first_key = str(ecs_xrole.get_credentials(role).get_frozen_credentials().access_key)
    calls_before = env.aws.assume_role_calls
    served_before = env.endpoint.served

    stop = threading.Event()

    def busy() -> None:  # an application thread using ecs-xrole's locks at fork time
        while not stop.is_set():
            ecs_xrole.get_client("sts", role)
            ecs_xrole.get_credentials(role).get_frozen_credentials()

    hammer = threading.Thread(target=busy, daemon=True)
    hammer.start()
    read_end, write_end = os.pipe()
    pids = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded, fork()"
            for _ in range(CHILDREN):
                pid = os.fork()
                if pid == 0:  # the child: never returns into pytest
                    code = RAISED
                    try:
                        os.close(read_end)
                        code = child(role, first_key, write_end)
                    finally:
                        os._exit(code)
                pids.append(pid)
                time.sleep(0.01)
    finally:
        stop.set()
        hammer.join(5)
        os.close(write_end)

    codes: dict[int, int | None] = dict.fromkeys(pids)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and any(c is None for c in codes.values()):
        for pid, exit_code in codes.items():
            if exit_code is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    hung = [pid for pid, code in codes.items() if code is None]
    for pid in hung:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as reports:
        said = reports.read().decode(errors="replace")
    secret_guard.seen(said, "child reports")
    assert not hung, f"{len(hung)} of {CHILDREN} children hung (deadlock?); reports: {said}"
    assert list(codes.values()) == [OK] * CHILDREN, said
    # The parent is unaffected; the children inherited the credentials (no new fetch at start)
    # and each refreshed on its own: at most one AssumeRole per child, plus the parent's own.
    assert sts.get_caller_identity()["Account"] == DESTINATION
    assert env.endpoint.served == served_before
    assert CHILDREN <= env.aws.assume_role_calls - calls_before <= CHILDREN + 2
