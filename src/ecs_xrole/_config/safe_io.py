"""Finding the config file, and hardened I/O on it: no symlink or owner tricks, a lock,
an atomic replace.

:func:`config_path` finds the file as botocore does; the rest opens, reads and replaces it so
that another local user cannot redirect or read the write (a temporary file, fsync, an atomic
rename, the directory fsynced). See docs/security.md, "Files the helper writes".
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import re
import stat
import time

from ..errors import ConfigFileBusyError, ConfigFileError, InvalidInputError
from .model import _info

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Mapping


def _expand(path: str, environ: Mapping[str, str]) -> str:
    """``os.path.expandvars`` then ``expanduser`` (botocore's order), against ``environ``."""

    def var(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environ.get(name, match.group(0))

    path = re.sub(r"\$(?:(\w+)|\{([^}]*)\})", var, path)
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        path = home + path[1:]
    else:
        path = os.path.expanduser(path)
    return path


def config_path(environ: Mapping[str, str] | None = None) -> str:
    """The config file the AWS CLI reads: ``AWS_CONFIG_FILE``, else ``~/.aws/config``.

    ``environ`` defaults to :data:`os.environ`; ``$VARS`` and ``~`` are expanded as botocore
    does. Raises :class:`InvalidInputError` when ``AWS_CONFIG_FILE`` is set but empty (the
    AWS CLI then reads no config file at all).
    """
    env = os.environ if environ is None else environ
    raw = env.get("AWS_CONFIG_FILE")
    if raw is not None and not raw.strip():
        raise InvalidInputError(
            "AWS_CONFIG_FILE",
            raw,
            "it is set but empty, so the AWS CLI reads no config file",
            fix="unset it (to use ~/.aws/config) or set it to a file path",
        )
    return os.path.abspath(_expand(raw if raw is not None else "~/.aws/config", env))


#: A config file larger than this is refused: an AWS config file is a few KiB, and botocore
#: reads the whole file on every load.
MAX_CONFIG_BYTES = 1024 * 1024
#: How long :func:`write_profiles` waits, by default, for another writer's lock (seconds).
LOCK_TIMEOUT = 10.0
_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_TEMP_SUFFIX = ".ecs-xrole.tmp"


def _name_of(uid: int) -> str:
    """``uid 1000 (alice)``, or just the number when it has no name."""
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (KeyError, OverflowError):
        return f"uid {uid}"


def _trusted(uid: int) -> bool:
    """Whether a file or directory owned by ``uid`` is ours to trust: this user's or root's."""
    return uid in (os.geteuid(), 0)


def _chosen(path: str | None, environ: Mapping[str, str] | None) -> str:
    """The file named by ``path`` (``~`` expanded) or :func:`config_path`, as an absolute path."""
    return os.path.abspath(os.path.expanduser(path)) if path else config_path(environ)


def _resolve(path: str) -> str:
    """``path`` with its symlinks resolved, like :func:`os.path.realpath`, checking each link.

    A link is followed only when this user or root owns it: a link planted by another user
    (in ``/tmp``, say) could otherwise send this user's write anywhere it may write. (The
    kernel's ``protected_symlinks`` guards ``open``, not a path resolved by hand.) A missing
    part ends the resolution: the rest is taken as written. Reads the file system; raises
    :class:`ConfigFileError`.
    """
    resolved = "/"
    pending = [part for part in reversed(path.split("/")) if part]
    links = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, name)
        try:
            info = os.lstat(candidate)
        except OSError:  # missing (or not searchable): what follows is taken as written
            return os.path.normpath(os.path.join(candidate, *reversed(pending)))
        if not stat.S_ISLNK(info.st_mode):
            resolved = candidate
            continue
        if not _trusted(info.st_uid):
            raise ConfigFileError(
                f"refusing to write {path}: it goes through the symlink {candidate}, which "
                f"{_name_of(info.st_uid)} owns, not this user ({_name_of(os.geteuid())}) or "
                "root; that user could point it at any file this user may write",
                fix="remove the link and run again, or choose a path without it with "
                "--config-file or AWS_CONFIG_FILE",
                path=path,
            )
        links += 1
        if links > _MAX_LINKS:
            raise ConfigFileError(
                f"cannot resolve {path}: more than {_MAX_LINKS} symlinks (a loop?)",
                fix="point AWS_CONFIG_FILE (or --config-file) at the real file",
                path=path,
            )
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = "/"
        pending.extend(part for part in reversed(target.split("/")) if part)
    return resolved


def _check_directories(path: str) -> bool:
    """Refuse ``path``'s directory and its parents if another user could swap the file.

    Each existing directory from ``path``'s own up to ``/`` must be owned by this user or root,
    and must not be writable by its group or others unless it has the sticky bit (as ``/tmp``
    has: there only an entry's owner may rename or remove it). Returns whether ``path``'s own
    directory is such a shared sticky directory. Reads the file system; raises
    :class:`ConfigFileError`.
    """
    directory = os.path.dirname(path)
    shared = False
    current = directory
    while True:
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            info = None  # created later, 0700, by this user
        except OSError as exc:  # a part that is a file, a name too long, no permission
            raise ConfigFileError(
                f"cannot write {path}: looking up {current} failed: {exc.strerror or exc}",
                fix="make each directory above the file a directory this user may search, or "
                "choose another file with --config-file or AWS_CONFIG_FILE",
                path=path,
            ) from None
        if info is not None:
            mode = info.st_mode
            why = None
            if not _trusted(info.st_uid):
                why = (
                    f"{current} is owned by {_name_of(info.st_uid)}, not by this user "
                    f"({_name_of(os.geteuid())}) or root"
                )
                fix = (
                    "use a directory only this user (or root) controls, such as ~/.aws "
                    f"(unset AWS_CONFIG_FILE), or `chown {os.geteuid()} {current}` if it "
                    "should be this user's"
                )
            elif mode & 0o022 and not mode & stat.S_ISVTX:
                who = (
                    "its group and others"
                    if mode & 0o022 == 0o022
                    else ("its group" if mode & 0o020 else "others")
                )
                why = (
                    f"{current} is writable by {who} (mode {stat.S_IMODE(mode):04o}) and has "
                    "no sticky bit"
                )
                fix = f"`chmod go-w {current}`, or use a directory only this user controls"
            if why is not None:
                raise ConfigFileError(
                    f"refusing to write {path}: {why}, so another user could replace the "
                    "config file with one whose credential_process runs their command as "
                    "this user",
                    fix=fix,
                    path=path,
                )
            if current == directory:
                shared = bool(mode & 0o022)
        parent = os.path.dirname(current)
        if parent == current:
            return shared
        current = parent


def _check_owner(path: str, info: os.stat_result, shared: bool) -> None:
    """In a shared sticky directory, refuse a file (config or lock) another user owns."""
    if shared and not _trusted(info.st_uid):
        raise ConfigFileError(
            f"refusing to use {path}: {path} is owned by {_name_of(info.st_uid)} in a "
            "directory others may write, so that user controls what it holds",
            fix="remove it (or use a directory only this user controls) and run again",
            path=path,
        )


def _not_regular(path: str, mode: int, fix: str | None = None) -> ConfigFileError:
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a symlink"
        if stat.S_ISLNK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return ConfigFileError(
        f"{path} is {kind}, not a regular file",
        fix=fix
        or "point AWS_CONFIG_FILE (or --config-file) at a regular file, or at a path that "
        "does not exist yet",
        path=path,
    )


def _refuse_special(path: str) -> None:
    """Refuse ``path`` early when it exists as anything but a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # missing, or unreadable: the open that follows explains
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)


def _open_regular(path: str, flags: int, *, fix: str | None = None) -> int | None:
    """Open ``path`` without following a symlink or blocking; ``None`` when it is missing.

    Anything but a regular file is refused before it is opened (a FIFO would block, a device
    would read forever) and checked again once open. Raises :class:`ConfigFileError` for what is
    refused, :class:`OSError` for what the caller explains.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode, fix)
    if info is None and not flags & os.O_CREAT:
        return None
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | _O_NOCTTY, 0o600)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the lstat
            raise _not_regular(path, stat.S_IFLNK, fix) from None
        raise
    opened = os.fstat(fd).st_mode
    if not stat.S_ISREG(opened):
        os.close(fd)
        raise _not_regular(path, opened, fix)
    return fd


