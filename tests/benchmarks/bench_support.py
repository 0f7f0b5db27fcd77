"""Shared by the benchmarks: the loopback stack, the alternatives, timing and markdown tables.

Every alternative runs in this one process against the same stand-ins
(:func:`ecs_xrole.testing.local_stack`): moto on loopback plays STS with two accounts, an
EndpointServer plays the ECS agent. Results are medians and ratios; absolute times on a
shared machine mean little.

The alternatives, each in its idiomatic form:

* ecs-xrole: ``ecs_xrole.get_client(...)`` and ``ecs_xrole.get_session(...).client(...)``;
* botocore's profile path: ``boto3.Session(profile_name="cross-account")`` on the profile that
  ``ecs-xrole write-config`` wrote (``credential_source = EcsContainer``: botocore reads the
  container endpoint itself from ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and the token);
* aws-assume-role-lib: ``aws_assume_role_lib.assume_role(boto3.Session(), role_arn)``, the
  parent session's credentials coming from the container endpoint;
* boto3-refresh-session: ``RefreshableSession(assume_role_kwargs={...})`` (its "sts" method);
* for asyncio (benchmarks 8 and 9): ``ecs_xrole.aio``, aioboto3-assume's ``assume_role`` session,
  and a plain aiobotocore ``AioSession`` on the profile above.
"""

from __future__ import annotations

import contextlib
import gc
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The profile write-config writes (the name in AWS's recipe).
PROFILE = "cross-account"
#: The session name the peers are given where they need one.
SESSION_NAME = "bench"


@dataclass
class Target:
    """One target of the brief: what was asked, whether it was met, and what was measured."""

    name: str
    met: bool | None  # None: the brief sets no number to meet
    measured: str


@dataclass
class Section:
    """One benchmark's result: a title, what it measures, one markdown table, targets, notes."""

    title: str
    what: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.what, "", markdown_table(self.header, self.rows)]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    right = [
        i
        for i in range(len(header))
        if rows and all(_numeric(str(row[i])) or str(row[i]) == "" for row in rows)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
    )
    return "\n".join([line(header), rule + "|", *(line(r) for r in rows)])


_NUMBER = re.compile(r"[+<~]?\d[\d.,]*( ?(µs|ms|s|B|KiB|MiB|x))?( / [\d.,]+)?( \(.*\))?")


def _numeric(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


# -- numbers -------------------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    """A duration with three significant figures in a readable unit."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_ratio(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.0f}x"
    return f"{ratio:.2g}x"


def fmt_bytes(size: float) -> str:
    if abs(size) < 1024:
        return f"{size:.0f} B"
    if abs(size) < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.2f} MiB"


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0-1) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def per_call_samples(call: Callable[[], object], seconds: float) -> list[float]:
    """Seconds per call, sampled for about ``seconds``: single calls when they are slow, batches
    (each sample the batch mean) when one call is too short to time alone."""
    began = time.perf_counter()
    call()
    first = time.perf_counter() - began
    batch = 1 if first > 1e-3 else max(1, int(2e-3 / max(first, 1e-7)))
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 3:
        began = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - began) / batch)
    return samples


def interleaved_medians(
    calls: dict[str, Callable[[], object]],
    *,
    seconds_each: float,
    rounds: int = 4,
    before_each: Callable[[str], None] | None = None,
    after_each: Callable[[str, int], None] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each callable, measured in ``rounds`` interleaved rounds so
    that the machine's slow and fast moments are shared out. ``before_each(name)`` and
    ``after_each(name, calls)`` run around each stint (to reset and read counters)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            if before_each is not None:
                before_each(name)
            got = per_call_samples(call, seconds_each / rounds)
            samples[name] += got
            if after_each is not None:
                after_each(name, len(got))
    return {name: statistics.median(values) for name, values in samples.items()}


def run_threads(count: int, work: Callable[[int], None], timeout: float) -> list[BaseException]:
    """Run ``work(i)`` on ``count`` threads released together; return the errors raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def target(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        errors.append(TimeoutError(f"threads still running after {timeout} s"))
    return errors


# -- the stack and the alternatives ----------------------------------------------------------------


@contextlib.contextmanager
def bench_stack() -> Iterator[Any]:
    """The loopback stack applied to ``os.environ``, with the profile write-config writes."""
    from ecs_xrole.cli import main as cli_main
    from ecs_xrole.testing import local_stack

    with local_stack() as stack, stack.apply():
        with contextlib.redirect_stdout(None), contextlib.redirect_stderr(None):
            code = cli_main(["write-config", "--role-arn", stack.aws.destination_role_arn])
        if code != 0:
            raise RuntimeError(f"write-config failed with exit code {code}")
        yield stack


def reset_counters(stack: Any) -> None:
    """Knobs and counters back to the stack's defaults; ecs-xrole's caches emptied."""
    import ecs_xrole._session

    ecs_xrole._session.clear_caches()
    gc.collect()  # dropped credentials objects must stop refreshing in the background
    stack.aws.reset()
    stack.endpoint.reset_counters()


def ready(client: Any) -> Any:
    """Load a client's credentials, as its first API call would: for botocore's deferred
    credentials this is the endpoint fetch and the AssumeRole."""
    client._request_signer._credentials.get_frozen_credentials()
    return client


def loaded(session: Any) -> Any:
    """Load a boto3 session's credentials (the fetch and AssumeRole a first call would make)."""
    session.get_credentials().get_frozen_credentials()
    return session


def refresh_session(role_arn: str, region: str) -> Any:
    """boto3-refresh-session's idiomatic assume-role session."""
    from boto3_refresh_session import RefreshableSession

    return RefreshableSession(
        assume_role_kwargs={"RoleArn": role_arn, "RoleSessionName": SESSION_NAME},
        region_name=region,
    )


def refresh_session_client(session: Any, region: str) -> Any:
    """An STS client of a boto3-refresh-session session that signs as the assumed role.

    ``session.client("sts")`` would return the session's own internal STS client (cached under
    the same key before the assumed-role credentials are installed), which signs with the
    source credentials; naming the region gives a separate cache entry.
    """
    return session.client("sts", region_name=region)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in (
        "ecs-xrole",
        "boto3",
        "botocore",
        "aws-assume-role-lib",
        "boto3-refresh-session",
        "awscli",
        "moto",
        "aiobotocore",
        "aioboto3",
        "aioboto3-assume",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
