"""8 and 9. asyncio: a ready client per request, and the event loop during a refresh.

Needs aiobotocore, aioboto3 and aioboto3-assume (``tox -e bench-aio``); without them the
section says so and measures nothing.

8 times what an async request handler does to get a client whose credentials are loaded,
in one event loop, in interleaved rounds: ``ecs_xrole.aio.get_client`` (a shared client per
loop), a new ``ecs_xrole.aio`` session and client per request, aioboto3-assume's session with
a client per request (its idiom: aioboto3 clients are context managers), a plain aiobotocore
session on the profile ``write-config`` writes with a client per request, and, as the floor,
one aiobotocore client opened at startup and kept in a variable.

9 measures the loop during a refresh: FakeAWS holds every AssumeRole answer for 300 ms;
4 tasks call ``GetCallerIdentity`` back to back for 5 s on one client while a ticker task
wakes every millisecond. Each library gets credentials whose lifetime puts its refresh in the
middle of the run (as in benchmark 4). The longest gap between ticks is the longest time the
loop could not run anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench_support import (
    PROFILE,
    SESSION_NAME,
    Section,
    Target,
    fmt_ratio,
    fmt_seconds,
    percentile,
    reset_counters,
)

TITLE = "8. asyncio: a ready client per request"
TITLE_REFRESH = "9. asyncio: the event loop during a refresh, STS answering in 300 ms"
STS_DELAY = 0.3
TASKS = 4
SECONDS = 5.0
BOTOCORE_LIFETIME = 903.0
ECS_XROLE_LIFETIME = 5.0


def _missing() -> str | None:
    import importlib.util

    for name in ("aiobotocore", "aioboto3", "aioboto3_assume"):
        if importlib.util.find_spec(name) is None:
            return name
    return None


def _skipped(title: str) -> Section | None:
    missing = _missing()
    if missing is None:
        return None
    return Section(
        title=title,
        what=f"Skipped: {missing} is not installed here; run `tox -e bench-aio`.",
        header=["Library", "Result"],
        rows=[["-", "not measured"]],
    )


def run(stack: Any) -> Section:
    skipped = _skipped(TITLE)
    if skipped is not None:
        return skipped
    rows = asyncio.run(_per_request(stack))
    return Section(
        title=TITLE,
        what=(
            "Median wall time for an async request handler to get a client whose credentials "
            "are loaded, in one event loop, in interleaved rounds. The ratio is to "
            "`ecs_xrole.aio.get_client`; the last column is endpoint fetches / AssumeRole "
            "calls over all the timed requests (each form had one warm-up request first)."
        ),
        header=["Library", "Per request", "Median", "Time / get_client", "Fetches / AssumeRole"],
        rows=rows,
        notes=[
            "A client per request (the aioboto3 idiom) also means a new aiohttp connector and "
            "connection pool per request: no keep-alive between requests.",
            "The last row does no look-up at all; it is slower than `get_client` because "
            "aiobotocore's own refreshable credentials compute their refresh windows on every "
            "signature, where ecs-xrole's compare one number.",
        ],
    )


def run_refresh(stack: Any) -> Section:
    skipped = _skipped(TITLE_REFRESH)
    if skipped is not None:
        return skipped
    os.environ["BENCH_ROLE_ARN"] = stack.aws.destination_role_arn
    results = _across_refresh(stack)
    ours = next(r for r in results if r["library"] == "ecs-xrole")
    return Section(
        title=TITLE_REFRESH,
        what=(
            f"{TASKS} tasks, {SECONDS:g} s of back-to-back `GetCallerIdentity` calls on one "
            "client per library, a ticker task waking every millisecond; each library's "
            "credentials expire so that its refresh falls mid-run. Each library runs in a "
            "process of its own (moto and the endpoint stay in the benchmark's process, so "
            'their work does not hold the measured GIL). "Longest loop stall" is the longest '
            'gap between ticks over the run; "within the refresh" over the STS round trip '
            "(plus 100 ms) before the client's new access key appeared."
        ),
        header=[
            "Library",
            "Credential lifetime",
            "Calls",
            "AssumeRole",
            "p50 call",
            "max call",
            "Waited for STS",
            "Longest loop stall",
            "Stall within the refresh",
            "p50 / p99 tick gap",
            "Errors",
        ],
        rows=[
            [
                r["library"],
                f"{r['lifetime']:g} s",
                str(r["calls"]),
                str(r["refreshes"]),
                fmt_seconds(r["p50"]),
                fmt_seconds(r["max"]),
                "yes" if r["max"] >= STS_DELAY else "no",
                fmt_seconds(r["stall"]),
                fmt_seconds(r["refresh_stall"]) if r["refresh_stall"] is not None else "-",
                f"{fmt_seconds(r['stall_p50'])} / {fmt_seconds(r['stall_p99'])}",
                str(r["errors"]),
            ]
            for r in results
        ],
        notes=[
            "A tick is due every millisecond: the p50 / p99 gaps show what the machine's load "
            "alone does to the loop (load average when this section ended: "
            + ", ".join(f"{x:.1f}" for x in os.getloadavg())
            + " on "
            + str(os.cpu_count())
            + " CPUs); a stall within the refresh close to them means the refresh added none.",
            "aiobotocore's own refreshable credentials (both peers) await STS on the calling "
            "task: the loop runs on, but that caller, and every caller inside the mandatory "
            "window, waits for the round trip.",
        ],
        targets=[
            Target(
                "9. no async caller waits for ecs-xrole's refresh (slowest call below the STS "
                "round trip)",
                ours["max"] < STS_DELAY,
                f"max call {fmt_seconds(ours['max'])}",
            ),
            Target(
                "9. longest event-loop stall within ecs-xrole's refresh (reported)",
                None,
                fmt_seconds(ours["refresh_stall"]) if ours["refresh_stall"] is not None else "-",
            ),
        ],
    )


async def _ready(client: Any) -> Any:
    # What the request's first API call would do: load the client's credentials.
    await client._request_signer._credentials.get_frozen_credentials()
    return client


async def _per_call_samples(call: Callable[[], Awaitable[object]], seconds: float) -> list[float]:
    began = time.perf_counter()
    await call()
    first = time.perf_counter() - began
    batch = 1 if first > 1e-3 else max(1, int(2e-3 / max(first, 1e-7)))
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 3:
        began = time.perf_counter()
        for _ in range(batch):
            await call()
        samples.append((time.perf_counter() - began) / batch)
    return samples


async def _per_request(stack: Any, seconds_each: float = 2.0, rounds: int = 4) -> list[list[str]]:
    import aioboto3
    from aioboto3_assume import assume_role
    from aiobotocore.session import AioSession

    import ecs_xrole.aio

    role = stack.aws.destination_role_arn
    reset_counters(stack)
    shared_assume = assume_role(
        source_session=aioboto3.Session(),
        assume_role_kwargs={"RoleArn": role, "RoleSessionName": SESSION_NAME},
    )
    shared_profile = AioSession(profile=PROFILE)
    async with contextlib.AsyncExitStack() as stack_of_clients:
        floor = await stack_of_clients.enter_async_context(
            AioSession(profile=PROFILE).create_client("sts")
        )

        async def ours() -> None:
            async with ecs_xrole.aio.get_client("sts", role) as sts:
                await _ready(sts)

        async def ours_session() -> None:
            session = await ecs_xrole.aio.get_session(role)
            async with session.create_client("sts") as sts:
                await _ready(sts)

        async def peer() -> None:
            async with shared_assume.client("sts") as sts:
                await _ready(sts)

        async def profile_client() -> None:
            async with shared_profile.create_client("sts") as sts:
                await _ready(sts)

        async def kept() -> None:
            await _ready(floor)

        forms: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [
            ("ecs-xrole", '`async with ecs_xrole.aio.get_client("sts", role)`', ours),
            (
                "ecs-xrole",
                '`await ecs_xrole.aio.get_session(role)`, `create_client("sts")`',
                ours_session,
            ),
            ("aioboto3-assume", 'one session per process, `client("sts")` per request', peer),
            (
                "aiobotocore profile",
                f'`AioSession(profile="{PROFILE}")` per process, `create_client` per request',
                profile_client,
            ),
            ("aiobotocore", "one client opened at startup, kept in a variable", kept),
        ]
        for _, _, call in forms:  # warm up: imports, models, first credentials
            await call()
        samples: dict[str, list[float]] = {form: [] for _, form, _ in forms}
        counts: dict[str, list[int]] = {form: [0, 0, 0] for _, form, _ in forms}
        for _ in range(rounds):
            for _, form, call in forms:
                stack.endpoint.reset_counters()
                stack.aws.reset()
                got = await _per_call_samples(call, seconds_each / rounds)
                samples[form] += got
                counts[form][0] += stack.endpoint.served
                counts[form][1] += stack.aws.assume_role_calls
                counts[form][2] += len(got)
        medians = {form: statistics.median(values) for form, values in samples.items()}
    await ecs_xrole.aio.close()
    base = medians[forms[0][1]]
    rows = []
    for library, form, _ in forms:
        fetches, assumes, _n = counts[form]
        rows.append(
            [
                library,
                form,
                fmt_seconds(medians[form]),
                fmt_ratio(medians[form] / base),
                f"{fetches} / {assumes}",
            ]
        )
    return rows


def _across_refresh(stack: Any) -> list[dict[str, Any]]:
    """Each library's run in a process of its own, so that moto's request handling (in this
    process) does not take the measured loop's GIL; the stand-ins' knobs are set here."""
    import json
    import subprocess
    import sys

    results = []
    for library, lifetime in (
        ("ecs-xrole", ECS_XROLE_LIFETIME),
        ("aiobotocore profile", BOTOCORE_LIFETIME),
        ("aioboto3-assume", BOTOCORE_LIFETIME),
    ):
        reset_counters(stack)
        stack.aws.sts_lifetime = lifetime
        stack.aws.assume_role_delay = STS_DELAY
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--refresh-child", library],
                capture_output=True,
                text=True,
                timeout=SECONDS + 60,
                check=True,
            ).stdout
        finally:
            stack.aws.sts_lifetime = None
            stack.aws.assume_role_delay = 0.0
        result = json.loads(out.strip().splitlines()[-1])
        result.update(library=library, lifetime=lifetime)
        # The first AssumeRole issued the credentials; the rest are refreshes.
        result["refreshes"] = stack.aws.assume_role_calls - 1
        results.append(result)
    return results


def _current_key(library: str, client: Any) -> str | None:
    """The access key the client signs with now (no I/O), to see when a refresh lands."""
    credentials = client._request_signer._credentials
    if library == "ecs-xrole":
        current = credentials.sync_credentials.current
        return None if current is None else str(current.access_key_id)
    return getattr(credentials, "_access_key", None)


async def _refresh_child(library: str) -> dict[str, Any]:
    import aioboto3
    from aioboto3_assume import assume_role
    from aiobotocore.session import AioSession

    import ecs_xrole.aio

    role = os.environ["BENCH_ROLE_ARN"]
    region = os.environ["AWS_DEFAULT_REGION"]
    async with contextlib.AsyncExitStack() as exits:
        if library == "ecs-xrole":
            client = await ecs_xrole.aio.get_client("sts", role)
        elif library == "aiobotocore profile":
            client = await exits.enter_async_context(
                AioSession(profile=PROFILE).create_client("sts")
            )
        else:
            session = assume_role(
                source_session=aioboto3.Session(),
                assume_role_kwargs={"RoleArn": role, "RoleSessionName": SESSION_NAME},
                target_session_kwargs={"region_name": region},
            )
            client = await exits.enter_async_context(session.client("sts"))
        await client.get_caller_identity()  # credentials issued now
        first_key = _current_key(library, client)
        ticks: list[float] = []
        changed: list[float] = []

        async def ticker() -> None:
            while True:
                now = time.perf_counter()
                ticks.append(now)
                if not changed and _current_key(library, client) != first_key:
                    changed.append(now)
                await asyncio.sleep(0.001)

        latencies: list[tuple[float, float]] = []
        end = time.monotonic() + SECONDS

        async def work() -> None:
            while time.monotonic() < end:
                began = time.perf_counter()
                await client.get_caller_identity()
                latencies.append((began, time.perf_counter() - began))

        tick_task = asyncio.ensure_future(ticker())
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(work() for _ in range(TASKS)), return_exceptions=True)
        finished = time.perf_counter()
        tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick_task
    await ecs_xrole.aio.close()
    gaps = [b - a for a, b in itertools.pairwise([started, *ticks, finished])]
    refresh_stall = None
    if changed:
        # The refresh was in flight during the STS round trip before the new key appeared.
        low, high = changed[0] - STS_DELAY - 0.1, changed[0]
        inside = [low, *(t for t in ticks if low < t < high), high]
        refresh_stall = max(b - a for a, b in itertools.pairwise(inside))
    durations = [d for _, d in latencies]
    return {
        "calls": len(durations),
        "p50": percentile(durations, 0.5),
        "max": max(durations),
        "stall": max(gaps),
        "stall_p50": percentile(gaps, 0.5),
        "stall_p99": percentile(gaps, 0.99),
        "refresh_stall": refresh_stall,
        "errors": sum(1 for o in outcomes if isinstance(o, BaseException)),
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--refresh-child"]:
    import json

    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(_refresh_child(sys.argv[2]))))
