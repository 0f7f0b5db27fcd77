"""ecs_xrole.aio over real HTTP on loopback: aiobotocore clients, sessions and credentials
signing as the destination role, with the endpoint server playing the ECS agent and moto
playing STS. Each test runs its own event loops with ``asyncio.run``, as applications do.

Skipped where aiobotocore is not installed (the main tox environments); the ``aio`` and
``aioboto3`` tox environments run it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiobotocore")

# Imported at collection rather than inside the first test that needs them (each test has
# 10 s, and these imports take seconds on a loaded machine); test_aio_import checks that
# ecs_xrole.aio itself imports none of them.
import aiobotocore.session  # noqa: F401
import aiohttp  # noqa: F401

import ecs_xrole.aio._clients

try:
    import fastapi  # noqa: F401
    import httpx
except ImportError:  # the FastAPI how-to test skips
    httpx = None

from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

import ecs_xrole
import ecs_xrole.aio
from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._refresh import RefreshingCredentials
from ecs_xrole._scheduler import Scheduler
from ecs_xrole.errors import AssumeRoleDeniedError

DESTINATION = "555566667777"


@pytest.fixture
def env(ecs_xrole_env: Any) -> Any:
    """The stack with its environment applied, knobs and counters reset, caches cleared (and,
    after the test, the refresher stopped: see tests/conftest.py)."""
    return ecs_xrole_env


class Ticker:
    """A task that wakes every millisecond and records when it ran: gaps between ticks are
    the event loop's stalls."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def between(self, start: float, end: float) -> int:
        return sum(1 for t in self.ticks if start < t < end)

    def longest_gap(self, start: float, end: float) -> float:
        inside = [t for t in self.ticks if start <= t <= end]
        points = [start, *inside, end]
        return max(b - a for a, b in itertools.pairwise(points))


def test_async_client_acts_in_the_destination_account(env: Any) -> None:
    async def main() -> dict[str, Any]:
        async with ecs_xrole.aio.get_client("sts", env.aws.destination_role_arn) as sts:
            result: dict[str, Any] = await sts.get_caller_identity()
            return result

    who = asyncio.run(main())
    assert who["Account"] == DESTINATION
    assert ":assumed-role/destination-account-role/" in who["Arn"]


def test_async_session_acts_in_the_destination_account(env: Any) -> None:
    async def main() -> str:
        session = await ecs_xrole.aio.get_session(
            env.aws.destination_role_arn, role_session_name="async-worker"
        )
        async with session.create_client("sts") as sts:
            return str((await sts.get_caller_identity())["Arn"])

    arn = asyncio.run(main())
    assert arn.startswith(f"arn:aws:sts::{DESTINATION}:assumed-role/")
    assert arn.endswith("/async-worker")


def test_aioboto3_session_acts_in_the_destination_account(env: Any) -> None:
    pytest.importorskip("aioboto3")

    async def main() -> str:
        session = await ecs_xrole.aio.get_aioboto3_session(env.aws.destination_role_arn)
        async with session.client("sts") as sts:
            return str((await sts.get_caller_identity())["Account"])

    assert asyncio.run(main()) == DESTINATION


def test_200_concurrent_tasks_cost_one_fetch_and_one_assume_role(env: Any) -> None:
    role = env.aws.destination_role_arn

    async def main() -> set[int]:
        async def one() -> int:
            async with ecs_xrole.aio.get_client("sts", role) as sts:
                return id(sts)

        return set(await asyncio.gather(*(one() for _ in range(200))))

    clients = asyncio.run(main())
    assert len(clients) == 1
    assert env.endpoint.served == 1
    assert env.aws.assume_role_calls == 1


def test_sync_and_async_users_share_one_credentials_object(env: Any) -> None:
    role = env.aws.destination_role_arn
    sync_sts = ecs_xrole.get_client("sts", role)
    assert sync_sts.get_caller_identity()["Account"] == DESTINATION

    async def main() -> Any:
        creds = await ecs_xrole.aio.get_credentials(role)
        async with ecs_xrole.aio.get_client("sts", role) as sts:
            assert (await sts.get_caller_identity())["Account"] == DESTINATION
        return creds

    creds = asyncio.run(main())
    assert creds.sync_credentials is ecs_xrole.get_credentials(role)
    assert env.endpoint.served == 1
    assert env.aws.assume_role_calls == 1


