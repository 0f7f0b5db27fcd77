"""The config writer under stress: fifty concurrent writers killed at random points, a read-only
directory, symlinks written through from two paths at once, CRLF with a byte-order mark.

What tests/test_config.py already covers is not repeated here (twenty writers that all finish,
one writer killed before its rename, a loop killed at random times, a directory where the lock
file cannot be made, a plain symlink, CRLF alone, a BOM alone). The invariants: nothing written
by a writer that finished is lost, the file is always parseable by botocore, and a failed
write leaves the file as it was.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import random
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import botocore.configloader
import pytest

from ecs_xrole._config.files import write_profiles
from ecs_xrole._config.model import Profile
from ecs_xrole.errors import ConfigFileError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

BASE = """\
# hand-written; keep me
[default]
region = eu-west-1

[profile dev]
role_arn = arn:aws:iam::222233334444:role/dev
source_profile = default
s3 =
    addressing_style = path
"""


def arn(i: int) -> str:
    return f"arn:aws:iam::555566667777:role/writer-{i}"


def profiles(path: Path) -> dict[str, Any]:
    parsed = botocore.configloader.raw_config_parse(str(path))
    result: dict[str, Any] = botocore.configloader.build_profile_map(parsed)["profiles"]
    return result


def fork_writers(
    path: Path, names: list[tuple[str, str]], *, via: list[Path] | None = None
) -> tuple[list[int], int]:
    """Fork one writer per (profile, role ARN), held at a gate; return the pids and the gate's
    write end (write one byte per writer to release them)."""
    gate_read, gate_write = os.pipe()
    pids = []
    for i, (name, role) in enumerate(names):
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                # A writer still running after 6 s (reap gives up at 8) prints where it is:
                # a hang under load shows its stack instead of only its pid.
                faulthandler.dump_traceback_later(6.0)
                # A child of a threaded process (this pytest worker) must not write through
                # the handlers it inherited: a stream's lock held by another thread at the
                # fork stays held here, and the writer's INFO record then never returns (seen:
                # stuck in StreamHandler.flush). Real writers are processes of their own.
                logging.disable(logging.CRITICAL)
                os.close(gate_write)
                os.read(gate_read, 1)
                target = via[i % len(via)] if via else path
                write_profiles([Profile(name, role)], path=str(target))
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(gate_read)
    return pids, gate_write


def reap(pids: list[int], seconds: float) -> dict[int, int]:
    """Exit codes (negative: killed by that signal); kill and fail on any still running."""
    codes: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while len(codes) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    hung = [pid for pid in pids if pid not in codes]
    for pid in hung:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert not hung, f"{len(hung)} writers never finished (a lock never released?)"
    return codes


@pytest.mark.slow
def test_fifty_writers_killed_at_random_points_lose_nothing_that_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(BASE)
    # Each writer holds its written temporary file a moment before the rename, so kills land
    # in every phase: waiting for the lock, merging, written but not renamed, renamed.
    real_replace = os.replace

    def replace(*args: Any, **kwargs: Any) -> None:  # inherited by the forked writers
        time.sleep(0.01)
        real_replace(*args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    rng = random.Random(50)
    names = [(f"w{i:02d}", arn(i)) for i in range(50)]
    pids, gate = fork_writers(cfg, names)
    victims = rng.sample(pids, 15)
    kill_at = sorted(rng.uniform(0.0, 0.5) for _ in victims)
    os.write(gate, b"x" * len(pids))
    os.close(gate)
    started = time.monotonic()
    reads = 0
    for pid, when in zip(victims, kill_at, strict=True):
        while time.monotonic() - started < when:
            # Readers never see a torn file: every read parses and keeps the hand-written part.
            assert cfg.read_text().startswith(BASE)
            profiles(cfg)
            reads += 1
        os.kill(pid, signal.SIGKILL)
    codes = reap(pids, 8)

    found = profiles(cfg)
    finished = [name for (name, _), pid in zip(names, pids, strict=True) if codes[pid] == 0]
    assert all(codes[pid] in (0, -signal.SIGKILL) for pid in pids), codes
    assert len(finished) >= 35
    for name, role in names:
        if name in finished:
            assert found[name]["role_arn"] == role  # nothing that finished is lost
        elif name in found:
            assert found[name]["role_arn"] == role  # a killed writer's work is whole or absent
    assert found["dev"]["s3"] == {"addressing_style": "path"}
    assert cfg.read_text().startswith(BASE)
    assert reads > 0
    # The next writer removes what killed writers left behind.
    write_profiles([Profile("after", arn(99))], path=str(cfg))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "config.lock"]


def write_as_unprivileged(path: Path) -> tuple[int, str]:
    """write_profiles in a forked child without root's power over permissions. Returns the
    exit code (0 written, 3 ConfigFileError, 4 anything else) and the message."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code, message = 4, ""
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            write_profiles([Profile("x", arn(1))], path=str(path))
            code = 0
        except ConfigFileError as exc:
            code, message = 3, str(exc)
        except BaseException as exc:
            message = repr(exc)
        finally:
            os.write(write_end, message.encode()[:4000])
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        message = handle.read().decode()
    codes = reap([pid], 8)
    return codes[pid], message


