"""Profiles from ``ECS_XROLE_<NAME>_*`` variables (write-config --from-env, exec, serve)."""

from __future__ import annotations

from .._config.model import DEFAULT_PROFILE, Profile, default_command
from .._environ import ENV_PREFIX, profile_env_name
from .._option_table import CLI_OPTIONS, ENV_OPTIONS, PROFILE_OPTIONS
from .._validate import check_profile_name, parse_role_arn
from ..errors import InvalidInputError
from ._common import _FALSE, _SOURCE_PROFILE, _TRUE

TYPE_CHECKING = False  # as typing's, without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def _group_events(events: Sequence[tuple[str, str, Any]]) -> list[dict[str, tuple[str, Any]]]:
    """Split the recorded options into one mapping per profile (dest -> (option, value))."""
    starts = sum(1 for dest, _, _ in events if dest == "profile")
    groups: list[dict[str, tuple[str, Any]]] = []
    if starts <= 1:
        groups.append({})
    elif events and events[0][0] != "profile":
        raise InvalidInputError(
            events[0][1],
            events[0][2],
            "it comes before the first --profile, and with several profiles each option "
            "belongs to the --profile before it",
            fix="move it after the --profile it describes",
        )
    for dest, option, value in events:
        if dest == "profile" and starts > 1:
            groups.append({})
        group = groups[-1]
        if dest in group:
            raise InvalidInputError(
                option,
                value,
                f"it is given twice for one profile (first {group[dest][1]!r})",
                fix="give each option once per --profile",
            )
        group[dest] = (option, value)
    return groups


def refuse_unprofiled(events: Sequence[tuple[str, str, Any]]) -> None:
    """Refuse the options of the table that a profile cannot carry (no profile key), given
    to write-config as (dest, option, value) events."""
    for row in CLI_OPTIONS:
        given = next((option for dest, option, _ in events if dest == row.dest), None)
        if row.key is None and given is not None:
            raise row.refuse(
                "an AWS CLI profile",
                "botocore reads no such key from a profile, nor does write-config put it in "
                "a credential_process line",
                fix=f"drop {given} from write-config; to act with it, run the program under "
                f"`ecs-xrole exec {row.flag} ...` or `ecs-xrole serve`, or pass {row.name}= "
                "to the library (ecs_xrole.get_session)",
            )


def _profile_from(
    values: Mapping[str, tuple[str, Any]], *, name_default: str, command: tuple[str, ...]
) -> Profile:
    """Build a Profile, validating each value under the name the user typed it as."""

    def get(dest: str) -> tuple[str, Any] | None:
        return values.get(dest)

    name_item = get("profile")
    name = check_profile_name(name_item[1], name=name_item[0]) if name_item else name_default
    arn_item = get("role_arn")
    if arn_item is None:
        where = f" of profile {name!r}" if name_item else ""
        raise InvalidInputError(
            "--role-arn",
            None,
            f"write-config needs the destination role{where}",
            fix="pass --role-arn arn:aws:iam::<account>:role/<name>",
            missing=True,
        )
    checked: dict[str, Any] = {}
    for row in PROFILE_OPTIONS:
        item = get(row.key or "")
        if item is not None:
            checked[row.key or ""] = row.check(item[1], name=item[0])
    process = get("credential_process")
    source_item = get("source_profile")
    if source_item is not None:
        checked["source_profile"] = check_profile_name(source_item[1], name=source_item[0])
    return Profile(
        name,
        parse_role_arn(arn_item[1], name=arn_item[0]).arn,
        credential_process=bool(process and process[1]),
        command=command if process and process[1] else None,
        **checked,
    )


def _env_flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInputError(name, value, "expected a yes/no value", fix="set it to 1 or 0")


def profiles_from_env(
    environ: Mapping[str, str], *, command: tuple[str, ...] | None = None
) -> list[Profile]:
    """The profiles the ``ECS_XROLE_*`` variables describe (see ``write-config --help``).

    Returns ``[]`` when neither ``ECS_XROLE_ROLE_ARN`` nor ``ECS_XROLE_PROFILES`` is set.
    Raises :class:`InvalidInputError` naming the variable at fault. Pure: no I/O.
    """
    env = {key: value for key, value in environ.items() if key.startswith(ENV_PREFIX) and value}
    cmd = command or default_command()
    profiles: list[Profile] = []
    used: set[str] = set()

    def read(prefix: str, name: str) -> Profile:
        values: dict[str, tuple[str, Any]] = {"profile": (f"{prefix}PROFILE", name)}
        fields = [("role_arn", "ROLE_ARN")]
        fields += [(row.key or row.name, row.env or "") for row in ENV_OPTIONS]
        for field, suffix in fields:
            variable = f"{prefix}{suffix}"
            used.add(variable)
            if variable in env:
                values[field] = (variable, env[variable])
        flag = f"{prefix}CREDENTIAL_PROCESS"
        used.add(flag)
        if flag in env:
            values["credential_process"] = (flag, _env_flag(flag, env[flag]))
        if _SOURCE_PROFILE in env:
            values["source_profile"] = (_SOURCE_PROFILE, env[_SOURCE_PROFILE])
        if "role_arn" not in values:
            raise InvalidInputError(
                f"{prefix}ROLE_ARN",
                None,
                f"it must be set for profile {name!r}",
                fix=f"set {prefix}ROLE_ARN to the destination role's ARN in the task definition",
                missing=True,
            )
        return _profile_from(values, name_default=name, command=cmd)

    used.update({f"{ENV_PREFIX}PROFILE", f"{ENV_PREFIX}PROFILES", _SOURCE_PROFILE})
    if f"{ENV_PREFIX}ROLE_ARN" in env:
        name = check_profile_name(
            env.get(f"{ENV_PREFIX}PROFILE", DEFAULT_PROFILE), name=f"{ENV_PREFIX}PROFILE"
        )
        profiles.append(read(ENV_PREFIX, name))
    listed = env.get(f"{ENV_PREFIX}PROFILES", "").replace(",", " ").split()
    keys: dict[str, str] = {}
    for name in listed:
        check_profile_name(name, name=f"{ENV_PREFIX}PROFILES")
        key = profile_env_name(name)
        if key in keys and keys[key] != name:
            raise InvalidInputError(
                f"{ENV_PREFIX}PROFILES",
                env[f"{ENV_PREFIX}PROFILES"],
                f"profiles {keys[key]!r} and {name!r} both use variables {ENV_PREFIX}{key}_*",
                fix="rename one of them",
            )
        keys[key] = name
        profiles.append(read(f"{ENV_PREFIX}{key}_", name))
    if not profiles:
        stray = sorted(key for key in env if key != _SOURCE_PROFILE)
        if stray:
            raise InvalidInputError(
                stray[0],
                env[stray[0]],
                f"it is set but neither {ENV_PREFIX}ROLE_ARN nor {ENV_PREFIX}PROFILES is",
                fix=f"set {ENV_PREFIX}ROLE_ARN (or {ENV_PREFIX}PROFILES), or remove it",
            )
        return []
    unknown = sorted(key for key in env if key not in used)
    if unknown:
        raise InvalidInputError(
            unknown[0],
            env[unknown[0]],
            "ecs-xrole does not know this variable (a typo, or a profile missing from "
            f"{ENV_PREFIX}PROFILES?)",
            fix="correct its name, or add the profile to ECS_XROLE_PROFILES",
        )
    return profiles