def test_async_with_leaves_the_shared_client_open(env: Any) -> None:
    role = env.aws.destination_role_arn

    async def main() -> None:
        async with ecs_xrole.aio.get_client("sts", role) as first:
            await first.get_caller_identity()
        async with ecs_xrole.aio.get_client("sts", role) as second:
            assert second is first
            assert (await second.get_caller_identity())["Account"] == DESTINATION
        assert await ecs_xrole.aio.get_client("sts", role) is first

    asyncio.run(main())


def test_each_loop_gets_its_own_clients_and_a_new_loop_works(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio.run twice in one process (as test runners and CLIs do): the second loop gets
    a client of its own that works; the first loop's clients were closed at its shutdown,
    so none is collected unclosed; the credentials carry over (one AssumeRole)."""
    role = env.aws.destination_role_arn

    async def main() -> int:
        async with ecs_xrole.aio.get_client("sts", role) as sts:
            assert (await sts.get_caller_identity())["Account"] == DESTINATION
            return id(sts)

    caplog.set_level(logging.ERROR, logger="asyncio")
    first = asyncio.run(main())
    second = asyncio.run(main())
    gc.collect()
    assert first != second
    assert env.aws.assume_role_calls == 1
    unclosed = [r for r in caplog.records if "nclosed" in r.getMessage()]
    assert unclosed == []


def test_a_loop_closed_without_shutdown_is_swept_and_the_next_loop_works(env: Any) -> None:
    role = env.aws.destination_role_arn
    loop = asyncio.new_event_loop()
    try:
        who = loop.run_until_complete(_identity(role))
        assert who["Account"] == DESTINATION
    finally:
        loop.close()  # no shutdown_asyncgens: the clients cannot be closed any more
    assert asyncio.run(_identity(role))["Account"] == DESTINATION


async def _identity(role: str, **options: Any) -> dict[str, Any]:
    async with ecs_xrole.aio.get_client("sts", role, **options) as sts:
        result: dict[str, Any] = await sts.get_caller_identity()
        return result


def test_close_closes_the_loops_clients_and_later_calls_build_new_ones(env: Any) -> None:
    role = env.aws.destination_role_arn

    async def main() -> None:
        first = await ecs_xrole.aio.get_client("sts", role)
        await first.get_caller_identity()
        await ecs_xrole.aio.close()
        second = await ecs_xrole.aio.get_client("sts", role)
        assert second is not first
        assert (await second.get_caller_identity())["Account"] == DESTINATION
        await ecs_xrole.aio.close()
        await ecs_xrole.aio.close()  # idempotent

    asyncio.run(main())
    assert env.aws.assume_role_calls == 1


def test_client_options_are_compared_by_value(env: Any) -> None:
    role = env.aws.destination_role_arn

    async def main() -> None:
        plain = await ecs_xrole.aio.get_client("sts", role)
        one = await ecs_xrole.aio.get_client("sts", role, config=Config(read_timeout=7))
        same = await ecs_xrole.aio.get_client("sts", role, config=Config(read_timeout=7))
        other = await ecs_xrole.aio.get_client("sts", role, config=Config(read_timeout=9))
        assert one is same
        assert len({id(plain), id(one), id(other)}) == 3
        assert one.meta.config.read_timeout == 7
        # The user's Config is used as given (the user agent is the session's: see
        # test_the_user_agent_names_ecs_xrole_once_and_keeps_the_users_extra).
        assert one.meta.config.user_agent_extra is None
        west = await ecs_xrole.aio.get_client("sts", role, region_name="eu-west-1")
        assert west.meta.region_name == "eu-west-1"
        # An explicit endpoint_url is the one used.
        down = await ecs_xrole.aio.get_client(
            "sts",
            role,
            endpoint_url="http://127.0.0.1:9",
            config=Config(retries={"total_max_attempts": 1}),
        )
        assert down.meta.endpoint_url == "http://127.0.0.1:9"
        with pytest.raises(EndpointConnectionError, match=r"127\.0\.0\.1:9"):
            await down.get_caller_identity()

    asyncio.run(main())
    # One AssumeRole per region (the STS call goes to the region's endpoint), as in the sync API.
    assert env.aws.assume_role_calls == 2


def _user_agent(client: Any) -> list[str]:
    """The User-Agent headers of ``client``'s requests, as sent (botocore's ``before-send``
    event; the requests still go to moto)."""
    sent: list[str] = []

    def keep(request: Any, **_: Any) -> None:
        value = request.headers["User-Agent"]
        sent.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send.sts", keep)
    return sent


@pytest.mark.parametrize("user_extra", [False, True])
def test_the_user_agent_names_ecs_xrole_once_and_keeps_the_users_extra(
    env: Any, user_extra: bool
) -> None:
    role = env.aws.destination_role_arn
    config = Config(user_agent_extra="my-app/1.2") if user_extra else None

    async def main() -> list[str]:
        client = await ecs_xrole.aio.get_client("sts", role, config=config)
        sent = _user_agent(client)
        await client.get_caller_identity()
        session = await ecs_xrole.aio.get_session(role)
        async with session.create_client("sts", config=config) as own:
            own_sent = _user_agent(own)
            await own.get_caller_identity()
        return sent + own_sent

    agents = asyncio.run(main())
    assert len(agents) == 2
    for agent in agents:
        words = agent.split()
        assert sum(w.startswith("ecs-xrole/") for w in words) == 1, agent
        assert words.count("my-app/1.2") == int(user_extra), agent


@pytest.mark.parametrize("variable", ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_a_missing_ambient_profile_breaks_neither_api(
    env: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """AWS_PROFILE selects the application's profile, not the library's: one naming a missing
    profile changes nothing for the async API, as for the sync one."""
    monkeypatch.setenv(variable, "no-such-profile")
    role = env.aws.destination_role_arn

    async def main() -> list[str]:
        accounts = []
        client = await ecs_xrole.aio.get_client("sts", role)
        accounts.append((await client.get_caller_identity())["Account"])
        session = await ecs_xrole.aio.get_session(role)
        async with session.create_client("sts") as own:
            accounts.append((await own.get_caller_identity())["Account"])
        return accounts

    assert asyncio.run(main()) == [DESTINATION, DESTINATION]
    assert ecs_xrole.get_client("sts", role).get_caller_identity()["Account"] == DESTINATION


def test_a_changed_region_variable_gives_a_client_for_that_region(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = env.aws.destination_role_arn

    async def main() -> tuple[str, str]:
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        first = await ecs_xrole.aio.get_client("sts", role)
        monkeypatch.setenv("AWS_REGION", "ap-south-1")
        second = await ecs_xrole.aio.get_client("sts", role)
        return first.meta.region_name, second.meta.region_name

    assert asyncio.run(main()) == ("eu-west-1", "ap-south-1")


def test_denied_role_raises_and_a_later_call_retries(env: Any) -> None:
    async def main() -> None:
        with pytest.raises(AssumeRoleDeniedError) as info:
            await ecs_xrole.aio.get_client("sts", env.aws.untrusting_role_arn)
        assert info.value.trust_policy["Statement"][0]["Principal"] == {
            "AWS": env.aws.task_role_arn
        }
        with pytest.raises(AssumeRoleDeniedError):
            await ecs_xrole.aio.get_session(env.aws.untrusting_role_arn)

    asyncio.run(main())


def test_first_load_runs_off_the_loop(env: Any) -> None:
    """The endpoint fetch and a slow AssumeRole of a first load: the loop keeps running."""
    env.aws.assume_role_delay = 0.3

    async def main() -> int:
        ticker = Ticker()
        ticker.start()
        await asyncio.sleep(0.01)
        began = time.perf_counter()
        async with ecs_xrole.aio.get_client("sts", env.aws.destination_role_arn):
            ended = time.perf_counter()
        await ticker.stop()
        assert ended - began >= 0.3  # it did wait for STS
        return ticker.between(began, ended)

    assert asyncio.run(main()) > 10


def test_the_loop_keeps_ticking_while_sts_refreshes_slowly(env: Any) -> None:
    """Short-lived credentials and an STS that takes 300 ms: the background refresh happens
    while a task calls the API back to back; a ticker task keeps ticking all along."""
    env.aws.sts_lifetime = 3.0  # background refresh due about 1.2-1.5 s in
    role = env.aws.destination_role_arn

    async def main() -> tuple[int, float, int]:
        sts = await ecs_xrole.aio.get_client("sts", role)
        env.aws.assume_role_delay = 0.3
        creds = ecs_xrole.get_credentials(role)
        first_key = creds.current.access_key_id
        ticker = Ticker()
        ticker.start()
        began = time.perf_counter()
        arrived = done = None
        calls = 0
        deadline = time.monotonic() + 6
        while done is None and time.monotonic() < deadline:
            assert (await sts.get_caller_identity())["Account"] == DESTINATION
            calls += 1
            now = time.perf_counter()
            if arrived is None and env.aws.assume_role_calls >= 2:
                arrived = now
            if creds.current.access_key_id != first_key:
                done = now
        await ticker.stop()
        assert arrived is not None, "no AssumeRole within 6 s"
        assert done is not None, "no refresh within 6 s"
        return ticker.between(arrived, done), ticker.longest_gap(began, done), calls

    ticks, stall, calls = asyncio.run(main())
    print(f"longest event-loop stall across the refresh: {stall * 1000:.1f} ms")
    assert ticks > 0  # ticks while the AssumeRole was in flight
    assert calls > 1


def test_inside_the_mandatory_margin_a_caller_awaits_the_refresh_off_the_loop() -> None:
    """Fake time puts the credentials inside the mandatory margin; the refresh (a slow fetch
    on a real thread) is awaited by 50 tasks while the loop keeps ticking; one fetch."""
    now = [1_000_000.0]
    fetches: list[float] = []
    release = threading.Event()

    def fetch() -> TemporaryCredentials:
        fetches.append(time.perf_counter())
        if len(fetches) > 1:
            release.wait(5)
        return TemporaryCredentials(
            access_key_id=f"ASIAFAKE{len(fetches)}",
            secret_access_key="secret",
            session_token="token",
            expiration=datetime.fromtimestamp(now[0], timezone.utc) + timedelta(hours=1),
        )

    sync = RefreshingCredentials(
        fetch,
        method="test",
        description="fake",
        clock=lambda: now[0],
        scheduler=Scheduler(clock=lambda: now[0], start_thread=False),
    )
    from ecs_xrole.aio._credentials import aio_credentials

    creds = aio_credentials(sync)

    async def main() -> tuple[set[str], int]:
        assert (await creds.get_frozen_credentials()).access_key == "ASIAFAKE1"
        now[0] += 3600 - 30  # 30 s left: inside the one-minute mandatory margin
        ticker = Ticker()
        ticker.start()
        waiters = [asyncio.ensure_future(creds.get_frozen_credentials()) for _ in range(50)]
        began = time.perf_counter()
        await asyncio.sleep(0.2)
        assert not any(w.done() for w in waiters)  # they wait for the refresh ...
        release.set()
        got = await asyncio.gather(*waiters)
        ended = time.perf_counter()
        await ticker.stop()
        return {f.access_key for f in got}, ticker.between(began, ended)

    keys, ticks = asyncio.run(main())
    assert keys == {"ASIAFAKE2"}
    assert len(fetches) == 2
    assert ticks > 20  # ... and the loop ran meanwhile


def test_a_cancelled_waiter_does_not_cancel_the_shared_first_load(env: Any) -> None:
    env.aws.assume_role_delay = 0.3
    role = env.aws.destination_role_arn

    async def main() -> None:
        first = asyncio.ensure_future(_identity(role))
        second = asyncio.ensure_future(_identity(role))
        await asyncio.sleep(0.1)
        first.cancel()
        assert (await second)["Account"] == DESTINATION
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(main())
    assert env.aws.assume_role_calls == 1


def test_clients_on_several_threads_loops(env: Any) -> None:
    role = env.aws.destination_role_arn
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(asyncio.run(_identity(role))["Account"])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(9)
    assert errors == []
    assert results == [DESTINATION] * 4
    assert env.endpoint.served == 1
    assert env.aws.assume_role_calls == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_works(env: Any) -> None:
    role = env.aws.destination_role_arn
    assert asyncio.run(_identity(role))["Account"] == DESTINATION

    async def keep_a_loop_busy() -> None:
        # The parent's loop state (clients included) is in memory when the child is made.
        await ecs_xrole.aio.get_client("sts", role)
        pid = os.fork()
        if pid == 0:  # child: a new loop, fresh clients, the inherited credentials
            code = 1
            try:
                who = _run_in_new_thread_loop(lambda: _identity(role))
                code = 0 if who["Account"] == DESTINATION else 3
            finally:
                os._exit(code)
        _wait_for_child(pid)

    asyncio.run(keep_a_loop_busy())
    assert asyncio.run(_identity(role))["Account"] == DESTINATION
    # Neither the child nor the parent assumed the role again.
    assert env.aws.assume_role_calls == 1


def _run_in_new_thread_loop(make: Callable[[], Any]) -> Any:
    result: list[Any] = []

    def run() -> None:
        result.append(asyncio.run(make()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(8)
    return result[0]


def _wait_for_child(pid: int) -> None:
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def test_clear_caches_starts_the_async_front_over(env: Any) -> None:
    role = env.aws.destination_role_arn

    async def main() -> None:
        first = await ecs_xrole.aio.get_client("sts", role)
        ecs_xrole._session.clear_caches()
        second = await ecs_xrole.aio.get_client("sts", role)
        assert second is not first
        assert (await second.get_caller_identity())["Account"] == DESTINATION

    asyncio.run(main())
    assert env.aws.assume_role_calls == 2


def test_reprs_hold_no_secret(env: Any) -> None:
    async def main() -> tuple[Any, Any]:
        creds = await ecs_xrole.aio.get_credentials(env.aws.destination_role_arn)
        return creds, await creds.get_frozen_credentials()

    creds, frozen = asyncio.run(main())
    text = repr(creds)
    assert frozen.secret_key not in text
    assert frozen.token not in text
    assert "destination-account-role" in text


def test_random_order_of_many_roles_and_services(env: Any) -> None:
    """Different options give different credentials and clients; the same options, the
    same ones, whatever the order of the calls."""
    role = env.aws.destination_role_arn
    variants = [
        {},
        {"role_session_name": "worker-a"},
        {"role_session_name": "worker-b"},
        {"tags": {"team": "x"}},
    ]

    async def main() -> None:
        calls = [(service, i) for service in ("sts", "ecs") for i in range(len(variants))] * 3
        random.shuffle(calls)
        seen: dict[tuple[str, int], int] = {}
        for service, i in calls:
            client = await ecs_xrole.aio.get_client(service, role, **variants[i])
            assert seen.setdefault((service, i), id(client)) == id(client)
        assert len(set(seen.values())) == 8

    asyncio.run(main())
    assert env.aws.assume_role_calls == 4


def _how_to_block(marker: str) -> str:
    """The python code block of docs/how-to/asyncio.md that contains ``marker``."""
    text = (Path(__file__).resolve().parents[1] / "docs/how-to/asyncio.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    return next(block for block in blocks if marker in block)


def test_the_aiohttp_how_to_serves_the_destination_account(env: Any) -> None:
    from aiohttp import ClientSession, web

    namespace: dict[str, Any] = {}
    exec(_how_to_block("web.Application()"), namespace)  # noqa: S102 - the documented code
    assert namespace["ROLE"] == env.aws.destination_role_arn

    async def main() -> list[dict[str, Any]]:
        runner = web.AppRunner(namespace["app"])
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with ClientSession() as http:
                answers = []
                for _ in range(3):
                    async with http.get(f"http://127.0.0.1:{port}/whoami") as response:
                        assert response.status == 200
                        answers.append(await response.json())
                return answers
        finally:
            await runner.cleanup()  # runs the on_cleanup hook: ecs_xrole.aio.close()

    assert asyncio.run(main()) == [{"account": DESTINATION}] * 3
    assert env.aws.assume_role_calls == 1


def test_the_fastapi_how_to_yields_a_shared_client(env: Any) -> None:
    if httpx is None:
        pytest.skip("needs fastapi and httpx (the aio tox env has them)")
    namespace: dict[str, Any] = {}
    code = _how_to_block("FastAPI()").replace('Bucket="reports"', 'Bucket="how-to-reports"')
    exec(code, namespace)  # noqa: S102 - the documented code
    s3 = env.aws.admin_client("s3", DESTINATION)
    s3.create_bucket(Bucket="how-to-reports")
    s3.put_object(Bucket="how-to-reports", Key="a.csv", Body=b"1")

    async def main() -> list[Any]:
        transport = httpx.ASGITransport(app=namespace["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            answers = [(await http.get("/reports")).json() for _ in range(3)]
        clients = {id(await ecs_xrole.aio.get_client("s3", namespace["ROLE"]))}
        return [answers, clients]

    answers, clients = asyncio.run(main())
    assert answers == [{"count": 1}] * 3
    assert len(clients) == 1
    assert env.aws.assume_role_calls == 1


def test_debug_logs_of_async_calls_hold_no_secret(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """aiobotocore logs through botocore's loggers, which ecs-xrole's redaction covers."""
    caplog.set_level(logging.DEBUG)

    async def main() -> Any:
        async with ecs_xrole.aio.get_client("sts", env.aws.destination_role_arn) as sts:
            await sts.get_caller_identity()
        creds = await ecs_xrole.aio.get_credentials(env.aws.destination_role_arn)
        return await creds.get_frozen_credentials()

    frozen = asyncio.run(main())
    text = caplog.text
    assert "GetCallerIdentity" in text  # DEBUG was on: the request was logged
    assert frozen.secret_key not in text
    assert frozen.token not in text