def test_read_only_directory_with_an_existing_lock_file(shared_dir: Path) -> None:
    """The lock can be taken, but no temporary file can be made beside the config: refused with
    the directory named, and the file left exactly as it was."""
    directory = shared_dir / "aws"
    directory.mkdir()
    cfg = directory / "config"
    cfg.write_text(BASE)
    # Written once in this process too: mutation testing maps the writer to this test only
    # through calls it sees, and the refused write below runs in a forked child.
    write_profiles([Profile("x", arn(2))], path=str(cfg))
    lock = directory / "config.lock"
    for path in (cfg, lock):
        path.chmod(0o666)
        if os.geteuid() == 0:
            os.chown(path, 65534, 65534)
    directory.chmod(0o555)
    before = cfg.read_bytes()

    code, message = write_as_unprivileged(cfg)

    assert code == 3, message
    assert f"cannot write in {directory}" in message
    assert "Fix:" in message
    assert "writable" in message
    assert cfg.read_bytes() == before
    assert sorted(p.name for p in directory.iterdir()) == ["config", "config.lock"]


@pytest.mark.slow
def test_writers_through_a_symlink_and_its_target_share_one_lock(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "aws-config"
    real.parent.mkdir()
    real.write_text(BASE)
    link = tmp_path / "home" / ".aws" / "config"
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(real, link.parent))  # a relative link, as dotfile tools make
    names = [(f"s{i:02d}", arn(i)) for i in range(20)]
    pids, gate = fork_writers(real, names, via=[link, real])
    os.write(gate, b"x" * len(pids))
    os.close(gate)
    codes = reap(pids, 8)

    assert list(codes.values()) == [0] * len(pids)
    assert link.is_symlink()
    found = profiles(link)
    for name, role in names:
        assert found[name]["role_arn"] == role  # without one lock, writers would lose updates
    assert real.read_text().startswith(BASE)
    assert sorted(p.name for p in link.parent.iterdir()) == ["config"]


def test_dangling_symlink_creates_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "aws-config"
    link = tmp_path / "config"
    link.symlink_to(real)
    write_profiles([Profile("x", arn(1))], path=str(link))
    assert link.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert stat.S_IMODE(real.parent.stat().st_mode) == 0o700
    assert profiles(link)["x"]["role_arn"] == arn(1)


def test_crlf_file_with_a_bom_is_refused_and_the_fix_given_works(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    data = b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode()
    cfg.write_bytes(data)
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", arn(1))], path=str(cfg))
    assert cfg.read_bytes() == data
    assert str(cfg) in str(info.value)
    # Follow the fix the message gives, literally, where GNU sed is there to run it.
    command = str(info.value).split("`")[1]
    if shutil.which("sed") and command.startswith("sed -i"):
        subprocess.run(["sh", "-c", command], check=True, timeout=5)
    else:
        cfg.write_bytes(data[3:])
    assert cfg.read_bytes() == data[3:]
    write_profiles([Profile("x", arn(1))], path=str(cfg))
    written = cfg.read_bytes()
    assert written.startswith(data[3:])
    assert written.count(b"\n") == written.count(b"\r\n")  # CRLF kept throughout
    assert profiles(cfg)["x"]["role_arn"] == arn(1)
    assert profiles(cfg)["dev"]["s3"] == {"addressing_style": "path"}
