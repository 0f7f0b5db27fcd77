"""The background refresher: a stuck refresh of one credentials object never delays another's,
and its plan stays proportional to the credentials it plans for.

Before: one thread ran every refresh in turn, so a hung endpoint or STS for one role left every
other role to be refreshed by its callers inside the mandatory margin; and each new plan for a
credentials object left its superseded entry in the heap until it fell due (701 entries for
512 live objects).
"""

from __future__ import annotations

import gc
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._refresh import RefreshingCredentials
from ecs_xrole._scheduler import Scheduler
from ecs_xrole.errors import EndpointRequestError


class _Source:
    """A fetch function: credentials living ``lifetime`` seconds; after the first fetch,
    ``hang`` makes every fetch wait until ``release`` is set."""

    def __init__(self, name: str, lifetime: float, *, hang: bool = False) -> None:
        self.name = name
        self.lifetime = lifetime
        self.hang = hang
        self.release = threading.Event()
        self.hanging = threading.Event()
        self.threads: list[str] = []

    def __call__(self) -> TemporaryCredentials:
        self.threads.append(threading.current_thread().name)
        if self.hang and len(self.threads) > 1:
            self.hanging.set()
            if not self.release.wait(9):
                raise EndpointRequestError(f"{self.name}: released by the test's end")
        n = len(self.threads)
        return TemporaryCredentials(
            access_key_id=f"ASIA{self.name.upper():0>12}{n:04d}",
            secret_access_key=f"{self.name}-secret-{n}",
            session_token=f"{self.name}-token-{n}",
            expiration=datetime.now(timezone.utc) + timedelta(seconds=self.lifetime),
        )


def test_a_stuck_refresh_does_not_delay_another_credentials_refresh(secret_guard: Any) -> None:
    scheduler = Scheduler()
    # "stuck" is due first (its advisory time is about 1 s in), "other" about 1.8 s in; the
    # mandatory margin of "other" starts 3.6 s in: from there its callers would refresh.
    stuck = _Source("stuck", 2.0, hang=True)
    other = _Source("other", 4.0)
    a = RefreshingCredentials(
        stuck, method="t", description="stuck", scheduler=scheduler, rng=random.Random(1)
    )
    b = RefreshingCredentials(
        other, method="t", description="other", scheduler=scheduler, rng=random.Random(2)
    )
    try:
        a.get_frozen_credentials()
        first = b.get_frozen_credentials()
        assert stuck.hanging.wait(5)  # the refresher is now stuck inside a's refresh
        # A caller of b keeps calling, as an application would, until b has new credentials.
        deadline = time.monotonic() + 6
        while b.get_frozen_credentials() == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.get_frozen_credentials() != first
        assert not stuck.release.is_set()  # a's refresh was still stuck meanwhile
        # b's callers never paid: only its first load ran on the caller's thread.
        assert other.threads[0] == threading.current_thread().name
        assert len(other.threads) == 2
        assert other.threads[1] != threading.current_thread().name
    finally:
        stuck.release.set()
        scheduler.stop(timeout=3)


def test_the_plan_stays_proportional_to_the_live_credentials(secret_guard: Any) -> None:
    now = 1_000_000.0
    scheduler = Scheduler(clock=lambda: now, start_thread=False)
    source = _Source("plan", 900.0)
    creds = [
        RefreshingCredentials(source, method="t", description=f"c{i}", scheduler=scheduler)
        for i in range(512)
    ]
    # Every object is re-planned several times, as failed refreshes and nudges do.
    for round_ in range(4):
        for i, c in enumerate(creds):
            scheduler.schedule(c, now + 600 - round_ * 10 + i / 1000)
    assert scheduler.queued <= 2 * len(creds) + 64  # was 2048 entries for 512 objects

    # Most objects are dropped; the few left go on being re-planned.
    kept = creds[:10]
    del creds
    gc.collect()
    for round_ in range(200):
        for c in kept:
            scheduler.schedule(c, now + 300 + round_)
    assert scheduler.queued <= 2 * len(kept) + 64

    # Purging loses no live plan: each kept object refreshes once, at its last planned time.
    assert scheduler.run_pending() == 0
    now += 300 + 200
    assert scheduler.run_pending() == len(kept)


def test_stop_waits_for_a_worker_finishing_a_refresh(secret_guard: Any) -> None:
    """stop() returns with no refresher thread left (a test suite checks that between tests):
    a worker in the middle of a refresh finishes it, then ends, before stop() returns."""
    scheduler = Scheduler()
    source = _Source("slow", 2.0, hang=True)
    creds = RefreshingCredentials(
        source, method="t", description="slow", scheduler=scheduler, rng=random.Random(3)
    )
    creds.get_frozen_credentials()
    assert source.hanging.wait(5)  # a worker is inside the background refresh
    threading.Timer(0.3, source.release.set).start()
    scheduler.stop(timeout=5)
    alive = [t.name for t in threading.enumerate() if t.name.startswith("ecs-xrole-refresh")]
    assert alive == []
