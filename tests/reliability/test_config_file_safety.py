"""The config writer from another local user's side: files ``write-config`` writes cannot be
hijacked, and no file it is pointed at can hang it or leak what it holds.

The attacks: a directory made first by another user (``/tmp/aws``), a directory others may
write without the sticky bit, a symlink planted in a sticky directory, a lock held forever, a
FIFO or a device where the config file should be, a huge file, and a parse error on a line
that holds a secret key. Each is run through the real command line (a new process, as a
container's entrypoint runs it) wherever the exit code and message are the promise.

Tests that need another user's files run as root here and hand the files to uid 65534
(``nobody``) with chown; as any other user they are skipped.
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs_xrole._config.files import write_profiles
from ecs_xrole._config.model import Profile
from ecs_xrole._config.safe_io import MAX_CONFIG_BYTES
from ecs_xrole.errors import ConfigFileBusyError

DEST = "arn:aws:iam::555566667777:role/destination-account-role"
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another user needs root")


def write_config(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ecs_xrole write-config ARGS`` in a new process (8 s at most)."""
    argv = [sys.executable, "-m", "ecs_xrole", "write-config", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=8, env=env)


def write_to(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return write_config("--role-arn", DEST, "--config-file", cfg, *extra)


def assert_refused(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "Fix:" in done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------------------------
# Directories another user could swap the file in


@as_root
def test_directory_made_first_by_another_user_is_refused(shared_dir: Path) -> None:
    """The issue's attack: another user made /tmp/aws first; root must not write into it."""
    planted = shared_dir / "aws"
    planted.mkdir(mode=0o755)
    os.chown(planted, NOBODY, NOBODY)

    done = write_to(planted / "config")

    assert_refused(done, f"{planted} is owned by uid {NOBODY}", "another user could replace")
    assert listing(planted) == []  # no config, no lock file, no temporary file


@as_root
def test_parent_directory_owned_by_another_user_is_refused(shared_dir: Path) -> None:
    """Root's own 0700 directory inside another user's: they could rename it away and put
    theirs in its place."""
    theirs = shared_dir / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    mine = theirs / "aws"
    mine.mkdir(mode=0o700)

    done = write_to(mine / "config")

    assert_refused(done, f"{theirs} is owned by uid {NOBODY}")
    assert listing(mine) == []


@pytest.mark.parametrize(("mode", "who"), [(0o777, "its group and others"), (0o775, "its group")])
def test_directory_others_may_write_without_the_sticky_bit_is_refused(
    shared_dir: Path, mode: int, who: str
) -> None:
    directory = shared_dir / "wide"
    directory.mkdir()
    directory.chmod(mode)
    cfg = directory / "config"

    for extra in ((), ("--check",), ("--dry-run",)):
        done = write_to(cfg, *extra)
        assert_refused(done, f"{directory} is writable by {who}", "no sticky bit", "chmod go-w")
    assert listing(directory) == []


def test_a_new_directory_under_a_sticky_one_is_made_private(shared_dir: Path) -> None:
    """/tmp-like directories are fine: only an entry's owner may rename it there."""
    sticky = shared_dir / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    cfg = sticky / "aws" / "config"

    done = write_to(cfg)

    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


@as_root
def test_files_another_user_planted_in_a_sticky_directory_are_refused(shared_dir: Path) -> None:
    """In a sticky directory another user may create the config (or its lock) first; root
    would then keep their ownership, so they could edit it later."""
    sticky = shared_dir / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    for planted in ("config", "config.lock"):
        cfg = sticky / "config"
        for name in ("config", "config.lock"):
            (sticky / name).unlink(missing_ok=True)
        (sticky / planted).write_text("[profile theirs]\ncredential_process = /tmp/evil\n")
        os.chown(sticky / planted, NOBODY, NOBODY)
        before = (sticky / planted).read_bytes()

        done = write_to(cfg)

        assert_refused(done, f"{sticky / planted} is owned by uid {NOBODY}")
        assert (sticky / planted).read_bytes() == before
        assert (sticky / planted).stat().st_uid == NOBODY


# --------------------------------------------------------------------------------------------
# Symlinks


@as_root
def test_symlink_planted_by_another_user_in_a_sticky_directory_is_not_followed(
    shared_dir: Path,
) -> None:
    """A dangling link from /tmp into a root-only directory: following it would make root
    create a file there (the kernel's protected_symlinks stops this for open(), not for a path
    resolved by hand)."""
    sticky = shared_dir / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    private = shared_dir / "root-only"
    private.mkdir(mode=0o700)
    link = sticky / "config"
    link.symlink_to(private / "created-by-root")
    os.lchown(link, NOBODY, NOBODY)

    done = write_to(link)

    assert_refused(done, f"the symlink {link}, which uid {NOBODY}", "remove the link")
    assert listing(private) == []
    assert listing(sticky) == ["config"]  # the link, and nothing beside it


@as_root
def test_directory_symlink_owned_by_another_user_is_not_followed(shared_dir: Path) -> None:
    sticky = shared_dir / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    private = shared_dir / "root-only"
    private.mkdir(mode=0o700)
    link = sticky / "aws"
    link.symlink_to(private)
    os.lchown(link, NOBODY, NOBODY)

    done = write_to(link / "config")

    assert_refused(done, f"the symlink {link}, which uid {NOBODY}")
    assert listing(private) == []


def test_symlink_owned_by_this_user_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "aws-config"
    real.parent.mkdir()
    link = tmp_path / "config"
    link.symlink_to(real)

    done = write_to(link)

    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert f"role_arn = {DEST}" in real.read_text()


# --------------------------------------------------------------------------------------------
# The lock


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Path]:
    """A config file whose lock another process (here: this one, through its own open file)
    holds for the whole test."""
    cfg = tmp_path / "config"
    cfg.write_text("[default]\nregion = eu-west-1\n")
    fd = os.open(f"{cfg}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield cfg
    finally:
        os.close(fd)


def test_a_held_lock_is_waited_for_a_bounded_time(held_lock: Path) -> None:
    before = held_lock.read_bytes()
    started = time.monotonic()
    with pytest.raises(ConfigFileBusyError) as info:
        write_profiles([Profile("x", DEST)], path=str(held_lock), lock_timeout=0.3)
    waited = time.monotonic() - started

    assert waited >= 0.3  # it did wait for the holder (a correctness check, not a speed one)
    assert info.value.lock_path == f"{held_lock}.lock"
    assert f"cannot lock {held_lock}.lock" in str(info.value)
    assert "fuser" in str(info.value)
    assert held_lock.read_bytes() == before
    assert listing(held_lock.parent) == ["config", "config.lock"]


# The command line with a short bound, passed the way tests pass it: as the parameter.
SHORT_LOCK_CLI = """\
import functools, sys
import ecs_xrole.cli as cli
import ecs_xrole.cli.write_config as write_config
write_config.write_profiles = functools.partial(write_config.write_profiles, lock_timeout=0.3)
sys.exit(cli.main())
"""


def test_cli_exits_1_naming_the_lock_file_when_the_lock_stays_held(held_lock: Path) -> None:
    before = held_lock.read_bytes()
    argv = [sys.executable, "-c", SHORT_LOCK_CLI, "write-config", "--role-arn", DEST]
    done = subprocess.run(
        [*argv, "--config-file", str(held_lock)], capture_output=True, text=True, timeout=8
    )

    assert done.returncode == 1, done.stderr
    assert f"{held_lock}.lock" in done.stderr
    assert "Traceback" not in done.stderr
    assert held_lock.read_bytes() == before


def test_the_default_lock_wait_is_bounded() -> None:
    import inspect

    default = inspect.signature(write_profiles).parameters["lock_timeout"].default
    assert 0 < default <= 10


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    cfg = tmp_path / "config"
    lock = tmp_path / "config.lock"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep me\n")
    if kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.symlink_to(elsewhere)

    done = write_to(cfg)

    assert_refused(done, f"{lock} is a {kind.replace('fifo', 'FIFO')}, not a regular file")
    assert f"remove {lock}" in done.stderr
    assert not cfg.exists()
    assert elsewhere.read_text() == "keep me\n"


# --------------------------------------------------------------------------------------------
# What the config path may be


@pytest.mark.parametrize("mode", [(), ("--check",), ("--dry-run",)])
def test_a_fifo_config_is_refused_without_blocking(tmp_path: Path, mode: tuple[str, ...]) -> None:
    """open() on a FIFO waits for a writer that never comes: write-config must not open it."""
    fifo = tmp_path / "config"
    os.mkfifo(fifo)

    done = write_to(fifo, *mode)  # today: hangs until the 8 s timeout

    assert_refused(done, f"{fifo} is a FIFO, not a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("mode", [(), ("--check",)])
def test_a_device_config_is_refused_without_reading_it(mode: tuple[str, ...]) -> None:
    done = write_to(Path("/dev/zero"), *mode)  # today: reads until MemoryError
    assert_refused(done, "/dev/zero is a device, not a regular file")


def test_a_config_larger_than_the_limit_is_refused_and_kept(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    filler = "# " + "x" * 98 + "\n"
    text = "[default]\nregion = eu-west-1\n" + filler * (MAX_CONFIG_BYTES // len(filler) + 1)
    cfg.write_text(text)
    before = cfg.read_bytes()

    done = write_to(cfg)

    assert_refused(done, f"{cfg} is larger than 1024 KiB")
    assert cfg.read_bytes() == before


def test_a_config_at_the_limit_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    head = "[default]\nregion = eu-west-1\n"
    cfg.write_text(head + "#" * (MAX_CONFIG_BYTES - len(head) - 200) + "\n")
    assert write_profiles([Profile("x", DEST)], path=str(cfg), check=True).changed


# --------------------------------------------------------------------------------------------
# Parse errors name the line, never its value

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (f"aws_secret_access_key = {SECRET}\n[default]\n", "line 1 (key 'aws_secret_access_key')"),
        (f"[default]\nregion = eu-west-1\naws_secret_access_key {SECRET}\n", "line 3"),
        (f"[default]\n{SECRET}\n", "line 2"),
        (
            f"[default]\naws_secret_access_key = {SECRET}\naws_secret_access_key = {SECRET}\n",
            "key 'aws_secret_access_key' appears more than once in [default] (again at line 3)",
        ),
    ],
)
def test_a_parse_error_names_the_line_and_key_never_the_value(
    tmp_path: Path, secret_guard: Any, text: str, said: str
) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(text)

    for extra in ((), ("--check",)):
        done = write_to(cfg, *extra)
        secret_guard.add(SECRET)
        secret_guard.seen(done.stderr, "stderr")
        secret_guard.seen(done.stdout, "stdout")
        assert_refused(done, "cannot be parsed", said)
        assert SECRET not in done.stderr
        assert SECRET[:12] not in done.stderr
    assert cfg.read_text() == text


# --------------------------------------------------------------------------------------------
# No test hook in the shipped code


@pytest.mark.parametrize("value", ["bad", "30"])
def test_the_old_test_hook_variable_does_nothing(tmp_path: Path, value: str) -> None:
    """The pause-before-replace hook read an environment variable in production code (a bad
    value gave a traceback; a number made every write wait). Tests now patch it in."""
    cfg = tmp_path / "config"
    env = {**os.environ, "_ECS_XROLE_TEST_PAUSE_BEFORE_REPLACE": value}

    done = write_config("--role-arn", DEST, "--config-file", cfg, env=env)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"role_arn = {DEST}" in cfg.read_text()
