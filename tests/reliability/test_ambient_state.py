"""What the process around the library may change: the endpoint's token and the profile.

* EKS Pod Identity chooses the role by the token, so the task-role credentials are cached per
  token: another token at the same URL gets its own credentials, and a rotated token (in the
  variable or the token file) is the one sent.
* ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE`` select the application's profile; the library's
  sessions use none, so a profile that does not exist breaks nothing here.

Real HTTP on loopback: the EndpointServer checks the ``Authorization`` header (a wrong token
gets 401), moto plays STS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ecs_xrole
from ecs_xrole import _session as session_module
from ecs_xrole._endpoint import TOKEN, Endpoint
from ecs_xrole.testing._agent import EndpointServer
from ecs_xrole.testing._agent_http import fake_credentials

DESTINATION = "555566667777"
TOKEN_A = "pod-identity-token-for-role-a"
TOKEN_B = "pod-identity-token-for-role-b"


def test_another_token_at_the_same_url_gets_its_own_credentials(
    ecs_endpoint: EndpointServer, secret_guard: Any
) -> None:
    secret_guard.add(TOKEN_A, TOKEN_B)
    session_module.clear_caches()
    role_a, role_b = fake_credentials(), fake_credentials()
    ecs_endpoint.token, ecs_endpoint.credentials = TOKEN_A, role_a
    first = session_module.get_task_role_credentials(
        endpoint=Endpoint(ecs_endpoint.url, auth="token", token=TOKEN_A)
    )
    assert first.get_frozen_credentials().access_key == role_a.access_key_id

    # The agent now answers for token B only, with another role's credentials.
    ecs_endpoint.token, ecs_endpoint.credentials = TOKEN_B, role_b
    second = session_module.get_task_role_credentials(
        endpoint=Endpoint(ecs_endpoint.url, auth="token", token=TOKEN_B)
    )
    assert second is not first
    assert second.get_frozen_credentials().access_key == role_b.access_key_id
    # The same token again is the same (shared) object.
    again = session_module.get_task_role_credentials(
        endpoint=Endpoint(ecs_endpoint.url, auth="token", token=TOKEN_B)
    )
    assert again is second
    session_module.clear_caches()


def test_a_rotated_token_variable_is_the_one_sent(
    env: Any, monkeypatch: pytest.MonkeyPatch, secret_guard: Any
) -> None:
    secret_guard.add(TOKEN_B)
    assert ecs_xrole.get_client("sts", env.aws.destination_role_arn).get_caller_identity()
    env.endpoint.token = TOKEN_B  # the old token is refused from now on (401)
    monkeypatch.setenv(TOKEN, TOKEN_B)
    task_role = session_module.get_task_role_credentials()
    assert task_role.force_refresh()  # sent with TOKEN_B, or the endpoint would answer 401
    served = env.endpoint.served
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert sts.get_caller_identity()["Account"] == DESTINATION
    assert env.endpoint.served == served  # the new token's credentials were shared


def test_a_rotated_token_file_is_reread(
    ecs_endpoint: EndpointServer, tmp_path: Path, secret_guard: Any
) -> None:
    secret_guard.add(TOKEN_A, TOKEN_B)
    session_module.clear_caches()
    path = tmp_path / "eks-pod-identity-token"
    ecs_endpoint.token = TOKEN_A
    ecs_endpoint.write_token_file(path)
    endpoint = Endpoint(ecs_endpoint.url, auth="token_file", token_file=str(path))
    creds = session_module.get_task_role_credentials(endpoint=endpoint)
    creds.get_frozen_credentials()
    ecs_endpoint.rotate_token(TOKEN_B, token_file=path)
    assert session_module.get_task_role_credentials(endpoint=endpoint) is creds
    assert creds.force_refresh()  # the file is read again: TOKEN_B is sent
    session_module.clear_caches()


@pytest.mark.parametrize("variable", ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_a_missing_ambient_profile_breaks_nothing(
    env: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "no-such-profile")
    role = env.aws.destination_role_arn
    assert ecs_xrole.get_client("sts", role).get_caller_identity()["Account"] == DESTINATION
    session = ecs_xrole.get_session(role)
    assert session.client("sts").get_caller_identity()["Account"] == DESTINATION


def test_an_ambient_profile_does_not_change_the_sessions_settings(
    env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A selected profile's settings are the application's, not the library's (the default
    profile's settings still apply, as with no profile selected)."""
    config = tmp_path / "config"  # a file of this test's own: the stack's one is shared
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    config.write_text(
        "[default]\nmax_attempts = 2\n[profile app]\nretry_mode = adaptive\nmax_attempts = 7\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_PROFILE", "app")
    sts = ecs_xrole.get_client("sts", env.aws.destination_role_arn)
    assert sts.meta.config.retries.get("mode") != "adaptive"
    assert sts.meta.config.retries.get("total_max_attempts") == 2
    assert sts.get_caller_identity()["Account"] == DESTINATION
