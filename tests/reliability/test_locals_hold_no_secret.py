"""Tracebacks with local variables (``capture_locals=True``, as Sentry's default event and
``traceback`` with locals show them) hold no secret on any public error path (issue 24,
point 4): before, the ECS agent's token and the full credentials URL sat in the environment
snapshot of ``session._resolve`` and ``get_client``."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

import ecs_xrole
from ecs_xrole import _session as session
from ecs_xrole.errors import Error

if TYPE_CHECKING:
    from ecs_xrole.testing import LocalStack

TOKEN = "locals-test-agent-token-0123456789abcdef"  # the ECS agent's, for these tests


def with_locals(error: BaseException) -> str:
    """The traceback as an error reporter sends it: every frame's locals, causes included,
    from the first frame of ecs-xrole's on (the test's own frames hold what it set up)."""
    tb = error.__traceback__
    while tb is not None and not tb.tb_frame.f_globals["__name__"].startswith("ecs_xrole"):
        tb = tb.tb_next
    assert tb is not None
    shown = traceback.TracebackException(type(error), error, tb, capture_locals=True)
    return "".join(shown.format())


@pytest.fixture
def agent(env: LocalStack, monkeypatch: pytest.MonkeyPatch, secret_guard: Any) -> LocalStack:
    """The stack's endpoint with a long token, and the secrets a traceback must not show."""
    env.endpoint.token = TOKEN
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN)
    secret_guard.add(TOKEN, env.endpoint.path.rsplit("/", 1)[1])  # the credentials ID too
    secret_guard.add(BROKEN_ANSWER["SecretAccessKey"], BROKEN_ANSWER["Token"])
    return env


# A 200 whose Expiration is not a date: refused, with the keys it held in the parser's frames.
BROKEN_ANSWER = {
    "AccessKeyId": "ASIAQUITEBROKEN12345",
    "SecretAccessKey": "broken-answer-secret-key-0123456789abcdef",
    "Token": "broken-answer-session-token-0123456789abcdef",
    "Expiration": "tomorrow",
}


def arn(stack: LocalStack) -> str:
    return stack.aws.destination_role_arn


# (label, setup of the environment, the call): each raises an ecs_xrole.Error.
CASES: list[
    tuple[str, Callable[[LocalStack, pytest.MonkeyPatch], None], Callable[[LocalStack], Any]]
] = [
    ("bad ARN", lambda s, m: None, lambda s: ecs_xrole.get_credentials("arn:aws:iam::1:role/x")),
    (
        "bad option",
        lambda s, m: None,
        lambda s: ecs_xrole.get_session(arn(s), duration_seconds=99999),
    ),
    (
        "bad client config",
        lambda s, m: None,
        lambda s: ecs_xrole.get_client("sts", arn(s), config="not a Config"),  # type: ignore[arg-type]
    ),
    (
        "bad region",
        lambda s, m: None,
        lambda s: ecs_xrole.get_client("sts", arn(s), region_name="x y"),
    ),
    (
        "endpoint not allowed",
        lambda s, m: m.setenv(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3" + s.endpoint.path
        ),
        lambda s: ecs_xrole.get_credentials(arn(s)),
    ),
    (
        "no endpoint",
        lambda s, m: m.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        lambda s: session.resolve_role(arn(s)),
    ),
    (
        "token with CR LF",
        lambda s, m: m.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN + "\r\nX-Injected: 1"),
        lambda s: ecs_xrole.get_client("sts", arn(s)),
    ),
    (
        "agent refuses the token",
        lambda s, m: setattr(s.endpoint, "token", TOKEN[::-1]),
        lambda s: ecs_xrole.get_session(arn(s)),
    ),
    (
        "an answer that is not credentials",
        lambda s, m: s.endpoint.queue(("json", BROKEN_ANSWER)),
        lambda s: ecs_xrole.get_credentials(arn(s)),
    ),
    (
        "AssumeRole denied",
        lambda s, m: None,
        lambda s: ecs_xrole.get_client("sts", s.aws.untrusting_role_arn),
    ),
    (
        "task role session, endpoint refuses",
        lambda s, m: setattr(s.endpoint, "token", TOKEN[::-1]),
        lambda s: ecs_xrole.get_task_role_credentials().get_frozen_credentials(),
    ),
]


@pytest.mark.parametrize(("label", "setup", "call"), CASES, ids=[c[0] for c in CASES])
def test_no_public_error_path_holds_a_secret_in_its_locals(
    agent: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    secret_guard: Any,
    label: str,
    setup: Callable[[LocalStack, pytest.MonkeyPatch], None],
    call: Callable[[LocalStack], Any],
) -> None:
    setup(agent, monkeypatch)
    with pytest.raises(Error) as info:
        call(agent)
    text = with_locals(info.value)
    assert " = " in text  # the locals are there
    secret_guard.seen(text, f"traceback with locals ({label})")
    for secret in secret_guard.secrets():
        assert secret not in text, f"{label}: a secret starting {secret[:4]!r} in the locals"


AIO_CASES: list[tuple[str, Callable[[LocalStack, pytest.MonkeyPatch], None], str]] = [
    ("bad ARN", lambda s, m: None, "arn:aws:iam::1:role/x"),
    ("agent refuses the token", lambda s, m: setattr(s.endpoint, "token", TOKEN[::-1]), ""),
    ("AssumeRole denied", lambda s, m: None, "untrusting"),
]


@pytest.mark.parametrize(("label", "setup", "role"), AIO_CASES, ids=[c[0] for c in AIO_CASES])
def test_no_aio_error_path_holds_a_secret_in_its_locals(
    agent: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    secret_guard: Any,
    label: str,
    setup: Callable[[LocalStack, pytest.MonkeyPatch], None],
    role: str,
) -> None:
    pytest.importorskip("aiobotocore")
    import asyncio

    import ecs_xrole.aio

    setup(agent, monkeypatch)
    role_arn = {"": arn(agent), "untrusting": agent.aws.untrusting_role_arn}.get(role, role)

    async def main() -> None:
        async with ecs_xrole.aio.get_client("sts", role_arn) as sts:
            await sts.get_caller_identity()

    with pytest.raises(Error) as info:
        asyncio.run(main())
    text = with_locals(info.value)
    assert " = " in text
    secret_guard.seen(text, f"aio traceback with locals ({label})")
    for secret in secret_guard.secrets():
        assert secret not in text, f"aio {label}: a secret starting {secret[:4]!r} in the locals"
