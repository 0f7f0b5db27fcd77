"""AWS CLI profiles, resolved by botocore itself: the local-development source, and judging one.

:func:`source_credentials` (``ECS_XROLE_SOURCE_PROFILE`` or ``--source-profile``) takes the
AssumeRole's source credentials from an AWS profile instead of the container endpoint (local
development), never implicitly and never falling back to ambient credentials;
:func:`resolve_profile` resolves a profile as the AWS CLI does for ``--profile NAME`` and
explains botocore's refusal with the fix, for ``doctor`` and ``whoami``. Nothing here
re-implements botocore's rules; botocore is imported inside the functions. See
docs/design.md, "AWS CLI profiles".
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._validate import check_profile_name
from .errors import Error, InvalidInputError, ProfileError

if TYPE_CHECKING:
    import botocore.session
    from botocore.credentials import Credentials

log = logging.getLogger("ecs_xrole.profiles")

#: The environment variable of the local-development opt-in.
SOURCE_PROFILE_ENV = "ECS_XROLE_SOURCE_PROFILE"

# botocore providers that do not read the named profile: the opt-in refuses them, so that a
# profile without credentials never turns into the machine's ambient credentials.
_AMBIENT = ("env", "ec2-credentials-file", "boto-config", "container-role", "iam-role")
_WEB_IDENTITY = "assume-role-with-web-identity"
_ENDPOINT_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

_lock = threading.Lock()
_sources: dict[tuple[str, str | None, str | None], tuple[Credentials, str | None]] = {}
_told: set[str] = set()


def source_profile(environ: Mapping[str, str] | None = None) -> str | None:
    """The profile named by ``ECS_XROLE_SOURCE_PROFILE`` (``None`` when unset or empty).

    Pure; raises :class:`~ecs_xrole.errors.InvalidInputError` for a malformed name.
    """
    value = (os.environ if environ is None else environ).get(SOURCE_PROFILE_ENV)
    if not value:
        return None
    return check_profile_name(value, name=SOURCE_PROFILE_ENV)


def _files(environ: Mapping[str, str]) -> str:
    config = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return f"{config} or {credentials}"


def botocore_session(
    profile: str,
    *,
    config_file: str | None = None,
    origin: str = "--profile",
    missing_fix: str | None = None,
) -> botocore.session.Session:
    """A new botocore session for ``profile``, made as the AWS CLI makes it for ``--profile``.

    ``config_file`` replaces ``AWS_CONFIG_FILE``. Reads the config and credentials files.
    Raises :class:`~ecs_xrole.errors.InvalidInputError` (named ``origin``) when no such
    profile exists and :class:`~ecs_xrole.errors.ProfileError` when a file cannot be parsed.
    """
    import botocore.session
    from botocore.exceptions import BotoCoreError

    session = botocore.session.Session(profile=profile)
    if config_file is not None:
        session.set_config_variable("config_file", os.path.expanduser(config_file))
    try:
        known = session.available_profiles
    except BotoCoreError as exc:
        raise ProfileError(
            f"the AWS config files cannot be read: {exc}",
            fix="correct the line it names; the AWS CLI fails on it too",
            profile=profile,
        ) from exc
    if profile not in known:
        shown = ", ".join(sorted(known)) or "none"
        files = config_file if config_file is not None else _files(os.environ)
        raise InvalidInputError(
            origin,
            profile,
            f"there is no such profile in {files} (profiles there: {shown})",
            fix=missing_fix
            or f"name an existing profile (`aws configure list-profiles`), or create it: "
            f"`aws configure --profile {profile}` for access keys, "
            f"`aws configure sso --profile {profile}` for IAM Identity Center",
        )
    return session


def source_credentials(
    profile: str, *, origin: str = SOURCE_PROFILE_ENV
) -> tuple[Credentials, str | None]:
    """The credentials and region of the opt-in source ``profile``, loaded once per process.

    One botocore credentials object per (profile, ``AWS_CONFIG_FILE``,
    ``AWS_SHARED_CREDENTIALS_FILE``), kept apart from the container endpoint's, refreshed by
    botocore as it refreshes them (SSO, role chains, processes). The first call reads the
    files and loads the credentials (network I/O for SSO or a role chain); later calls do no
    I/O. Raises :class:`~ecs_xrole.errors.InvalidInputError` (no such profile, or a profile
    with no credentials of its own) and :class:`~ecs_xrole.errors.ProfileError` (botocore could
    not load them: the reason and the fix).
    """
    env = os.environ
    key = (profile, env.get("AWS_CONFIG_FILE"), env.get("AWS_SHARED_CREDENTIALS_FILE"))
    with _lock:
        found = _sources.get(key)
    if found is not None:
        return found
    session = botocore_session(profile, origin=origin)
    resolver = session.get_component("credential_provider")
    for method in _AMBIENT:
        resolver.remove(method)
    if "web_identity_token_file" not in session.get_scoped_config():
        resolver.remove(_WEB_IDENTITY)  # it would read AWS_ROLE_ARN from the environment
    try:
        credentials = session.get_credentials()
        if credentials is not None:
            credentials.get_frozen_credentials()  # load now: a stale SSO login surfaces here
    except Exception as exc:
        raise explain_botocore_error(exc, profile) from exc
    if credentials is None:
        raise InvalidInputError(
            origin,
            profile,
            "the profile holds no credentials (no access keys, sso_session or sso_start_url, "
            "credential_process, nor role_arn with a source_profile or credential_source)",
            fix=f"`aws configure --profile {profile}` (access keys) or `aws configure sso "
            f"--profile {profile}` (IAM Identity Center); ecs-xrole never falls back to the "
            "machine's other credentials",
        )
    region = session.get_config_variable("region")
    with _lock:
        found = _sources.setdefault(key, (credentials, region))
    log.info(
        "source credentials from AWS profile %r (%s, botocore method %s), not from the "
        "container endpoint",
        profile,
        origin,
        credentials.method,
    )
    return found


def note_endpoint_ignored(profile: str, origin: str = SOURCE_PROFILE_ENV) -> None:
    """Log once per profile (INFO) that an endpoint variable is set and ignored."""
    present = [name for name in _ENDPOINT_VARIABLES if os.environ.get(name)]
    if not present:
        return
    with _lock:
        if profile in _told:
            return
        _told.add(profile)
    log.info(
        "%s=%s is set, so it wins: the source credentials come from that profile, and the "
        "container endpoint (%s, also set) is not used",
        origin,
        profile,
        ", ".join(present),
    )


def clear_cache() -> None:
    """Forget every loaded source profile (for tests)."""
    with _lock:
        _sources.clear()
        _told.clear()


# ---------------------------------------------------------------------------------------------
# Judging a profile as the AWS CLI does


@dataclass(frozen=True)
class ProfileSource:
    """Where the AWS CLI takes a profile's credentials from, read from the config (no I/O).

    ``kind``: ``"role"`` (role_arn, assumed from a source), ``"process"``
    (credential_process), ``"sso"``, ``"keys"`` (static keys), ``"web-identity"`` or
    ``"none"`` (nothing in the profile: botocore falls back to the machine's credentials).
    ``role_arn``, ``source_profile``, ``credential_source`` and ``credential_process`` are the
    profile's own values. ``uses_endpoint``: the container endpoint is where the chain starts
    (``credential_source = EcsContainer`` at its root, or an ``ecs-xrole`` process).
    ``description``: the chain in words.
    """

    profile: str
    kind: str
    description: str
    role_arn: str | None = None
    source_profile: str | None = None
    credential_source: str | None = None
    credential_process: str | None = None
    uses_endpoint: bool = False


def _kind(values: Mapping[str, Any]) -> str:
    if values.get("role_arn"):
        return "web-identity" if values.get("web_identity_token_file") else "role"
    if values.get("credential_process"):
        return "process"
    if values.get("sso_session") or values.get("sso_start_url"):
        return "sso"
    if values.get("aws_access_key_id"):
        return "keys"
    return "none"


def describe_profile(profile: str, profiles: Mapping[str, Mapping[str, Any]]) -> ProfileSource:
    """Say where the credentials of ``profile`` come from, following ``source_profile`` links.

    ``profiles`` is botocore's profile map (config and credentials files merged). Pure.
    """
    values = profiles.get(profile, {})
    kind = _kind(values)
    steps: list[str] = []
    seen: list[str] = []
    uses_endpoint = False
    current, current_values = profile, values
    while True:
        seen.append(current)
        current_kind = _kind(current_values)
        if current_kind != "role" or current_values.get("credential_source"):
            source = current_values.get("credential_source")
            if source:
                steps.append(f"credential_source = {source}")
                uses_endpoint = source == "EcsContainer"
            elif current_kind == "process":
                command = str(current_values.get("credential_process"))
                steps.append(f"credential_process = {command}")
                uses_endpoint = "ecs-xrole" in command or "ecs_xrole" in command
            elif current_kind == "sso":
                steps.append(f"IAM Identity Center (SSO) login of profile {current}")
            elif current_kind == "keys":
                steps.append(f"access keys of profile {current}")
            elif current_kind == "none" and current == profile:
                steps.append(
                    "nothing in the profile itself: botocore falls back to the environment, "
                    "the container endpoint or instance metadata"
                )
            break
        nxt = current_values.get("source_profile")
        if not nxt:
            steps.append("no source_profile or credential_source")
            break
        steps.append(f"source_profile = {nxt}")
        if nxt in seen:
            steps.append("(a loop)")
            break
        if nxt not in profiles:
            steps.append(f"(profile {nxt!r} does not exist)")
            break
        current, current_values = nxt, profiles[nxt]
    head = f"role_arn = {values['role_arn']}, " if values.get("role_arn") else ""
    return ProfileSource(
        profile=profile,
        kind=kind,
        description=head + " -> ".join(steps),
        role_arn=values.get("role_arn") or None,
        source_profile=values.get("source_profile") or None,
        credential_source=values.get("credential_source") or None,
        credential_process=values.get("credential_process") or None,
        uses_endpoint=uses_endpoint,
    )


def explain_botocore_error(exc: BaseException, profile: str) -> Error:
    """Turn botocore's refusal to load ``profile``'s credentials into an ecs-xrole error.

    The message keeps botocore's own reason (what the AWS CLI prints) and adds the fix. An
    ``AccessDenied`` from the profile's own AssumeRole is returned as is when it is already an
    ecs-xrole error.
    """
    from botocore import exceptions as bx

    if isinstance(exc, Error):
        return exc
    reason = str(exc)
    what = f"the AWS CLI cannot use profile {profile!r}: {reason}"
    fix: str
    if isinstance(exc, bx.ProfileNotFound):
        fix = "create the profile it names, or correct the name"
    elif isinstance(exc, bx.InfiniteLoopConfigError):
        fix = (
            "break the loop: the last profile of a source_profile chain must hold credentials "
            "(keys, SSO) or a credential_source such as EcsContainer"
        )
    elif isinstance(exc, bx.InvalidConfigError) and "both source_profile and" in reason:
        fix = (
            "keep one of them: credential_source = EcsContainer to assume the role from the ECS "
            "task role, or source_profile = <profile> to assume it from another profile"
        )
    elif isinstance(exc, bx.InvalidConfigError) and "does not exist" in reason:
        fix = (
            "create that profile, or point source_profile at one that exists; in an ECS task "
            "use credential_source = EcsContainer instead (`ecs-xrole write-config` writes it)"
        )
    elif isinstance(exc, bx.InvalidConfigError) and "must have credentials" in reason:
        fix = "give the source profile access keys, an SSO login or a role of its own"
    elif isinstance(exc, bx.InvalidConfigError) and "credential source" in reason:
        fix = (
            "set credential_source to EcsContainer, Ec2InstanceMetadata or Environment, spelled "
            "exactly so (botocore matches it case-sensitively)"
        )
    elif isinstance(exc, bx.PartialCredentialsError) and "source_profile or" in reason:
        fix = (
            "add credential_source = EcsContainer (in an ECS task; `ecs-xrole write-config` "
            "writes it) or source_profile = <profile>"
        )
    elif isinstance(exc, bx.PartialCredentialsError):
        fix = "give both aws_access_key_id and aws_secret_access_key, or neither"
    elif isinstance(exc, bx.CredentialRetrievalError) and "Environment" in reason:
        fix = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use another credential_source"
    elif isinstance(exc, bx.CredentialRetrievalError) and "Ec2InstanceMetadata" in reason:
        fix = (
            "Ec2InstanceMetadata works only on an EC2 instance with an instance profile (and "
            "AWS_EC2_METADATA_DISABLED unset); in an ECS task use credential_source = "
            "EcsContainer"
        )
    elif isinstance(exc, bx.CredentialRetrievalError) and "EcsContainer" in reason:
        fix = "run inside the ECS task (the endpoint variables must be set); `ecs-xrole doctor`"
    elif isinstance(exc, bx.CredentialRetrievalError) and "custom-process" in reason:
        fix = "run the credential_process command by hand and fix what it prints on stderr"
    elif isinstance(exc, (bx.SSOError, bx.TokenRetrievalError, bx.UnauthorizedSSOTokenError)):
        fix = f"log in again: aws sso login --profile {profile}"
    elif isinstance(exc, bx.NoCredentialsError):
        fix = "give the profile credentials, or a role_arn with credential_source = EcsContainer"
    elif isinstance(exc, bx.ClientError):
        fix = "see the STS answer above"
    else:
        fix = f"run `aws sts get-caller-identity --profile {profile}` to see the same failure"
    return ProfileError(what, fix=fix, profile=profile)


def resolve_profile(
    profile: str,
    *,
    config_file: str | None = None,
    region: str | None = None,
    session: botocore.session.Session | None = None,
) -> tuple[botocore.session.Session, Credentials]:
    """Load ``profile``'s credentials exactly as the AWS CLI would for ``--profile``.

    Does I/O: reads the files, and whatever the profile's chain needs (the container
    endpoint, STS AssumeRole, a credential process). Raises
    :class:`~ecs_xrole.errors.InvalidInputError` (no such profile) and
    :class:`~ecs_xrole.errors.ProfileError` with botocore's reason and the fix (the original
    botocore exception is its ``__cause__``). ``session``: a session from
    :func:`botocore_session` for this profile, to reuse.
    """
    if session is None:
        session = botocore_session(profile, config_file=config_file)
    if region is not None:
        session.set_config_variable("region", region)
    try:
        credentials = session.get_credentials()
        if credentials is None:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        credentials.get_frozen_credentials()
    except Exception as exc:
        raise explain_botocore_error(exc, profile) from exc
    return session, credentials
