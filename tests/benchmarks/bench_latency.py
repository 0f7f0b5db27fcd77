"""4. Latency of credentialed calls across a refresh, with a slow STS.

FakeAWS holds every AssumeRole answer for 300 ms, so a caller that waits for a refresh shows
it. Each library's credentials are given a lifetime that puts its own refresh point about
halfway through the run: botocore and the peers (which use botocore's refresh, 15 minutes
before expiry) get 903-second credentials and refresh 3 s in; ecs-xrole (which refreshes at
half the lifetime for short-lived credentials) gets 5-second credentials and refreshes after
2-2.5 s. Four threads call `GetCallerIdentity` back to back for 5 s on one shared client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bench_support import (
    PROFILE,
    Section,
    Target,
    fmt_seconds,
    percentile,
    refresh_session,
    refresh_session_client,
    reset_counters,
    run_threads,
)

TITLE = "4. Call latency across a refresh, STS answering in 300 ms"
STS_DELAY = 0.3
THREADS = 4
SECONDS = 5.0
BOTOCORE_LIFETIME = 903.0  # botocore's advisory refresh starts 900 s before expiry
ECS_XROLE_LIFETIME = 5.0


def run(stack: Any) -> Section:
    import aws_assume_role_lib
    import boto3

    import ecs_xrole

    role = stack.aws.destination_role_arn
    region = stack.aws.region
    forms: list[tuple[str, float, Callable[[], Any]]] = [
        ("ecs-xrole", ECS_XROLE_LIFETIME, lambda: ecs_xrole.get_client("sts", role)),
        (
            "botocore profile",
            BOTOCORE_LIFETIME,
            lambda: boto3.Session(profile_name=PROFILE).client("sts"),
        ),
        (
            "aws-assume-role-lib",
            BOTOCORE_LIFETIME,
            lambda: aws_assume_role_lib.assume_role(boto3.Session(), role).client("sts"),
        ),
        (
            "boto3-refresh-session",
            BOTOCORE_LIFETIME,
            lambda: refresh_session_client(refresh_session(role, region), region),
        ),
    ]
    # Warm up the stand-ins and the machine first, so that the first library measured is not
    # the one that pays for it.
    reset_counters(stack)
    warm = ecs_xrole.get_client("sts", role)
    warm_end = time.monotonic() + 1.0

    def warm_up(_: int) -> None:
        while time.monotonic() < warm_end:
            warm.get_caller_identity()

    run_threads(THREADS, warm_up, timeout=30)
    rows = []
    maxima: dict[str, float] = {}
    for library, lifetime, make in forms:
        reset_counters(stack)
        stack.aws.sts_lifetime = lifetime
        stack.aws.assume_role_delay = STS_DELAY
        client = make()
        client.get_caller_identity()  # credentials issued now: the run starts with them fresh
        before = stack.aws.assume_role_calls
        latencies: list[float] = []
        lock = threading.Lock()
        end = time.monotonic() + SECONDS

        def work(
            _: int,
            client: Any = client,
            end: float = end,
            lock: threading.Lock = lock,
            latencies: list[float] = latencies,
        ) -> None:
            mine = []
            while time.monotonic() < end:
                began = time.perf_counter()
                client.get_caller_identity()
                mine.append(time.perf_counter() - began)
            with lock:
                latencies.extend(mine)

        errors = run_threads(THREADS, work, timeout=SECONDS + 30)
        refreshes = stack.aws.assume_role_calls - before
        worst = max(latencies)
        maxima[library] = worst
        rows.append(
            [
                library,
                f"{lifetime:g} s",
                str(len(latencies)),
                str(refreshes),
                fmt_seconds(percentile(latencies, 0.50)),
                fmt_seconds(percentile(latencies, 0.99)),
                fmt_seconds(worst),
                "yes" if worst >= STS_DELAY else "no",
                str(len(errors)),
            ]
        )
    stack.aws.sts_lifetime = None
    stack.aws.assume_role_delay = 0.0
    ours = maxima["ecs-xrole"]
    theirs = maxima["botocore profile"]
    return Section(
        title=TITLE,
        what=(
            f"{THREADS} threads, {SECONDS:g} s of back-to-back calls on one client per library; "
            '"AssumeRole" counts the refreshes during the run, "waited for STS" says whether '
            f"the slowest call took at least the {STS_DELAY * 1000:.0f} ms STS round trip."
        ),
        header=[
            "Library",
            "Credential lifetime",
            "Calls",
            "AssumeRole",
            "p50",
            "p99",
            "max",
            "Waited for STS",
            "Errors",
        ],
        rows=rows,
        targets=[
            Target(
                "4. ecs-xrole's slowest call is not an STS round trip (no caller waits for the "
                "refresh)",
                ours < STS_DELAY,
                f"max {fmt_seconds(ours)}",
            ),
            Target(
                "4. botocore's slowest call is an STS round trip",
                theirs >= STS_DELAY,
                f"max {fmt_seconds(theirs)}",
            ),
        ],
    )
