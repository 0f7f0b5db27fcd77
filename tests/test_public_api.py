"""The public surface, pinned: exactly these names are supported, from these modules.

A name added to or dropped from an ``__all__`` below fails here, so a change of the public
API is a decision made in review (and in the changelog), never a side effect. Each name must
resolve to the object it names; the API reference (docs/reference/api.md) documents these
modules and no other.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

ECS_XROLE = [
    "AssumeOptions",
    "AssumeRoleDeniedError",
    "AssumeRoleError",
    "ConfigFileBusyError",
    "ConfigFileError",
    "CredentialsStatus",
    "CredentialsUnavailableError",
    "Endpoint",
    "EndpointError",
    "EndpointNotAllowedError",
    "EndpointNotConfiguredError",
    "EndpointRequestError",
    "EndpointResponseError",
    "Error",
    "InvalidInputError",
    "ProfileError",
    "RefreshingCredentials",
    "TemporaryCredentials",
    "TokenError",
    "__version__",
    "credentials_status",
    "detect_endpoint",
    "fetch_credentials",
    "get_client",
    "get_credentials",
    "get_session",
    "get_task_role_credentials",
]

ECS_XROLE_AIO = [
    "AioRefreshingCredentials",
    "SharedClient",
    "close",
    "get_aioboto3_session",
    "get_client",
    "get_credentials",
    "get_session",
]

ECS_XROLE_TESTING = ["EndpointServer", "FakeAWS", "LocalStack", "fake_credentials", "local_stack"]

#: The names of what the fake AWS sets up (docs/how-to/testing.md), for tests that must name them.
ECS_XROLE_TESTING_AWS = [
    "CHAINED_ROLE_NAME",
    "CLUSTER_NAME",
    "DESTINATION_ACCOUNT_ID",
    "DESTINATION_ROLE_NAME",
    "EXTERNAL_ID",
    "EXTERNAL_ID_ROLE_NAME",
    "REGION",
    "SOURCE_ACCOUNT_ID",
    "STS_FAULTS",
    "TASK_ID",
    "TASK_ROLE_NAME",
    "TASK_ROLE_POLICY_NAME",
    "UNTRUSTING_ROLE_NAME",
    "role_arn",
]

PUBLIC = {
    "ecs_xrole": ECS_XROLE,
    "ecs_xrole.aio": ECS_XROLE_AIO,
    "ecs_xrole.testing": ECS_XROLE_TESTING,
    "ecs_xrole.testing.aws": ECS_XROLE_TESTING_AWS,
}

#: The modules the API reference renders: the packages above, the two modules users import
#: from by name, and the pytest plugin (the ``pytest11`` entry point: its fixtures).
DOCUMENTED = [
    "ecs_xrole",
    "ecs_xrole.aio",
    "ecs_xrole.errors",
    "ecs_xrole.options",
    "ecs_xrole.testing",
    "ecs_xrole.testing.aws",
    "ecs_xrole.testing.pytest_plugin",
]


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_exactly_the_supported_names(module: str) -> None:
    assert importlib.import_module(module).__all__ == PUBLIC[module]


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_resolves_and_is_listed_by_dir(module: str) -> None:
    if module == "ecs_xrole.aio":
        pytest.importorskip("aiobotocore")  # AioRefreshingCredentials is an aiobotocore class
    package = importlib.import_module(module)
    for name in PUBLIC[module]:
        assert getattr(package, name) is not None, f"{module}.{name}"
    assert set(PUBLIC[module]) <= set(dir(package))


def test_get_credentials_returns_the_exported_class(ecs_xrole_env: object) -> None:
    import ecs_xrole

    role = ecs_xrole_env.aws.destination_role_arn  # type: ignore[attr-defined]
    assert isinstance(ecs_xrole.get_credentials(role), ecs_xrole.RefreshingCredentials)
    assert isinstance(ecs_xrole.get_task_role_credentials(), ecs_xrole.RefreshingCredentials)


def test_the_errors_all_derive_from_error() -> None:
    import ecs_xrole

    for name in ECS_XROLE:
        value = getattr(ecs_xrole, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, ecs_xrole.Error), name


def test_naming_refreshing_credentials_loads_it_on_first_use_only() -> None:
    """``import ecs_xrole`` stays light: the new export is lazy (test_startup guards the
    commands; this, the name itself)."""
    probe = (
        "import json, sys, ecs_xrole\n"
        "before = 'botocore' in sys.modules\n"
        "ecs_xrole.RefreshingCredentials\n"
        "print(json.dumps([before, 'botocore' in sys.modules, 'boto3' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=9, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, True, False]


def test_the_api_reference_documents_only_public_modules() -> None:
    from pathlib import Path

    page = Path(__file__).parent.parent / "docs" / "reference" / "api.md"
    rendered = [
        line.split()[1]
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(":::")
    ]
    assert rendered, "no mkdocstrings block in docs/reference/api.md"
    assert sorted(set(rendered)) == sorted(DOCUMENTED), rendered
