"""2. Network calls for session requests from 32 threads: endpoint fetches and AssumeRole calls.

A "session request" is what a request handler does to get credentials it can sign with: a
session (or the library's equivalent) with its credentials loaded. Forms that build a new
botocore session per request cost a tenth of a second of CPU or more each, so they run 32
requests (one per thread) and the last columns scale the counts to 1,000. A session "per
process" is made before the threads start, as at import time, with its credentials not yet
loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench_support import (
    PROFILE,
    Section,
    Target,
    loaded,
    refresh_session,
    reset_counters,
    run_threads,
)

TITLE = "2. Network calls for session requests from 32 threads"
THREADS = 32
MANY = 1000
FEW = 32


def run(stack: Any) -> Section:
    import aws_assume_role_lib
    import boto3

    import ecs_xrole

    role = stack.aws.destination_role_arn
    region = stack.aws.region
    nothing: Callable[[], Any] = lambda: None  # noqa: E731

    # (library, form, requests, make the per-process object, one request given that object)
    forms: list[tuple[str, str, int, Callable[[], Any], Callable[[Any], object]]] = [
        (
            "ecs-xrole",
            "`ecs_xrole.get_session(role)`",
            MANY,
            nothing,
            lambda _: loaded(ecs_xrole.get_session(role)),
        ),
        (
            "botocore profile",
            f'`boto3.Session(profile_name="{PROFILE}")`',
            FEW,
            nothing,
            lambda _: loaded(boto3.Session(profile_name=PROFILE)),
        ),
        (
            "aws-assume-role-lib",
            "`assume_role(boto3.Session(), role)`",
            FEW,
            nothing,
            lambda _: loaded(aws_assume_role_lib.assume_role(boto3.Session(), role)),
        ),
        (
            "boto3-refresh-session",
            "`RefreshableSession(...)`",
            FEW,
            nothing,
            lambda _: loaded(refresh_session(role, region)),
        ),
        (
            "aws-assume-role-lib",
            "one session per process",
            MANY,
            lambda: aws_assume_role_lib.assume_role(boto3.Session(), role),
            loaded,
        ),
        (
            "boto3-refresh-session",
            "one session per process",
            MANY,
            lambda: refresh_session(role, region),
            loaded,
        ),
    ]
    rows = []
    measured: dict[str, tuple[int, int]] = {}
    for library, form, requests, prepare, request in forms:
        reset_counters(stack)
        made = prepare()
        per_thread = requests // THREADS

        def work(
            _: int,
            request: Callable[[Any], object] = request,
            made: Any = made,
            per_thread: int = per_thread,
        ) -> None:
            for _ in range(per_thread):
                request(made)

        errors = run_threads(THREADS, work, timeout=120)
        fetches, assumes = stack.endpoint.served, stack.aws.assume_role_calls
        measured[f"{library} {form}"] = (fetches, assumes)
        scale = MANY / requests
        rows.append(
            [
                library,
                form,
                str(requests),
                str(fetches),
                str(assumes),
                f"{fetches * scale:,.0f}",
                f"{assumes * scale:,.0f}",
                str(len(errors)) + (f" ({type(errors[0]).__name__})" if errors else ""),
            ]
        )
    ours = measured[f"ecs-xrole {forms[0][1]}"]
    return Section(
        title=TITLE,
        what=(
            f"{THREADS} threads released together; counts from the EndpointServer (credential "
            "answers served) and FakeAWS (AssumeRole calls received), each form starting cold."
        ),
        header=[
            "Library",
            "Per request",
            "Requests",
            "Endpoint fetches",
            "AssumeRole calls",
            "Fetches per 1,000",
            "AssumeRole per 1,000",
            "Errors",
        ],
        rows=rows,
        targets=[
            Target(
                "2. 1,000 session requests from 32 threads: 1 endpoint fetch and 1 AssumeRole",
                ours == (1, 1),
                f"{ours[0]} fetch(es), {ours[1]} AssumeRole call(s)",
            )
        ],
    )
