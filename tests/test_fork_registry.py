"""The one after-fork registry (ecs_xrole._fork): what runs in a forked child, and in what order."""

from __future__ import annotations

import os
import pathlib

import pytest

from ecs_xrole import _fork

SRC = pathlib.Path(_fork.__file__).parent


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """An empty registry for the test (the package's callbacks are back after it)."""
    fresh: list[object] = []
    monkeypatch.setattr(_fork, "_callbacks", fresh)
    return fresh


def test_callbacks_run_in_registration_order_once_each(registry: list[object]) -> None:
    ran: list[str] = []

    def first() -> None:
        ran.append("first")

    def second() -> None:
        ran.append("second")

    assert _fork.on_fork_in_child(first) is first
    _fork.on_fork_in_child(second)
    _fork.on_fork_in_child(first)  # again: still one registration, at its first place
    assert _fork.callbacks() == (first, second)
    _fork._run_in_child()
    assert ran == ["first", "second"]


def test_a_failing_callback_does_not_stop_the_others(registry: list[object]) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("first")

    def also_broken() -> None:
        raise KeyError("second")

    _fork.on_fork_in_child(broken)
    _fork.on_fork_in_child(also_broken)
    _fork.on_fork_in_child(lambda: ran.append("after"))
    with pytest.raises(ValueError, match="first"):
        _fork._run_in_child()
    assert ran == ["after"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_callbacks_run_in_a_forked_child_only(registry: list[object]) -> None:
    ran: list[int] = []
    _fork.on_fork_in_child(lambda: ran.append(os.getpid()))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, b"ok" if ran == [os.getpid()] else repr(ran).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert ran == []  # never in the parent


def test_every_module_with_fork_state_registers_its_reset() -> None:
    import ecs_xrole._session
    from ecs_xrole import _builder, _deadline, _front, _http, _observe, _redaction, _scheduler

    expected = [
        _http._forget_pool_after_fork,
        _redaction._after_fork_in_child,
        _scheduler._after_fork_in_child,
        _observe._renew_lock,
        _front._after_fork_in_child,
        _deadline._after_fork_in_child,
        _builder._after_fork_in_child,
        ecs_xrole._session._after_fork_in_child,
    ]
    registered = _fork.callbacks()
    assert set(expected) <= set(registered)
    # What a reset relies on is reset before it: the session's dependencies before it.
    assert registered.index(ecs_xrole._session._after_fork_in_child) > max(
        registered.index(callback) for callback in expected[:-1]
    )


def test_the_aio_modules_register_their_resets() -> None:
    pytest.importorskip("aiobotocore")
    from ecs_xrole.aio import _clients, _credentials

    registered = _fork.callbacks()
    assert _clients._after_fork_in_child in registered
    assert _credentials._after_fork_in_child in registered


def test_no_module_registers_a_fork_hook_of_its_own() -> None:
    # The registry is the one home: a module calling os.register_at_fork itself would run
    # outside its ordering contract.
    own = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "_fork.py" and "register_at_fork(" in path.read_text(encoding="utf-8")
    )
    assert own == []
