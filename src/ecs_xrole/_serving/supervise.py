"""Run one command as a well-made process supervisor: signals in, exit status out, no zombies.

Used by ``ecs-xrole exec``: it forwards signals (not twice), exits with the command's status
(128+N for signal N), reaps every child (as PID 1 of a container, no tini needed), starts the
command with a clean signal state, maps a command that cannot start to 127 or 126, and on
Linux makes the command die with it. :func:`block_signals` must run before any thread
starts; the main thread takes signals with :func:`signal.sigtimedwait`. POSIX only. See
docs/design.md, "The credentials server".
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger("ecs_xrole.supervise")

#: The signals forwarded to the command.
FORWARDED: tuple[signal.Signals, ...] = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXECUTE = 126
# si_code of a signal the kernel generated itself (the terminal's Ctrl-C goes to the group).
_SI_KERNEL = 0x80
# How long one wait for a signal lasts; children are reaped after each (a lost SIGCHLD costs
# at most this much).
_TICK = 0.5
_WAITED = frozenset({*FORWARDED, signal.SIGCHLD})
_STOPPING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
# The commands spawn started and _reap has not reaped yet.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


def block_signals() -> None:
    """Block the forwarded signals and SIGCHLD in this thread, and so in every thread started
    after it. Call it in the main thread before any other thread starts."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)


def pending_stop_signal() -> int | None:
    """A stop signal (TERM, INT, HUP, QUIT) that arrived while blocked, before the command
    started, or ``None``. Consumes it."""
    for signum in sorted(signal.sigpending() & _STOPPING):
        with contextlib.suppress(OSError):
            signal.sigtimedwait({signum}, 0)
        return int(signum)
    return None


def spawn(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Start ``argv`` (``argv[0]`` looked up on ``PATH``) with ``env``; return its PID.

    On Linux the command gets ``SIGKILL`` when this process dies, however it dies (SIGKILL,
    the OOM killer): it must not outlive the endpoint it trusts, since whoever binds the port
    next would serve it (``PR_SET_PDEATHSIG``, set between fork and exec, then a check that
    the parent did not die before it was set). Must be called from the main thread (the
    signal is tied to the thread that forks). Raises :class:`OSError` when it cannot be
    started (``errno`` says why: see :func:`exit_code_for`).
    """
    import subprocess

    defaults = {*FORWARDED, signal.SIGCHLD}
    prctl = _prctl()
    parent = os.getpid()

    def child() -> None:  # in the child, between fork and exec: no locks, no imports
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for signum in defaults:
            signal.signal(signum, signal.SIG_DFL)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the signal was set
                os.kill(os.getpid(), signal.SIGKILL)

    # restore_signals: SIGPIPE and SIGXFSZ back to their defaults (Python ignores them).
    proc = subprocess.Popen(list(argv), env=dict(env), close_fds=False, preexec_fn=child)
    _spawned[proc.pid] = proc  # reaped by _reap, never by the Popen object itself
    return proc.pid


_PR_SET_PDEATHSIG = 1


def _prctl() -> Any:
    """libc's ``prctl``, or ``None`` where there is none (not Linux): loaded in the parent."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        log.debug("no prctl in libc: COMMAND will not die with ecs-xrole")
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def exit_code_for(error: OSError) -> int:
    """The shell's exit code for a command that could not start: 127 not found, else 126."""
    return EXIT_NOT_FOUND if error.errno in (errno.ENOENT, errno.ENOTDIR) else EXIT_CANNOT_EXECUTE


def _status_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _reap(pid: int) -> int | None:
    """Reap every child that has ended; return ``pid``'s exit code once it has."""
    result: int | None = None
    while True:
        try:
            done, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return result
        if done == 0:
            return result
        spawned = _spawned.pop(done, None)
        if spawned is not None:
            spawned.returncode = _status_code(status)  # so that it never waits itself
        if done == pid:
            result = _status_code(status)
        else:
            log.debug("reaped process %d (exit code %d)", done, _status_code(status))


def supervise(pid: int) -> int:
    """Forward signals to ``pid`` and reap children until ``pid`` ends; return its exit code
    (128+N when signal N ended it). The forwarded signals must be blocked (see
    :func:`block_signals`) and this must run on the main thread."""
    group = os.getpgrp()
    while True:
        code = _reap(pid)
        if code is not None:
            return code
        info = signal.sigtimedwait(_WAITED, _TICK)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        name = signal.Signals(info.si_signo).name
        if info.si_code == _SI_KERNEL and _same_group(pid, group):
            log.debug("%s came from the terminal to the whole group; COMMAND has it", name)
            continue
        log.info("forwarding %s to COMMAND (pid %d)", name, pid)
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile: the reap says how
            os.kill(pid, info.si_signo)


def _same_group(pid: int, group: int) -> bool:
    try:
        return os.getpgid(pid) == group
    except OSError:
        return False
