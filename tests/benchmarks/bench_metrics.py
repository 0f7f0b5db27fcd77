"""11. What ``--metrics`` costs the credentials it serves.

Two endpoints (:class:`ecs_xrole._serving.server.CredentialsServer`) serve the same shared
refreshing credentials, one without metrics and one with :class:`ecs_xrole._serving.metrics.Metrics`
(as ``serve --metrics`` sets it up: every answer counted, AssumeRole timed); botocore's own
container-credentials fetcher, the client every boto3 process runs, asks them in interleaved rounds.
Also timed: one scrape (``GET /metrics`` over loopback) and the text's making alone.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from bench_support import (
    Section,
    Target,
    fmt_ratio,
    fmt_seconds,
    interleaved_medians,
    per_call_samples,
    reset_counters,
)

TITLE = "11. Serving credentials with --metrics on and off"
SERVE_SECONDS = 6.0
#: Metrics on may cost this much more per request before the target reads "gap" (noise on a
#: shared machine is of this order; the counting itself is one dictionary update).
TOLERANCE = 1.05


def run(stack: Any) -> Section:
    import statistics

    from botocore.utils import ContainerMetadataFetcher

    import ecs_xrole
    from ecs_xrole._serving.metrics import Metrics
    from ecs_xrole._serving.server import CredentialsServer
    from ecs_xrole.cli.exec import new_token, source_for

    reset_counters(stack)
    metrics = Metrics()
    metrics.observe_fetches()
    role = stack.aws.destination_role_arn
    credentials = ecs_xrole.get_credentials(role)
    metrics.add_role("/role/bench", role, credentials)
    metrics.rate, metrics.burst = 1e6, 10**6  # the scrapes below are timed, not budgeted
    token = new_token()
    fetcher = ContainerMetadataFetcher()
    routes = {"/role/bench": source_for(credentials)}
    unlimited: dict[str, Any] = {"token": token, "rate": 1e6, "burst": 10**6}
    try:
        with (
            CredentialsServer(routes, **unlimited) as off,
            CredentialsServer(routes, metrics=metrics, **unlimited) as on,
        ):
            urls = {"metrics off": off.url("/role/bench"), "metrics on": on.url("/role/bench")}
            served = interleaved_medians(
                {
                    name: (
                        lambda url=url: fetcher.retrieve_full_uri(
                            url, headers={"Authorization": token}
                        )
                    )
                    for name, url in urls.items()
                },
                seconds_each=SERVE_SECONDS,
            )
            counted = sum(
                int(line.rsplit(" ", 1)[1])
                for line in metrics.render().decode().splitlines()
                if line.startswith('ecs_xrole_requests_total{path="/role/bench"')
            )
            scrape_url = on.url("/metrics")

            def scrape() -> bytes:
                with urllib.request.urlopen(scrape_url, timeout=5) as answer:
                    return bytes(answer.read())

            size = len(scrape())
            scraped = statistics.median(per_call_samples(scrape, 1.0))
            rendered = statistics.median(per_call_samples(metrics.render, 1.0))
    finally:
        metrics.close()
    ratio = served["metrics on"] / served["metrics off"]
    rows = [
        [name, fmt_seconds(seconds), fmt_ratio(seconds / served["metrics off"])]
        for name, seconds in served.items()
    ]
    return Section(
        title=TITLE,
        what=(
            "botocore's `ContainerMetadataFetcher` asks two endpoints serving the same "
            "credentials, one without metrics and one with them, in four interleaved rounds "
            f"({SERVE_SECONDS:g} s in all per endpoint); the median is the time to serve one "
            f"request on loopback as the client sees it. The endpoint with metrics counted "
            f"{counted} credential answers. One scrape of its `GET /metrics` ({size} bytes, one "
            f"role) took {fmt_seconds(scraped)} over loopback; making the text alone "
            f"{fmt_seconds(rendered)}."
        ),
        header=["Endpoint", "Median per request", "Ratio to metrics off"],
        rows=rows,
        targets=[
            Target(
                f"--metrics: serving credentials costs no more than with it off "
                f"(within {TOLERANCE - 1:.0%})",
                ratio <= TOLERANCE,
                f"{fmt_ratio(ratio)} ({fmt_seconds(served['metrics on'])} on, "
                f"{fmt_seconds(served['metrics off'])} off)",
            )
        ],
    )
