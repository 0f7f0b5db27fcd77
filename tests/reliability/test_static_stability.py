"""Static stability: both stand-ins stop while the task role's and the destination role's
credentials are valid. Every call keeps getting the credentials in hand until the mandatory
margin; then a clear, typed error; once the stand-ins are back, calls recover in-process.

tests/test_session.py covers the destination's credentials alone (the task role's live for
hours there). Here the task role's credentials expire too (EndpointServer.lifetime is short),
so the destination's refresh also needs a refresh of its source that cannot happen.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ecs_xrole
from ecs_xrole._refresh import RefreshingCredentials, refresh_windows
from ecs_xrole.errors import CredentialsUnavailableError, Error

DESTINATION = "555566667777"


class Watcher(threading.Thread):
    """Calls ``get_frozen_credentials`` in a loop until the first error (or a time limit)."""

    def __init__(self, creds: RefreshingCredentials, limit: float) -> None:
        super().__init__(daemon=True)
        self.creds = creds
        self.first = creds.get_frozen_credentials()
        self.limit = limit
        self.served = 0
        self.changed = 0
        self.error: BaseException | None = None
        self.failed_at: float | None = None

    def run(self) -> None:
        while time.monotonic() < self.limit:
            try:
                got = self.creds.get_frozen_credentials()
            except Error as exc:
                self.failed_at, self.error = time.time(), exc
                return
            if got == self.first:
                self.served += 1
            else:
                self.changed += 1  # impossible: nothing could have refreshed them
            time.sleep(0.02)


def mandatory_at(creds: RefreshingCredentials, loaded_after: float) -> float:
    """The latest time the mandatory margin can start (the lifetime is at most
    expiry - loaded_after, and the margin grows with the lifetime)."""
    assert creds.expiry is not None
    expires = creds.expiry.timestamp()
    return expires - refresh_windows(expires - loaded_after).mandatory


def wait_for_fresh(creds: RefreshingCredentials, old_expiry: Any, seconds: float) -> None:
    """Call until a call succeeds with credentials that expire later than ``old_expiry``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            creds.get_frozen_credentials()
            if creds.expiry is not None and creds.expiry > old_expiry:
                return
        except CredentialsUnavailableError:
            pass  # the error is kept for a second before a new attempt
        assert time.monotonic() < deadline, f"{creds!r} did not recover"
        time.sleep(0.05)


def test_both_stand_ins_stop_while_task_and_destination_credentials_expire(
    env: Any, secret_guard: Any
) -> None:
    role = env.aws.destination_role_arn
    env.endpoint.lifetime = 2.0  # whole seconds on the wire: 1-2 s left when they arrive
    env.aws.sts_lifetime = 3.5  # longer: the task role's refresh is the first one due
    loaded_after = time.time()
    destination = ecs_xrole.get_credentials(role)
    task = ecs_xrole.get_task_role_credentials()
    task_mandatory = mandatory_at(task, loaded_after)
    expiries = (task.expiry, destination.expiry)
    destination_mandatory = mandatory_at(destination, loaded_after)
    limit = time.monotonic() + 8.0
    watchers = [Watcher(task, limit), Watcher(destination, limit)]

    env.endpoint.stop()
    env.aws.stop()
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join(max(0.1, limit - time.monotonic() + 0.5))
    assert not any(w.is_alive() for w in watchers)

    for watcher, must_not_fail_before in zip(
        watchers, (task_mandatory, destination_mandatory), strict=True
    ):
        error = watcher.error
        assert isinstance(error, CredentialsUnavailableError), error
        secret_guard.seen(error)
        # Zero failed calls until the mandatory margin; then a clear error.
        assert watcher.failed_at is not None
        assert watcher.failed_at >= must_not_fail_before
        assert watcher.served > 10
        assert watcher.changed == 0
        assert "could not refresh credentials (failing since" in str(error)
        assert error.failing_since is not None
        assert error.expires_at is not None
    task_error, destination_error = (w.error for w in watchers)
    assert "task role credentials" in str(task_error)
    assert "cannot connect" in str(task_error)  # the endpoint's own failure, named
    assert role in str(destination_error)
    assert "task role credentials" in str(destination_error)  # the source was the problem

    # The stand-ins come back: calls recover in this process, nothing restarted.
    env.endpoint.start()
    env.aws.start()
    wait_for_fresh(destination, expiries[1], 5)
    wait_for_fresh(task, expiries[0], 2)  # refreshed on the way (same keys: the agent's own)
    assert destination.get_frozen_credentials().access_key != watchers[1].first.access_key
    assert destination.failing_since is None
    sts = ecs_xrole.get_client("sts", role)
    assert sts.get_caller_identity()["Account"] == DESTINATION
