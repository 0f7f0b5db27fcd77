"""pytest fixtures for code that uses ecs-xrole: a fake AWS and a fake ECS endpoint on loopback.

Loaded automatically (``pytest11`` entry point) wherever ecs-xrole is installed, for nothing:
moto, boto3 and the servers start only when a test asks for a fixture, and are shared by the
session. ``ecs_xrole_env`` applies an ECS task's environment to ``os.environ`` for one test
(every knob and counter reset); ``ecs_xrole_stack`` is the session's
:class:`~ecs_xrole.testing.LocalStack`; ``fake_aws`` the session's
:class:`~ecs_xrole.testing.FakeAWS`, reset for the test; ``ecs_endpoint`` a fresh
:class:`~ecs_xrole.testing.EndpointServer`. Needs the ``local`` extra.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._agent import EndpointServer
    from ._fake_aws import FakeAWS
    from ._stack import LocalStack

__all__ = ["ecs_endpoint", "ecs_xrole_env", "ecs_xrole_stack", "fake_aws"]


@pytest.fixture(scope="session")
def _ecs_xrole_fake_aws() -> Iterator[FakeAWS]:
    """One FakeAWS for the session; moto's import and the account setup happen once."""
    from ._fake_aws import FakeAWS

    with FakeAWS() as aws:
        yield aws


@pytest.fixture(scope="session")
def ecs_xrole_stack(
    _ecs_xrole_fake_aws: FakeAWS, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """The session's local stack: a fake AWS and an ECS credentials endpoint serving the task
    role's credentials, started once and stopped at the end of the session.

    ``stack.environ`` is what a task would see; ``stack.apply()`` puts it into ``os.environ``.
    Prefer ``ecs_xrole_env`` in tests: it also resets the knobs a previous test may have set.
    """
    from ._stack import local_stack

    with local_stack(
        aws=_ecs_xrole_fake_aws, tmp_dir=str(tmp_path_factory.mktemp("ecs-xrole"))
    ) as stack:
        yield stack


@pytest.fixture
def fake_aws(_ecs_xrole_fake_aws: FakeAWS) -> Iterator[FakeAWS]:
    """The session's :class:`~ecs_xrole.testing._fake_aws.FakeAWS`, running, with its knobs and
    counters reset before and after the test (the accounts persist across tests).

    Use ``fake_aws.endpoint_url`` as a client's ``endpoint_url``, ``fake_aws.admin_client()``
    to set up or inspect, and ``fake_aws.task_role_credentials()`` for the task role's keys.
    """
    aws = _ecs_xrole_fake_aws
    aws.start()  # a test may have stopped it to simulate an outage
    aws.reset()
    yield aws
    aws.start()
    aws.reset()


@pytest.fixture
def ecs_xrole_env(
    ecs_xrole_stack: LocalStack, fake_aws: FakeAWS, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalStack]:
    """Run the test inside an ECS task: yields the session's
    :class:`~ecs_xrole.testing._stack.LocalStack` with its environment applied to
    ``os.environ`` (``AWS_CONTAINER_CREDENTIALS_FULL_URI``, the token, ``AWS_ENDPOINT_URL``,
    the region, an empty credentials file, a fresh ``AWS_CONFIG_FILE``; host keys and
    profiles removed), undone after the test.

    Before the test it resets the fake AWS's and the endpoint's knobs and counters, and clears
    ecs-xrole's process-wide caches, so each test starts from a task that has just booted.
    """
    stack = ecs_xrole_stack
    stack.reset()
    _clear_ecs_xrole_caches()
    for name in stack.variables_to_remove():
        monkeypatch.delenv(name, raising=False)
    for name, value in stack.environ.items():
        monkeypatch.setenv(name, value)
    yield stack
    _clear_ecs_xrole_caches(stop_refreshes=True)
    stack.reset()


@pytest.fixture
def ecs_endpoint() -> Iterator[EndpointServer]:
    """A fresh :class:`~ecs_xrole.testing._agent.EndpointServer` for this test alone,
    started on an ephemeral loopback port and stopped afterwards. It serves made-up
    credentials (no AWS behind it) unless the test sets ``ecs_endpoint.credentials``.
    """
    from ._agent import EndpointServer

    with EndpointServer() as server:
        yield server


def _clear_ecs_xrole_caches(*, stop_refreshes: bool = False) -> None:
    """Forget ecs-xrole's process-wide caches; with ``stop_refreshes``, also collect the
    credentials objects dropped from them and stop the background refresher, so that no
    refresh of this test runs during the next one (later credentials get a new refresher).

    Modules that were never imported are left alone: this costs nothing for a suite that does
    not use the library itself.
    """
    session = sys.modules.get("ecs_xrole._session")
    if session is not None:
        session.clear_caches()  # the metadata cache too
    else:
        metadata = sys.modules.get("ecs_xrole._metadata")
        if metadata is not None:
            metadata.clear_cache()
    scheduler = sys.modules.get("ecs_xrole._scheduler")
    if stop_refreshes and scheduler is not None:
        gc.collect()  # dropped credentials may live on in reference cycles until collected
        scheduler.stop_default_scheduler()
