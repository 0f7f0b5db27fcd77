"""Run the benchmarks side by side and print the results as markdown.

    python tests/benchmarks/run.py              # everything (about two minutes on 2 cores)
    python tests/benchmarks/run.py --only 1,5   # some of them

``tox -e bench`` runs this file. Every alternative is measured in this one process (the
config-writing benchmark starts subprocesses) against the loopback stand-ins of
``ecs_xrole.testing``; nothing reaches AWS. The output is what docs/performance.md shows.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_aio
import bench_client
import bench_exec
import bench_latency
import bench_memory
import bench_metrics
import bench_network
import bench_refresh
import bench_session
import bench_write_config
from bench_support import Section, bench_stack, markdown_table, versions

BENCHMARKS: dict[str, Callable[[Any], Section]] = {
    "1": bench_client.run,
    "2": bench_network.run,
    "3": bench_refresh.run,
    "4": bench_latency.run,
    "5": bench_write_config.run,
    "6": bench_memory.run,
    "7": bench_session.run,
    "8": bench_aio.run,
    "9": bench_aio.run_refresh,
    "10": bench_exec.run,
    "11": bench_metrics.run,
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(command: str) -> str:
    found = versions()
    libs = ", ".join(f"{name} {version}" for name, version in found.items())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# ecs-xrole benchmarks",
            "",
            f"- Command: `{command}`",
            f"- Date: {now}",
            f"- Machine: {platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
            f"{_cpu_model()}",
            f"- Python {platform.python_version()}; {libs}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated benchmark numbers (default: all)")
    args = parser.parse_args(argv)
    chosen = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    # The peers log retries and refresh failures at WARNING; the tables say what happened.
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    script = os.path.relpath(__file__)
    command = f"{sys.executable} {script}" + (f" --only {args.only}" if args.only else "")
    print(header(command), flush=True)
    started = time.monotonic()
    targets = []
    with bench_stack() as stack:
        for number in chosen:
            began = time.monotonic()
            section = BENCHMARKS[number](stack)
            print()
            print(section.markdown())
            print(f"\n(ran in {time.monotonic() - began:.0f} s)", flush=True)
            targets += section.targets
    verdicts = {True: "met", False: "gap", None: "no target set"}
    rows = [[t.name, verdicts[t.met], t.measured] for t in targets]
    print()
    print("## Targets")
    print()
    print(markdown_table(["Target", "Result", "Measured"], rows))
    print(f"\nTotal: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
