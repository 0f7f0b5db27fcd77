"""1. The cost of a ready cross-account client per request, as a web handler would get one.

"Ready" means its credentials are loaded: for botocore's deferred credentials that is the
endpoint fetch and the AssumeRole the request's first API call would otherwise pay. The
ecs-xrole rows include the other two functions on the same fast front (``get_session``,
``get_credentials``) and ``get_client`` with a ``Config``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench_support import (
    PROFILE,
    Section,
    Target,
    fmt_ratio,
    fmt_seconds,
    interleaved_medians,
    ready,
    refresh_session,
    refresh_session_client,
    reset_counters,
)

TITLE = "1. A ready cross-account client per request"


def run(stack: Any, *, seconds_each: float = 2.0) -> Section:
    import aws_assume_role_lib
    import boto3
    from botocore.config import Config

    import ecs_xrole

    role = stack.aws.destination_role_arn
    region = stack.aws.region
    reset_counters(stack)
    shared_profile = boto3.Session(profile_name=PROFILE)
    shared_lib = aws_assume_role_lib.assume_role(boto3.Session(), role)
    shared_brs = refresh_session(role, region)
    config = Config(max_pool_connections=50, retries={"mode": "standard"})

    forms: list[tuple[str, str, Callable[[], object]]] = [
        (
            "ecs-xrole",
            '`ecs_xrole.get_client("sts", role)`',
            lambda: ecs_xrole.get_client("sts", role),
        ),
        (
            "ecs-xrole",
            '`ecs_xrole.get_session(role).client("sts")`',
            lambda: ecs_xrole.get_session(role).client("sts"),
        ),
        (
            "ecs-xrole",
            '`ecs_xrole.get_client("sts", role, config=config)` (one `Config` object)',
            lambda: ecs_xrole.get_client("sts", role, config=config),
        ),
        (
            "ecs-xrole",
            '`ecs_xrole.get_client("sts", role, config=Config(...))` (a new equal `Config`)',
            lambda: ecs_xrole.get_client(
                "sts", role, config=Config(max_pool_connections=50, retries={"mode": "standard"})
            ),
        ),
        (
            "ecs-xrole",
            "`ecs_xrole.get_credentials(role)` (credentials, not a client)",
            lambda: ecs_xrole.get_credentials(role),
        ),
        (
            "ecs-xrole",
            "`ecs_xrole.get_session(role)` (a new session, no client)",
            lambda: ecs_xrole.get_session(role),
        ),
        (
            "botocore profile",
            f'`boto3.Session(profile_name="{PROFILE}").client("sts")`',
            lambda: ready(boto3.Session(profile_name=PROFILE).client("sts")),
        ),
        (
            "aws-assume-role-lib",
            '`assume_role(boto3.Session(), role).client("sts")`',
            lambda: ready(aws_assume_role_lib.assume_role(boto3.Session(), role).client("sts")),
        ),
        (
            "boto3-refresh-session",
            '`RefreshableSession(...).client("sts", ...)`',
            lambda: ready(refresh_session_client(refresh_session(role, region), region)),
        ),
        (
            "botocore profile",
            'one session per process, `.client("sts")` per request',
            lambda: ready(shared_profile.client("sts")),
        ),
        (
            "aws-assume-role-lib",
            'one session per process, `.client("sts")` per request',
            lambda: ready(shared_lib.client("sts")),
        ),
        (
            "boto3-refresh-session",
            'one session per process, `.client("sts", ...)` per request (its client cache)',
            lambda: ready(refresh_session_client(shared_brs, region)),
        ),
    ]
    calls = {f"{library}: {form}": call for library, form, call in forms}
    for call in calls.values():  # warm up: imports, model loading, first credentials
        call()

    counts: dict[str, list[int]] = {name: [0, 0] for name in calls}

    def before(name: str) -> None:
        stack.endpoint.reset_counters()
        stack.aws.reset()

    def after(name: str, samples: int) -> None:
        counts[name][0] += stack.endpoint.served
        counts[name][1] += stack.aws.assume_role_calls

    made: dict[str, int] = dict.fromkeys(calls, 0)  # calls per form, batches included

    def counting(name: str, call: Callable[[], object]) -> Callable[[], object]:
        def wrapped() -> object:
            made[name] += 1
            return call()

        return wrapped

    medians = interleaved_medians(
        {name: counting(name, call) for name, call in calls.items()},
        seconds_each=seconds_each,
        before_each=before,
        after_each=after,
    )
    base_name = next(iter(calls))
    base = medians[base_name]
    rows = []
    for (library, form, _), name in zip(forms, calls, strict=True):
        fetches, assumes = counts[name]
        n = max(made[name], 1)
        rows.append(
            [
                library,
                form,
                fmt_seconds(medians[name]),
                fmt_ratio(medians[name] / base),
                f"{fetches / n:.2f} / {assumes / n:.2f}",
            ]
        )
    names = list(calls)
    profile = medians[names[forms.index(_form(forms, "botocore profile", "`boto3"))]]
    brs_cached = medians[names[forms.index(_form(forms, "boto3-refresh-session", "one session"))]]
    session_client = medians[names[1]]
    profile_ratio = profile / base
    session_ratio = profile / session_client
    brs_ratio = brs_cached / base
    targets = [
        Target(
            "1. `get_client` cache hit: median at most 5 µs",
            base <= 5e-6,
            fmt_seconds(base),
        ),
        Target(
            "1. `get_client` cache hit at least 20x faster than boto3-refresh-session's cached "
            "`client()`",
            brs_ratio >= 20,
            f"{fmt_ratio(brs_ratio)} faster ({fmt_seconds(brs_cached)} against "
            f"{fmt_seconds(base)})",
        ),
        Target(
            "1. `get_client` at least 100x cheaper than the botocore profile path",
            profile_ratio >= 100,
            f"{fmt_ratio(profile_ratio)} cheaper",
        ),
        Target(
            '1. `get_session(role).client("sts")`: median at most 3 ms in-process',
            session_client <= 3e-3,
            fmt_seconds(session_client)
            + ("" if session_client <= 3e-3 else " (gap: botocore's session and client, see 7)"),
        ),
        Target(
            "1. `get_session(...).client(...)` at least 100x cheaper than the botocore profile "
            "path",
            session_ratio >= 100,
            f"{fmt_ratio(session_ratio)} cheaper"
            + ("" if session_ratio >= 100 else " (gap: a new botocore session and client)"),
        ),
    ]
    return Section(
        title=TITLE,
        what=(
            "Median wall time to get a client whose credentials are loaded, the way a request "
            "handler would, in interleaved rounds. The ratio is to `ecs_xrole.get_client`. "
            "The last column is endpoint fetches / AssumeRole calls per request."
        ),
        header=["Library", "Per request", "Median", "Time / get_client", "Fetches / AssumeRole"],
        rows=rows,
        targets=targets,
        notes=[
            "boto3 sessions are not thread-safe, so the one-session-per-process rows are only "
            "safe in single-threaded servers.",
            'boto3-refresh-session\'s `session.client("sts")` returns its internal STS client, '
            "which signs with the source (task role) credentials; the rows name the region to "
            "get a client that signs as the assumed role.",
        ],
    )


def _form(
    forms: list[tuple[str, str, Callable[[], object]]], library: str, start: str
) -> tuple[str, str, Callable[[], object]]:
    return next(f for f in forms if f[0] == library and f[1].startswith(start))
