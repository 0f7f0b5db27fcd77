"""``--metrics``: ``GET /metrics`` on the credentials endpoint, on the loopback stand-ins.

Real sockets and the real library throughout: the endpoint of
:mod:`ecs_xrole._serving.server` with a :class:`ecs_xrole._serving.metrics.Metrics`, the
destination role's shared refreshing credentials from moto, the library's own fetcher and
``urllib.request`` as clients, and ``serve``/``exec`` as subprocesses. The text is checked
line by line against the exposition format 0.0.4, and by prometheus-client's own parser where
it is installed (the test dependency group has it).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import ecs_xrole
from ecs_xrole._endpoint import Endpoint
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole._serving.health import health_source
from ecs_xrole._serving.metrics import CONTENT_TYPE, Metrics, escape_label_value
from ecs_xrole._serving.server import CredentialsServer
from ecs_xrole.cli.exec import new_token, source_for

if TYPE_CHECKING:
    from ecs_xrole._refresh import RefreshingCredentials
    from ecs_xrole.testing import LocalStack

PATH = "/role/app"

# One sample line of the text format: a name, optional labels (escaped values), a value.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_SAMPLE = re.compile(
    rf"(?P<name>{_NAME})(?:\{{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*={_VALUE},?)*)\}})?"
    r" (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf|NaN))"
)
_LABEL = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({_VALUE})")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Strict checks of the text format (HELP then TYPE before each family's samples, every
    sample of a declared family, no series twice, a final newline), then the samples by name
    and labels. Also prometheus-client's parser, when installed, must read the same samples."""
    assert text.endswith("\n")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(_NAME, name), line
            assert name not in helped, f"HELP twice: {line}"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped, line
            assert name not in types, line
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample of an undeclared family: {line}"
        labels = frozenset(
            (key, json.loads(value)) for key, value in _LABEL.findall(match["labels"] or "")
        )
        key = (name, labels)
        assert key not in samples, f"the same series twice: {line}"
        samples[key] = float(match["value"])
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:  # pragma: no cover - the test group installs it
        return samples
    theirs = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert theirs == samples
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def scrape(url: str) -> tuple[int, str, str]:
    """GET ``url`` without a token: status, Content-Type, body."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def status_of(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> int:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class Served:
    def __init__(
        self, server: CredentialsServer, metrics: Metrics, token: str, creds: RefreshingCredentials
    ) -> None:
        self.server, self.metrics, self.token, self.credentials = server, metrics, token, creds

    def fetch(self) -> Any:
        return fetch_credentials(Endpoint(self.server.url(PATH), auth="token", token=self.token))

    def samples(self) -> dict[Any, float]:
        status, content_type, body = scrape(self.server.url("/metrics"))
        assert status == 200
        assert content_type == CONTENT_TYPE
        return parse(body)


@pytest.fixture
def served(ecs_xrole_env: LocalStack, only_live_credentials: None) -> Iterator[Served]:
    """The destination role on an endpoint with metrics, as ``serve --metrics`` sets it up."""
    metrics = Metrics()
    metrics.observe_fetches()  # before the role loads: its first AssumeRole is timed
    try:
        credentials = ecs_xrole.get_credentials(ecs_xrole_env.aws.destination_role_arn)
        metrics.add_role(PATH, ecs_xrole_env.aws.destination_role_arn, credentials)
        token = new_token()
        with CredentialsServer(
            {PATH: source_for(credentials)},
            token=token,
            metrics=metrics,
            health=health_source({PATH: credentials}),
        ) as server:
            yield Served(server, metrics, token, credentials)
    finally:
        metrics.close()


def test_without_metrics_the_path_is_unknown_like_any_other(ecs_xrole_env: LocalStack) -> None:
    credentials = ecs_xrole.get_credentials(ecs_xrole_env.aws.destination_role_arn)
    token = new_token()
    with CredentialsServer({PATH: source_for(credentials)}, token=token) as server:
        for path in ("/metrics", "/no-such-path"):
            assert status_of(server.url(path)) == 401
            assert status_of(server.url(path), {"Authorization": token}) == 404


def test_the_commands_do_not_import_metrics_without_the_option() -> None:
    code = (
        "import sys, argparse; import ecs_xrole, ecs_xrole._serving.server, ecs_xrole.cli.serve; "
        "from ecs_xrole.cli.exec import metrics_for; "
        "assert metrics_for(argparse.Namespace(metrics=False)) is None; "
        "assert 'ecs_xrole._serving.metrics' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=8)


def test_requests_are_counted_by_path_and_status(served: Served) -> None:
    served.fetch()
    served.fetch()
    url = served.server.url(PATH)
    assert status_of(url) == 401
    assert status_of(url, {"Authorization": "x" * 43}) == 401
    assert status_of(served.server.url("/role/nope"), {"Authorization": served.token}) == 404
    assert status_of(url, {"Authorization": served.token}, method="DELETE") == 405
    assert status_of(served.server.url("/metrics"), method="POST") == 405
    assert status_of(served.server.url("/healthz")) == 200  # a probe, counted under its own label

    samples = served.samples()
    name = "ecs_xrole_requests_total"
    assert value(samples, name, path=PATH, code="200") == 2
    assert value(samples, name, path=PATH, code="401") == 2
    assert value(samples, name, path=PATH, code="405") == 1
    # An unknown path is never a label (it is the client's text): counted as "other".
    assert value(samples, name, path="other", code="404") == 1
    assert value(samples, name, path="/metrics", code="405") == 1
    assert value(samples, name, path="/healthz", code="200") == 1
    assert (name, frozenset({("path", "/metrics"), ("code", "200")})) not in samples
    # The scrape itself is counted once it is answered: the next one sees it.
    assert value(served.samples(), name, path="/metrics", code="200") == 1
    assert served.server.served == 2


def test_refreshes_by_result_and_the_assume_role_histogram_after_a_failed_refresh(
    served: Served, ecs_xrole_env: LocalStack
) -> None:
    role = ecs_xrole_env.aws.destination_role_arn
    before = served.samples()
    assert value(before, "ecs_xrole_refreshes_total", path=PATH, role_arn=role, result="success")
    assert value(
        before, "ecs_xrole_refreshes_total", path=PATH, role_arn=role, result="failure"
    ) == (0)
    ecs_xrole_env.aws.remove_identity_policy()  # the task role lost sts:AssumeRole
    try:
        with pytest.raises(ecs_xrole.AssumeRoleDeniedError):
            served.credentials.force_refresh()
    finally:
        ecs_xrole_env.aws.restore_identity_policy()
    samples = served.samples()
    refreshes = "ecs_xrole_refreshes_total"
    assert value(samples, refreshes, path=PATH, role_arn=role, result="success") == 1
    assert value(samples, refreshes, path=PATH, role_arn=role, result="failure") == 1
    # The credentials in hand are still served (static stability).
    assert served.fetch().access_key_id == served.credentials.current.access_key_id  # type: ignore[union-attr]

    histogram = "ecs_xrole_assume_role_duration_seconds"
    for result in ("success", "failure"):
        count = value(samples, f"{histogram}_count", role_arn=role, result=result)
        assert count == 1
        assert value(samples, f"{histogram}_bucket", role_arn=role, result=result, le="+Inf") == 1
        assert value(samples, f"{histogram}_sum", role_arn=role, result=result) > 0
        buckets = sorted(
            (float(dict(labels)["le"]), got)
            for (name, labels), got in samples.items()
            if name == f"{histogram}_bucket" and dict(labels)["result"] == result
        )
        assert [got for _, got in buckets] == sorted(got for _, got in buckets)  # cumulative
    # The task role's own credentials were fetched once from the ECS agent stand-in.
    fetches = "ecs_xrole_task_role_fetches_total"
    assert value(samples, fetches, result="success") >= 1
    assert value(samples, fetches, result="failure") == 0


def test_seconds_to_expiry_are_computed_at_scrape_time(
    served: Served, ecs_xrole_env: LocalStack
) -> None:
    role = ecs_xrole_env.aws.destination_role_arn
    status = served.credentials.status()
    assert status.expiry is not None
    assert status.last_refresh is not None
    lifetime = (status.expiry - status.last_refresh).total_seconds()
    name = "ecs_xrole_credentials_expires_in_seconds"
    first = value(served.samples(), name, path=PATH, role_arn=role)
    assert 0 < first <= lifetime
    again = value(served.samples(), name, path=PATH, role_arn=role)
    assert 0 < again <= first  # not stored: it counts down


def test_no_secret_in_the_metrics(served: Served, ecs_xrole_env: LocalStack) -> None:
    got = served.fetch()
    task = fetch_credentials(
        Endpoint(ecs_xrole_env.endpoint.url, auth="token", token=ecs_xrole_env.token)
    )
    status, _, body = scrape(served.server.url("/metrics"))
    assert status == 200
    secrets = [
        got.access_key_id,
        got.secret_access_key,
        got.session_token,
        task.access_key_id,
        task.secret_access_key,
        task.session_token,
        served.token,
        ecs_xrole_env.token,
        ecs_xrole_env.endpoint.path.rsplit("/", 1)[-1],  # the credentials ID
    ]
    for secret in secrets:
        assert secret
        assert secret not in body
    assert "Authorization" not in body


def test_scrapes_have_a_budget_of_their_own(ecs_xrole_env: LocalStack) -> None:
    credentials = ecs_xrole.get_credentials(ecs_xrole_env.aws.destination_role_arn)
    metrics = Metrics()
    metrics.rate, metrics.burst = 1e-3, 2  # two scrapes, then none for a long while
    metrics.add_role(PATH, ecs_xrole_env.aws.destination_role_arn, credentials)
    token = new_token()
    with CredentialsServer(
        {PATH: source_for(credentials)}, token=token, metrics=metrics, rate=1e-3, burst=3
    ) as server:
        assert [scrape(server.url("/metrics"))[0] for _ in range(3)] == [200, 200, 429]
        # The SDKs' budget is untouched by the scrapes, and the other way round.
        endpoint = Endpoint(server.url(PATH), auth="token", token=token)
        for _ in range(3):
            fetch_credentials(endpoint)
        assert status_of(server.url(PATH), {"Authorization": token}) == 429
        status, _, body = scrape(server.url("/metrics"))
        assert status == 429
        assert json.loads(body)["code"] == "TooManyRequests"


def test_label_values_are_escaped(ecs_xrole_env: LocalStack) -> None:
    credentials = ecs_xrole.get_credentials(ecs_xrole_env.aws.destination_role_arn)
    odd = 'arn:aws:iam::555566667777:role/a"b\\c\nd'
    assert escape_label_value(odd) == 'arn:aws:iam::555566667777:role/a\\"b\\\\c\\nd'
    metrics = Metrics()
    metrics.add_role(PATH, odd, credentials)
    samples = parse(metrics.render().decode())
    expires = value(samples, "ecs_xrole_credentials_expires_in_seconds", path=PATH, role_arn=odd)
    assert expires > 0
    assert not math.isnan(expires)


def test_counting_is_exact_under_threads() -> None:
    metrics = Metrics()

    def count() -> None:
        for _ in range(2000):
            metrics.answered(PATH, 200)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    samples = parse(metrics.render().decode())
    # Not a role's path on this Metrics (no add_role): counted as "other".
    assert value(samples, "ecs_xrole_requests_total", path="other", code="200") == 16000


@pytest.mark.slow
def test_serve_with_metrics(ecs_xrole_env: LocalStack, tmp_path: Path) -> None:
    role = ecs_xrole_env.aws.destination_role_arn
    argv = [sys.executable, "-m", "ecs_xrole", "serve", "--listen", "127.0.0.1:0"]
    argv += ["--token-file", str(tmp_path / "token"), "--role", f"app={role}", "--metrics"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    timer = threading.Timer(8, proc.kill)
    timer.start()
    try:
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        url = next(
            line.partition("=")[2]
            for line in lines
            if line.startswith("AWS_CONTAINER_CREDENTIALS_FULL_URI=")
        )
        base = url.removesuffix(PATH)
        token = (tmp_path / "token").read_text()
        got = fetch_credentials(Endpoint(url, auth="token", token=token))
        status, content_type, body = scrape(base + "/metrics")
        assert (status, content_type) == (200, CONTENT_TYPE)
        samples = parse(body)
        assert value(samples, "ecs_xrole_requests_total", path=PATH, code="200") == 1
        assert (
            value(samples, "ecs_xrole_refreshes_total", path=PATH, role_arn=role, result="success")
            == 1
        )
        name = "ecs_xrole_assume_role_duration_seconds_count"
        assert value(samples, name, role_arn=role, result="success") == 1
        for secret in (got.access_key_id, got.secret_access_key, got.session_token, token):
            assert secret not in body
        print(body)  # the sample in docs/reference/output.md comes from here (pytest -s)
    finally:
        timer.cancel()
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()


SCRAPER = """\
import os, sys, urllib.request
base = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"].removesuffix("/role/exec")
with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
    sys.stdout.write(answer.read().decode())
"""


@pytest.mark.slow
def test_exec_with_metrics(ecs_xrole_env: LocalStack) -> None:
    role = ecs_xrole_env.aws.destination_role_arn
    argv = [sys.executable, "-m", "ecs_xrole", "exec", "--role-arn", role, "--metrics", "--"]
    done = subprocess.run(
        [*argv, sys.executable, "-c", SCRAPER],
        capture_output=True,
        text=True,
        timeout=8,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    samples = parse(done.stdout)
    name = "ecs_xrole_credentials_expires_in_seconds"
    assert value(samples, name, path="/role/exec", role_arn=role) > 0
    # Without --metrics, COMMAND finds no such path.
    argv.remove("--metrics")
    done = subprocess.run(
        [*argv, sys.executable, "-c", SCRAPER],
        capture_output=True,
        text=True,
        timeout=8,
        check=False,
    )
    assert done.returncode == 1
    assert "HTTP Error 401" in done.stderr
