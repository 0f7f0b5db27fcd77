"""Shared by the reliability suite: a guard that fails any test leaking a secret.

Every test here gets :class:`SecretGuard` automatically (``secret_guard``). It captures the
records of ecs-xrole's, botocore's and urllib3's loggers at DEBUG, as an application calling
``logging.basicConfig(level=logging.DEBUG)`` would get them (the stand-ins' own loggers, moto
and werkzeug, at WARNING: their volume slows the servers), for the whole test, and after the test
checks the captured log text, plus every exception, ``repr`` and text the test handed to
:meth:`SecretGuard.seen`, against every secret in play:

* every set of credentials moto issued in this process (the task role's, served by the
  EndpointServer, and every destination role's), read from moto's own STS state;
* the endpoint's authorization token (the local stack's, or any handed to :meth:`add`);
* anything else a test registers with :meth:`add` / :meth:`add_credentials`.

botocore logs request headers and response bodies (session tokens, secret keys) at DEBUG;
ecs-xrole's redacting filters (:mod:`ecs_xrole._redaction`) must keep them out, so they are
checked too.
"""

from __future__ import annotations

import gc
import logging
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

# Shorter values are not checked: they could match ordinary text by accident.
_MIN_SECRET = 8


class SecretGuard:
    """Collects the secrets in play and the texts that must not contain them."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._texts: list[tuple[str, str]] = []

    def add(self, *values: str | None) -> None:
        """Register secrets (access key IDs, secret keys, tokens)."""
        for value in values:
            if value and len(value) >= _MIN_SECRET:
                self._secrets.add(value)

    def add_credentials(self, creds: Any) -> None:
        """Register a credentials object's three secrets (ours, botocore's, or a dict)."""
        if isinstance(creds, dict):
            keys = ("AccessKeyId", "SecretAccessKey", "Token", "SessionToken")
            self.add(*(str(creds[k]) for k in keys if isinstance(creds.get(k), str)))
            return
        for names in (
            ("access_key_id", "secret_access_key", "session_token"),
            ("access_key", "secret_key", "token"),
        ):
            if all(hasattr(creds, n) for n in names):
                self.add(*(getattr(creds, n) for n in names))
                return

    def seen(self, thing: object, label: str = "") -> None:
        """Record what a user could see of ``thing``: for an exception its traceback (causes
        included), ``str``, ``repr`` and attributes; for anything else ``str`` and ``repr``."""
        label = label or type(thing).__name__
        if isinstance(thing, BaseException):
            self._texts.append((label, "".join(traceback.format_exception(thing))))
            chain: BaseException | None = thing
            while chain is not None:
                self._texts.append((label, repr(chain)))
                self._texts.append((label, repr(vars(chain))))
                chain = chain.__cause__ or chain.__context__
        else:
            self._texts.append((label, str(thing)))
            self._texts.append((label, repr(thing)))

    def seen_all(self, things: Iterable[object], label: str = "") -> None:
        for thing in things:
            self.seen(thing, label)

    def secrets(self) -> set[str]:
        """The registered secrets plus every credential set moto issued in this process."""
        found = set(self._secrets)
        moto_sts = sys.modules.get("moto.sts.models")
        if moto_sts is not None:
            backends = moto_sts.sts_backends
            for account in list(backends.keys()):
                for partition in list(backends[account].keys()):
                    for role in list(backends[account][partition].assumed_roles):
                        for value in (
                            role.access_key_id,
                            role.secret_access_key,
                            role.session_token,
                        ):
                            if value and len(value) >= _MIN_SECRET:
                                found.add(value)
        return found

    def check(self, log_text: str) -> None:
        """Fail if any secret appears in the log text or in a recorded text."""
        secrets = self.secrets()
        texts = [("log", log_text), *self._texts]
        for label, text in texts:
            for secret in secrets:
                if secret in text:
                    where = text.index(secret)
                    context = text[max(0, where - 80) : where].replace("\n", " | ")
                    pytest.fail(
                        f"a secret ({len(secret)} characters, starting {secret[:4]!r}) leaked "
                        f"into {label}, after: ...{context}",
                        pytrace=False,
                    )


@pytest.fixture(autouse=True)
def secret_guard(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[SecretGuard]:
    """Capture ecs-xrole's, botocore's and urllib3's records at DEBUG (the rest at WARNING);
    after the test, fail if a secret leaked."""
    for name in ("ecs_xrole", "botocore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    guard = SecretGuard()
    yield guard
    if "ecs_xrole_stack" in request.fixturenames:
        guard.add(request.getfixturevalue("ecs_xrole_stack").token)
    refresh = sys.modules.get("ecs_xrole._status")
    if refresh is not None:
        for creds in list(refresh._ALL):  # every live credentials object's repr and state
            guard.seen(creds, "RefreshingCredentials")
            guard.seen(creds.current, "RefreshingCredentials.current")
    guard.check(caplog.text)


@pytest.fixture
def env(ecs_xrole_env: Any) -> Iterator[Any]:
    """An ECS task on loopback: the stack's environment applied, knobs reset, caches cleared.

    Also collects garbage before and after: credentials objects dropped from ecs-xrole's caches
    live on in reference cycles until collected, and their background refreshes would make
    AssumeRole calls that another test's counters would see.
    """
    gc.collect()
    yield ecs_xrole_env
    gc.collect()
