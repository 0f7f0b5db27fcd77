"""Writing profiles into the AWS config file, and reading one back.

:func:`write_profiles` joins the jobs of this package: read the file safely
(:mod:`.safe_io`), merge the sections in as text (:mod:`.ini`), verify, and replace the file
atomically under its lock; it returns a :class:`WriteResult` saying what changed.
:func:`read_profile` reads one of our profiles back as a :class:`~.model.Profile` (the demo
checks what was written with it).
"""

from __future__ import annotations

import os

from .._option_table import PROFILE_OPTIONS
from .._validate import check_profile_name, parse_role_arn
from .._value import Value
from ..errors import InvalidInputError
from .ini import _parse, merge
from .model import DEFAULT_PROFILE, Profile, _from_process, _info, _opt, _profile_of
from .safe_io import (
    LOCK_TIMEOUT,
    _check_directories,
    _chosen,
    _lock,
    _make_dirs,
    _read_text,
    _refuse_special,
    _remove_stale_temps,
    _replace,
    _resolve,
)

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


# --------------------------------------------------------------------------------------------
# The file


class WriteResult(Value):
    """What :func:`write_profiles` did: the file, whether it changed, and its full new text.

    With ``dry_run`` or ``check``, ``changed`` says whether a write *would* change the file.
    Immutable.
    """

    __slots__ = (  # noqa: RUF023 (the fields' order: repr and equality follow it)
        "path",
        "changed",
        "text",
        "profiles",
        "created",
        "changed_profiles",
    )
    path: str
    changed: bool
    text: str
    profiles: tuple[str, ...]
    created: bool
    #: The profiles whose section changed (or would): the others already held what was asked.
    changed_profiles: tuple[str, ...]

    def __init__(
        self,
        path: str,
        changed: bool,
        text: str,
        profiles: tuple[str, ...],
        created: bool = False,
        changed_profiles: tuple[str, ...] = (),
    ) -> None:
        self._set("path", path)
        self._set("changed", changed)
        self._set("text", text)
        self._set("profiles", profiles)
        self._set("created", created)
        self._set("changed_profiles", changed_profiles)


def write_profiles(
    profiles: Sequence[Profile],
    *,
    path: str | None = None,
    dry_run: bool = False,
    check: bool = False,
    environ: Mapping[str, str] | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> WriteResult:
    """Merge ``profiles`` into the AWS config file and write it atomically; return what happened.

    ``path`` overrides :func:`config_path` (``environ`` defaults to :data:`os.environ`). With
    ``dry_run`` or ``check`` nothing is created or written; the result says whether a write
    would change the file. Otherwise the merge and write run under the lock described in the
    module docstring, waiting at most ``lock_timeout`` seconds for it, and an unchanged file is
    not rewritten (its mtime stays). Both refuse a file another user could swap (see the
    module docstring) and anything but a regular file of at most :data:`MAX_CONFIG_BYTES`.
    Raises :class:`InvalidInputError` (bad profiles), :class:`ConfigFileBusyError` (the lock
    stayed taken) or :class:`ConfigFileError` (a file that is unsafe, unreadable, unparseable
    or unwritable); on any error the file is untouched.
    """
    if not profiles:
        raise InvalidInputError("profiles", [], "no profile given", fix="pass at least one Profile")
    names = tuple(profile.name for profile in profiles)
    target = _resolve(_chosen(path, environ))
    _refuse_special(target)
    if dry_run or check:
        shared = _check_directories(target)
        old, _ = _read_text(target, shared=shared)
        new = merge(old or "", profiles, source=target)
        changed = _changed_profiles(old, profiles, target)
        return WriteResult(
            target, new != (old or "") or old is None, new, names, old is None, changed
        )
    _check_directories(target)  # before creating anything in them
    _make_dirs(os.path.dirname(target))
    shared = _check_directories(target)  # and again: a directory made meanwhile by another
    lock = _lock(target, lock_timeout, shared)
    try:
        _remove_stale_temps(target)
        old, info = _read_text(target, shared=shared)
        new = merge(old or "", profiles, source=target)
        if old is not None and new == old:
            _info("%s already holds profiles %s", target, ", ".join(names))
            return WriteResult(target, False, new, names)
        changed = _changed_profiles(old, profiles, target)
        _replace(target, new.encode("utf-8"), info)
    finally:
        os.close(lock)  # releases the lock
    _info("wrote profiles %s to %s", ", ".join(names), target)
    return WriteResult(target, True, new, names, old is None, changed)


def _changed_profiles(old: str | None, profiles: Sequence[Profile], source: str) -> tuple[str, ...]:
    """The names of the profiles whose section a merge into ``old`` changes."""
    if old is None:
        return tuple(profile.name for profile in profiles)
    return tuple(p.name for p in profiles if merge(old, [p], source=source) != old)


# --------------------------------------------------------------------------------------------
# Reading a profile back


def read_profile(
    name: str = DEFAULT_PROFILE,
    *,
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Profile:
    """Read profile ``name`` back from the config file as a :class:`Profile`.

    Understands ``role_arn`` profiles and ``credential_process`` profiles written by
    ecs-xrole. Reads the file. Raises :class:`InvalidInputError` when the profile is missing or
    holds invalid values, :class:`ConfigFileError` when the file cannot be read or parsed.
    """
    check_profile_name(name)
    target = os.path.realpath(_chosen(path, environ))
    text, _ = _read_text(target)
    sections = _parse(text or "", target)
    values: dict[str, str] | None = None
    for section, options in sections.items():
        if _profile_of(section) == name:
            values = options  # the last one wins, as in botocore
    if values is None:
        raise InvalidInputError(
            "profile",
            name,
            f"there is no such profile in {target}",
            fix=f"run `ecs-xrole write-config --profile {name} --role-arn ARN` first",
        )
    where = f"in profile {name!r} of {target}"
    if "role_arn" in values:
        carried: dict[str, Any] = {
            row.key: _opt(values, row.key, where, row.check) for row in PROFILE_OPTIONS if row.key
        }
        return Profile(
            name,
            parse_role_arn(values["role_arn"], name=f"role_arn {where}").arn,
            source_profile=values.get("source_profile") or None,
            **carried,
        )
    process = values.get("credential_process")
    if process is not None:
        return _from_process(name, process, values.get("region"), where)
    raise InvalidInputError(
        "profile",
        name,
        f"it has neither role_arn nor credential_process in {target}",
        fix=f"run `ecs-xrole write-config --profile {name} --role-arn ARN`",
    )
