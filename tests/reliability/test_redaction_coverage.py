"""Every module logger of botocore, boto3, s3transfer, urllib3 and aiobotocore carries the
redacting filter (issue 24, point 6): boto3.resources.action logged whole responses, a new
access key's secret included, with no filter on it."""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from ecs_xrole import _redaction as redaction

# Named here, not taken from the module: the test holds the rule, whatever the module says.
SDK_PACKAGES = ("botocore", "boto3", "s3transfer", "urllib3", "aiobotocore")

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack


def import_every_module(package: str) -> int:
    """Import ``package`` and every module in it that imports here; return how many did."""
    try:
        root = importlib.import_module(package)
    except ImportError:
        return 0
    imported = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for info in pkgutil.walk_packages(root.__path__, f"{package}.", onerror=lambda _: None):
            # A module whose optional dependency is missing (awscrt, socks...) is skipped.
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)
                imported += 1
    return imported


def test_every_module_logger_of_the_sdk_packages_is_covered() -> None:
    redaction.install()  # as importing ecs_xrole._session does, before the modules are imported
    counts = {package: import_every_module(package) for package in SDK_PACKAGES}
    assert counts["botocore"] > 40
    assert counts["boto3"] > 10
    prefixes = tuple(f"{package}." for package in SDK_PACKAGES)
    uncovered = sorted(
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if (name in SDK_PACKAGES or name.startswith(prefixes))
        and isinstance(logger, logging.Logger)
        and redaction._FILTER not in logger.filters
    )
    # Before: boto3.*, s3transfer.* and aiobotocore.* had none.
    assert uncovered == [], f"{len(uncovered)} module loggers without the filter: {uncovered}"
    assert "boto3.resources.action" in logging.Logger.manager.loggerDict


@pytest.mark.slow
def test_boto3_resource_actions_log_no_secret_key(
    env: LocalStack, caplog: pytest.LogCaptureFixture, secret_guard: Any
) -> None:
    import ecs_xrole

    caplog.set_level(logging.DEBUG, logger="boto3")
    iam = ecs_xrole.get_session(env.aws.destination_role_arn).resource(
        "iam", endpoint_url=env.aws.endpoint_url
    )
    user = iam.create_user(UserName="redaction-probe")
    key = user.create_access_key_pair()  # its response holds the new SecretAccessKey
    secret_guard.add(key.secret_access_key)
    logged = [r for r in caplog.records if r.name == "boto3.resources.action"]
    assert any("Response" in r.getMessage() for r in logged)
    for record in logged:
        assert key.secret_access_key not in record.getMessage()  # before: there, in full