def _read_text(path: str, *, shared: bool = False) -> tuple[str | None, os.stat_result | None]:
    """The file's text and stat, or ``(None, None)`` when it does not exist.

    Never blocks and never reads more than :data:`MAX_CONFIG_BYTES` (plus one) bytes: only a
    regular file is opened (see :func:`_open_regular`). Raises :class:`ConfigFileError`.
    """
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read {path}: {exc.strerror or exc}",
            fix="make it readable by this user (or choose another file with --config-file)",
            path=path,
        ) from None
    if fd is None:
        return None, None
    try:
        info = os.fstat(fd)
        _check_owner(path, info, shared)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read {path}: {exc.strerror or exc}",
            fix="make it readable by this user (or choose another file with --config-file)",
            path=path,
        ) from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigFileError(
            f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB, far more than an AWS config "
            "file holds (is it the right file?)",
            fix="point AWS_CONFIG_FILE (or --config-file) at the AWS config file",
            path=path,
        )
    data = b"".join(chunks)
    try:
        return data.decode("utf-8"), info
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not UTF-8 text (byte {exc.start}), so it cannot be read reliably",
            fix="convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) and run again",
            path=path,
        ) from None


def _make_dirs(directory: str) -> None:
    """Create missing directories with mode 0700 (exactly: not widened by the umask)."""
    missing: list[str] = []
    current = directory
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)
        except FileExistsError:
            continue  # made meanwhile: _check_directories judges it next
        except OSError as exc:
            raise ConfigFileError(
                f"cannot create the directory {path}: {exc.strerror or exc}",
                fix="create it yourself, or choose a writable place with --config-file "
                "or AWS_CONFIG_FILE",
                path=path,
            ) from None


