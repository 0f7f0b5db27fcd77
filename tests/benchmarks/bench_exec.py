"""10. Every process, any language: exec's endpoint, the written profile and the library.

Two measurements:

* **Serving a request on loopback.** botocore's own container-credentials fetcher (what every
  boto3 process runs when its default chain finds ``AWS_CONTAINER_CREDENTIALS_FULL_URI``) asks
  exec's endpoint (:class:`ecs_xrole._serving.server.CredentialsServer`, one request per connection)
  and the ECS agent stand-in (``EndpointServer``, keep-alive) in interleaved rounds.
* **N worker processes.** A launcher imports boto3 (and ecs-xrole), then forks N workers, as a
  pre-forking server does; each worker builds its client the idiomatic way and makes its first
  call, timing both. FakeAWS holds every AssumeRole answer for ``STS_DELAY`` seconds, a real
  STS round trip. Counted: ECS-agent fetches and AssumeRole calls for the whole run, exec's own
  start included.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench_support import (
    PROFILE,
    Section,
    Target,
    fmt_ratio,
    fmt_seconds,
    interleaved_medians,
    percentile,
    reset_counters,
)

TITLE = "10. Every process, any language: exec, the written profile, the library"
WORKERS = 8
STS_DELAY = 0.1
SERVE_SECONDS = 4.0

LAUNCHER = """\
import json, os, sys, time
mode, count, role = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import boto3
if mode == "library":
    import ecs_xrole
started = time.monotonic() - float(os.environ["BENCH_T0"])
read, write = os.pipe()
for _ in range(count):
    if os.fork() == 0:
        os.close(read)
        began = time.perf_counter()
        if mode == "library":
            client = ecs_xrole.get_client("sts", role)
        elif mode == "profile":
            client = boto3.Session(profile_name=os.environ["BENCH_PROFILE"]).client("sts")
        else:
            client = boto3.Session().client("sts")
        account = client.get_caller_identity()["Account"]
        took = time.perf_counter() - began
        os.write(write, (json.dumps([took, account]) + "\\n").encode())
        os._exit(0)
os.close(write)
with os.fdopen(read) as lines:
    results = [json.loads(line) for line in lines]
for _ in range(count):
    os.wait()
print(json.dumps({"started": started, "results": results}))
"""


def _workers(stack: Any, mode: str, launcher: str) -> dict[str, Any]:
    """Run the launcher one way; return timings and counts."""
    reset_counters(stack)
    stack.aws.assume_role_delay = STS_DELAY
    env = dict(os.environ, BENCH_PROFILE=PROFILE)
    argv = [sys.executable, launcher, mode, str(WORKERS), stack.aws.destination_role_arn]
    if mode == "exec":
        role = stack.aws.destination_role_arn
        argv = [sys.executable, "-m", "ecs_xrole", "exec", "--role-arn", role, "--", *argv]
    env["BENCH_T0"] = str(time.monotonic())
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    wall = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f"{mode} workers failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.splitlines()[-1])
    accounts = {account for _, account in report["results"]}
    if accounts != {"555566667777"}:
        raise RuntimeError(f"{mode} workers acted in accounts {accounts}")
    stack.aws.assume_role_delay = 0.0
    return {
        "first": [took for took, _ in report["results"]],
        "started": report["started"],
        "wall": wall,
        "fetches": stack.endpoint.requests,
        "assume": stack.aws.assume_role_calls,
    }


def _serving(stack: Any) -> dict[str, float]:
    """Median seconds for botocore's fetcher to get credentials from each endpoint."""
    from botocore.utils import ContainerMetadataFetcher

    import ecs_xrole
    from ecs_xrole._serving.server import CredentialsServer
    from ecs_xrole.cli.exec import new_token, source_for

    reset_counters(stack)
    credentials = ecs_xrole.get_credentials(stack.aws.destination_role_arn)
    token = new_token()
    fetcher = ContainerMetadataFetcher()
    agent_url, agent_token = stack.endpoint.url, stack.token or ""
    with CredentialsServer(
        {"/role/bench": source_for(credentials)}, token=token, rate=1e6, burst=10**6
    ) as server:
        ours = server.url("/role/bench")
        return interleaved_medians(
            {
                "exec endpoint": lambda: fetcher.retrieve_full_uri(
                    ours, headers={"Authorization": token}
                ),
                "ECS agent stand-in": lambda: fetcher.retrieve_full_uri(
                    agent_url, headers={"Authorization": agent_token}
                ),
            },
            seconds_each=SERVE_SECONDS,
        )


