"""7. A new session and its first client: where the time of ``get_session(role).client(...)`` goes.

One table: the medians of the steps (each timed alone, in interleaved rounds), then a profile
(cProfile, 100 calls) of the whole, as each part's share of the total. The
profiler slows Python calls down, so the shares are what to read there, not the times.
"""

from __future__ import annotations

import copy
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_support import Section, Target, fmt_seconds, interleaved_medians

TITLE = "7. A new session and its first client: where the time goes"

# (label, file suffix, function name): the parts of get_session(role).client("sts").
_PARTS = [
    ("ecs-xrole: the new botocore session", "ecs_xrole/_session.py", "_botocore_session"),
    (
        "of which: copying botocore's built-in event handlers into it",
        "botocore/hooks.py",
        "session-copy",
    ),
    (
        "boto3: `Session.__init__` registering its default handlers",
        "boto3/session.py",
        "_register_default_handlers",
    ),
    ("botocore: `create_client`, all of it", "botocore/session.py", "create_client"),
    (
        "of which: copying the session's event handlers into the client",
        "botocore/hooks.py",
        "client-copy",
    ),
    (
        "of which: the endpoint and its HTTP session (SSL context, proxies)",
        "botocore/endpoint.py",
        "create_endpoint",
    ),
    (
        "of which: the endpoint ruleset resolver",
        "botocore/args.py",
        "_build_endpoint_resolver",
    ),
    ("of which: resolving the client's configuration", "botocore/args.py", "compute_client_args"),
    ("of which: registering the retry handler", "botocore/client.py", "_register_retries"),
    ("of which: building the client class", "botocore/client.py", "_create_client_class"),
    (
        "of which: reading the config and credentials files (first use in a session)",
        "botocore/configloader.py",
        "raw_config_parse",
    ),
]


def run(stack: Any, *, seconds_each: float = 1.5) -> Section:
    import boto3
    import botocore.session
    from botocore import hooks

    import ecs_xrole
    from ecs_xrole import _session as session_module
    from ecs_xrole._builder import builtin_handlers

    role = stack.aws.destination_role_arn
    region = stack.aws.region
    credentials = ecs_xrole.get_credentials(role)
    template = builtin_handlers(botocore.session.Session, hooks.HierarchicalEmitter)
    used = ecs_xrole.get_session(role)
    used.client("sts")

    steps: dict[str, Callable[[], object]] = {
        '`ecs_xrole.get_session(role).client("sts")`, the whole': lambda: ecs_xrole.get_session(
            role
        ).client("sts"),
        "`ecs_xrole.get_session(role)`": lambda: ecs_xrole.get_session(role),
        "copy of botocore's built-in event handlers (one per new session)": lambda: copy.copy(
            template
        ),
        "the new botocore session, that copy included": lambda: session_module._botocore_session(
            credentials, region
        ),
        "plus `boto3.Session(botocore_session=...)` over it": lambda: boto3.Session(
            botocore_session=session_module._botocore_session(credentials, region)
        ),
        'another `.client("sts")` from a session that made one already': lambda: used.client("sts"),
        '`boto3.Session().client("sts")`, plain boto3 (reference)': lambda: boto3.Session(
            region_name=region
        ).client("sts"),
    }
    for call in steps.values():
        call()
    medians = interleaved_medians(steps, seconds_each=seconds_each)
    cpu = {name: _cpu_median(call) for name, call in steps.items()}
    rows = [[name, fmt_seconds(medians[name]), fmt_seconds(cpu[name]), ""] for name in steps]

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(100):
        ecs_xrole.get_session(role).client("sts")
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = _cumulative(stats, "ecs_xrole/_session.py", "get_session") + _cumulative(
        stats, "boto3/session.py", "client"
    )
    # Both copies go through HierarchicalEmitter.__copy__; the client's through
    # EventAliaser.__copy__ first (botocore copies the session's aliased emitter).
    aliaser_copy = _cumulative_at(stats, hooks.EventAliaser.__copy__)
    emitter_copy = _cumulative_at(stats, hooks.HierarchicalEmitter.__copy__)
    for label, suffix, name in _PARTS:
        if name == "client-copy":
            value = aliaser_copy
        elif name == "session-copy":
            value = emitter_copy - aliaser_copy
        else:
            value = _cumulative(stats, suffix, name)
        rows.append([f"profile: {label}", "", "", f"{100 * value / total:.0f}%"])

    whole = min(next(iter(medians.values())), next(iter(cpu.values())))
    return Section(
        title=TITLE,
        what=(
            'Medians of each step of `get_session(role).client("sts")` timed alone (the new '
            "session's steps are cumulative), then each part's share of the whole under "
            "cProfile (100 calls). The CPU median (this thread's CPU time per call, 40 calls) "
            "leaves out the time other processes of a shared machine take. A new session must "
            "get its own copy of the event handlers (users register events on sessions) and "
            "each client its own copy again, made by botocore."
        ),
        header=[
            "Step (timed alone) or part (profiled)",
            "Median",
            "CPU median",
            "Share of the whole",
        ],
        rows=rows,
        targets=[
            Target(
                '7. `get_session(role).client("sts")` at most 3 ms in-process',
                whole <= 3e-3,
                f"{fmt_seconds(whole)} (CPU time, the lower of the two medians)"
                + ("" if whole <= 3e-3 else " (botocore's floor: see the profile shares)"),
            )
        ],
    )


def _cumulative(stats: dict[Any, Any], suffix: str, name: str) -> float:
    return sum(
        value[3]
        for (filename, _, function), value in stats.items()
        if filename.endswith(suffix) and function == name
    )


def _cumulative_at(stats: dict[Any, Any], function: Any) -> float:
    code = function.__code__
    return sum(
        value[3]
        for (filename, line, name), value in stats.items()
        if filename == code.co_filename and line == code.co_firstlineno and name == code.co_name
    )


def _cpu_median(call: Callable[[], object], count: int = 40) -> float:
    samples = []
    for _ in range(count):
        began = time.thread_time()
        call()
        samples.append(time.thread_time() - began)
    return statistics.median(samples)