def _lock(path: str, timeout: float, shared: bool) -> int:
    """Take an exclusive lock on ``<path>.lock`` (created 0600); return its descriptor.

    Closing the descriptor releases the lock. Waits at most ``timeout`` seconds for another
    holder, then raises :class:`ConfigFileBusyError`. The lock file must be a regular file,
    not a symlink.
    """
    lock_path = path + ".lock"
    odd = f"remove {lock_path} (write-config makes a new one) and run again"

    def cannot(exc: OSError) -> ConfigFileError:
        return ConfigFileError(
            f"cannot create the lock file {lock_path}: {exc.strerror or exc}",
            fix=f"make {os.path.dirname(lock_path)} writable by this user, or choose a "
            "writable place with --config-file or AWS_CONFIG_FILE",
            path=path,
        )

    try:
        fd = _open_regular(lock_path, os.O_RDWR | os.O_CREAT, fix=odd)
    except PermissionError:
        try:  # an existing lock file we may not write still serves for flock
            fd = _open_regular(lock_path, os.O_RDONLY, fix=odd)
        except OSError as exc:
            raise cannot(exc) from None
        if fd is None:
            raise cannot(PermissionError(errno.EACCES, os.strerror(errno.EACCES))) from None
    except OSError as exc:
        raise cannot(exc) from None
    assert fd is not None  # O_CREAT: never missing
    try:
        _check_owner(lock_path, os.fstat(fd), shared)
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConfigFileBusyError(
                        f"cannot lock {lock_path}: another process has held it for "
                        f"{timeout:g} s (a write-config that is stuck, or a process holding "
                        "it on purpose); nothing was written",
                        fix=f"find the holder with `fuser -v {lock_path}`, let it finish or "
                        "stop it, and run again",
                        path=path,
                        lock_path=lock_path,
                    ) from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.02)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_stale_temps(path: str) -> None:
    """Remove temporary files left by writers that were killed (we hold the lock)."""
    directory, base = os.path.split(path)
    prefix = f".{base}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(_TEMP_SUFFIX):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                continue
            _info("removed a temporary file left by an interrupted writer: %s", name)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _make_temp(directory: str, base: str) -> tuple[int, str]:
    """Create ``.<base>.<random>.ecs-xrole.tmp`` in ``directory``, 0600, exclusively (as
    :func:`tempfile.mkstemp` does; tempfile is costly to import at every container start)."""
    for _ in range(100):
        temp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}{_TEMP_SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def _replace(path: str, data: bytes, info: os.stat_result | None) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    directory, base = os.path.split(path)
    try:
        fd, temp = _make_temp(directory, base)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot write in {directory}: {exc.strerror or exc}",
            fix="make the directory writable by this user (the file is replaced atomically, "
            "which needs a new file beside it), or choose another with --config-file",
            path=path,
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if info is None:
                os.fchmod(handle.fileno(), 0o600)
            else:
                os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
                if os.geteuid() == 0:
                    os.fchown(handle.fileno(), info.st_uid, info.st_gid)
                elif info.st_gid != os.getegid():
                    try:  # noqa: SIM105 (allowed if we are in that group; contextlib costs a start)
                        os.fchown(handle.fileno(), -1, info.st_gid)
                    except OSError:
                        pass
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        try:  # noqa: SIM105 (contextlib costs write-config's start)
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ConfigFileError(
                f"cannot write {path}: {exc.strerror or exc}",
                fix="check the free space and permissions of its directory",
                path=path,
            ) from None
        raise
    _fsync_dir(directory)
