"""The background refresher backs off after a failed refresh, so callers waiting inside the
mandatory margin get the failure instead of starving behind attempt after attempt.

Real threads and a real clock: the fetch takes measurable time, as a fetch from a dead endpoint
does (it retries until its deadline). tests/test_refresh.py uses a fake clock that does not
move during a fetch, which is why it cannot see this.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timezone
from typing import Any

from ecs_xrole._credentials import TemporaryCredentials
from ecs_xrole._refresh import RefreshingCredentials
from ecs_xrole._scheduler import Scheduler
from ecs_xrole.errors import CredentialsUnavailableError, EndpointRequestError

FETCH_SECONDS = 0.8  # how long each failing fetch takes (a dead endpoint's deadline, shrunk)


class SlowFailingSource:
    """Serves credentials living ``lifetime`` seconds once, then every fetch fails slowly."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.attempts: list[tuple[float, float]] = []  # (start, end) of each failed fetch
        self.lock = threading.Lock()

    def __call__(self) -> TemporaryCredentials:
        with self.lock:
            first = not self.attempts and not hasattr(self, "served")
            self.served = True
        if first:
            return TemporaryCredentials(
                access_key_id="ASIABACKOFFTESTKEY01",
                secret_access_key="backoff/test/secret/key/0123456789abcdef",
                session_token="backoff-test-session-token-" + "t" * 60,
                expiration=datetime.fromtimestamp(time.time() + self.lifetime, timezone.utc),
            )
        began = time.monotonic()
        time.sleep(FETCH_SECONDS)
        with self.lock:
            self.attempts.append((began, time.monotonic()))
        raise EndpointRequestError("the endpoint is down (test)", fix="start it")


def test_failed_background_refresh_backs_off_and_waiting_callers_get_the_error(
    secret_guard: Any,
) -> None:
    secret_guard.add(
        "ASIABACKOFFTESTKEY01",
        "backoff/test/secret/key/0123456789abcdef",
        "backoff-test-session-token-" + "t" * 60,
    )
    scheduler = Scheduler()
    source = SlowFailingSource(lifetime=2.0)  # refresh due after ~0.8-1 s, mandatory at 1.8 s
    creds = RefreshingCredentials(
        source, method="test", description="backoff test credentials", scheduler=scheduler
    )
    try:
        creds.get_frozen_credentials()
        waits: list[float] = []
        errors: list[BaseException] = []
        stop_at = time.monotonic() + 5.0
        while time.monotonic() < stop_at and len(errors) < 3:
            began = time.monotonic()
            try:
                creds.get_frozen_credentials()
            except CredentialsUnavailableError as exc:
                errors.append(exc)
            waits.append(time.monotonic() - began)
            time.sleep(0.01)
    finally:
        scheduler.stop(timeout=3)
    secret_guard.seen_all(errors)
    assert errors, "no caller ever got the refresh failure"
    # A caller waits for at most the refresh in flight (plus its own, at most one), never for a
    # chain of background attempts queued behind it.
    assert max(waits) <= 2 * FETCH_SECONDS + 0.5
    # Background attempts are spaced by a backoff counted from when the last attempt ended.
    with source.lock:
        attempts = list(source.attempts)
    gaps = [start - end for (_, end), (start, _) in itertools.pairwise(attempts)]
    assert all(gap >= 0.2 for gap in gaps), gaps