def run(stack: Any) -> Section:
    served = _serving(stack)
    with tempfile.TemporaryDirectory() as directory:
        launcher = os.path.join(directory, "launcher.py")
        with open(launcher, "w", encoding="utf-8") as handle:
            handle.write(LAUNCHER)
        ways = {mode: _workers(stack, mode, launcher) for mode in ("exec", "profile", "library")}
    labels = {
        "exec": "`ecs-xrole exec -- launcher`: `boto3.Session().client(...)`",
        "profile": f'written profile: `boto3.Session(profile_name="{PROFILE}")`',
        "library": "library: `ecs_xrole.get_client(...)`",
    }
    exec_median = statistics.median(ways["exec"]["first"])
    rows = [
        [
            labels[mode],
            str(found["fetches"]),
            str(found["assume"]),
            fmt_seconds(statistics.median(found["first"])),
            fmt_seconds(percentile(found["first"], 1.0)),
            fmt_ratio(statistics.median(found["first"]) / exec_median),
            fmt_seconds(found["started"]),
            fmt_seconds(found["wall"]),
        ]
        for mode, found in ways.items()
    ]
    ratio = served["exec endpoint"] / served["ECS agent stand-in"]
    serve_rows = [
        [name, fmt_seconds(seconds), fmt_ratio(seconds / served["ECS agent stand-in"])]
        for name, seconds in served.items()
    ]
    serve_table = "\n".join(
        [
            "| Endpoint | Median per request | Ratio to the agent stand-in |",
            "|---|---:|---:|",
            *(f"| {a} | {b} | {c} |" for a, b, c in serve_rows),
        ]
    )
    return Section(
        title=TITLE,
        what=(
            f"{WORKERS} worker processes forked by one launcher, each making its client and "
            f"first call (`GetCallerIdentity`); STS answers AssumeRole in {STS_DELAY * 1000:.0f} "
            "ms. Fetches: requests to the ECS agent stand-in; AssumeRole: calls STS received; "
            "both for the whole run, exec's own start included. First call: from making the "
            "client to the first answer, per worker. Launcher started: from the command to the "
            "launcher's first line (for exec: the AssumeRole and the endpoint before COMMAND).\n\n"
            "Serving a request on loopback, botocore's `ContainerMetadataFetcher` as the client "
            f"(interleaved rounds, {SERVE_SECONDS:g} s each):\n\n" + serve_table
        ),
        header=[
            "Way",
            "Fetches",
            "AssumeRole",
            "First call (median)",
            "First call (max)",
            "Median / exec",
            "Launcher started",
            "Whole run",
        ],
        rows=rows,
        targets=[
            Target(
                "exec: one fetch and one AssumeRole for every process",
                ways["exec"]["fetches"] == 1 and ways["exec"]["assume"] == 1,
                f"{ways['exec']['fetches']} fetch, {ways['exec']['assume']} AssumeRole "
                f"for {WORKERS} processes",
            ),
            Target(
                "exec endpoint: median time to serve a request on loopback",
                None,
                f"{fmt_seconds(served['exec endpoint'])} ({fmt_ratio(ratio)} the agent stand-in)",
            ),
        ],
        notes=[
            "exec's endpoint answers one request per connection (`Connection: close`), so each "
            "fetch opens a new loopback connection; the stand-in keeps connections alive.",
        ],
    )
