"""Project-wide test setup. The fixtures themselves come from ecs_xrole's pytest plugin
(``ecs_xrole.testing.pytest_plugin``, loaded through its entry point)."""

from __future__ import annotations

import gc
import importlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs_xrole.testing.pytest_plugin import _clear_ecs_xrole_caches

pytest_plugins = ["pytester"]


# What the stand-ins import on their first start (about 2 s of CPU: moto's server and the
# backends of the three services the fake AWS serves).
_MOTO_MODULES = (
    "moto.moto_server.werkzeug_app",
    "moto.sts.responses",
    "moto.iam.responses",
    "moto.ecs.responses",
    "boto3",
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Warm, once a process (each xdist worker) and before any test's clock starts, what the
    collected tests will need: moto's modules for the fake AWS, and Hypothesis's table of the
    characters ``text()`` may draw (1.5 s of CPU the first time). Otherwise the first test of
    a worker to need them pays inside its 10 s bound, which a loaded machine (two suites on
    two cores) did not give it."""
    items = [item for item in session.items if isinstance(item, pytest.Function)]
    if any("_ecs_xrole_fake_aws" in item.fixturenames for item in items):
        for name in _MOTO_MODULES:
            importlib.import_module(name)
    if any(getattr(item.obj, "is_hypothesis_test", False) for item in items):
        from hypothesis import strategies

        strategies.text().validate()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can reach (pytest's tmp_path is private to root).

    Tests may make parts of it read-only; cleanup restores the modes first.
    """
    path = Path(tempfile.mkdtemp(prefix="ecs-xrole-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in [path, *path.rglob("*")]:
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def only_live_credentials() -> None:
    """For a test that reads every credentials object of the process (credentials_status(),
    a health endpoint, the metrics' task-role counts): collect the whole heap first, frozen
    part included. An object that was still reachable when :func:`_isolated` froze the heap
    and became garbage later is otherwise never collected, and would show up as a live
    credentials object of another test. Costs one full collection (about 0.3 s)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


_REFRESHER_THREAD_PREFIX = "ecs-xrole-refresh"


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    """Every test starts and ends in a clean process state, whatever order the tests run in.

    After the test: ecs-xrole's caches are cleared, dropped credentials collected and the
    background refresher stopped (a later test gets a new one), so no refresh started here
    runs, logs or calls AssumeRole during another test. The test fails if it left a change
    in ``os.environ`` (use ``monkeypatch``) or a refresher thread that would not stop.
    """
    # Speed, measured (CONTRIBUTING.md): what survives this collection is the session's own
    # state (imported modules, botocore's models, moto's backends) and the objects of the
    # tests before, now unreachable or not. Freezing it limits every later gc.collect() (the
    # fixtures make up to three a test) to the objects made since; without it, collections of
    # the 230k-object heap took 357 of the serial run's 627 s, in teardowns. It is done here,
    # before the test, not in the teardown below: pytest drops a test's fixture values only
    # after its teardown, so a freeze there kept them (and the credentials objects that
    # credentials_status() reports) alive for the rest of the run.
    gc.collect()
    gc.freeze()
    before = _environ()
    yield
    _clear_ecs_xrole_caches(stop_refreshes=True)
    after = _environ()
    if after != before:
        changed = sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})
        for name in changed:
            if name in before:
                os.environ[name] = before[name]
            else:
                del os.environ[name]
        pytest.fail(
            f"the test left os.environ changed ({', '.join(changed)}); use monkeypatch",
            pytrace=False,
        )
    leftover = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(_REFRESHER_THREAD_PREFIX) and t.is_alive()
    ]
    if leftover:
        pytest.fail(f"background refresher threads outlived the test: {leftover}", pytrace=False)


def _environ() -> dict[str, str]:
    # pytest itself sets PYTEST_CURRENT_TEST for each phase of a test.
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture
def source_account_keys(fake_aws: Any) -> tuple[str, str]:
    """Static access keys of a new IAM user in the fake source account (the keys a developer
    keeps in ~/.aws/credentials): moto serves calls signed with them from that account."""
    from ecs_xrole.testing.aws import SOURCE_ACCOUNT_ID

    iam = fake_aws.admin_client("iam", SOURCE_ACCOUNT_ID)
    name = f"developer-{uuid.uuid4().hex[:12]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])
