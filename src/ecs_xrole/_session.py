"""get_session, get_client and get_credentials: cross-account boto3 for code in an ECS task.

The programmatic form of an AWS CLI profile with ``role_arn = <destination role>`` and
``credential_source = EcsContainer``. It exists to share, process-wide and thread-safely, one
task-role credentials object per endpoint, one destination credentials object per option set
(one AssumeRole per lifetime) and one client per (service, region, options, parameters), with
:mod:`ecs_xrole._front` answering a repeated call with one look-up. Sessions are made by
:mod:`ecs_xrole._builder`. See docs/design.md, "How credentials are shared" and "The
sessions layer".
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver
from botocore.hooks import HierarchicalEmitter
from cachetools import LRUCache

from . import _environ
from ._assume import AssumeRoleParams, assume_role, sts_config
from ._builder import ClientOptions as _ClientOptions
from ._builder import config_key as _config_key
from ._builder import new_session
from ._credentials import TemporaryCredentials
from ._endpoint import Endpoint, detect_endpoint, shown_url
from ._fetch import fetch_credentials
from ._fork import on_fork_in_child
from ._front import FrontCache, environment, options_key
from ._metadata import clear_cache as clear_metadata_cache
from ._metadata import default_session_name, task_region
from ._option_table import STS_OPTIONS
from ._redaction import install as install_log_redaction
from ._refresh import RefreshingCredentials
from ._validate import RoleArn, check_region
from .errors import Error, InvalidInputError, forget_locals
from .options import AssumeOptions, check_option_names

if TYPE_CHECKING:
    import boto3
    from botocore.credentials import Credentials
    from mypy_boto3_sts import STSClient
    from typing_extensions import Unpack

_V = TypeVar("_V")
# botocore logs request headers and response bodies, secrets included, at DEBUG.
install_log_redaction()

# One lock guards every cache below: entries are created under it (creation does no I/O), so
# two threads never build two credentials objects for the same key.
_lock = threading.Lock()
_task_role: LRUCache[tuple[Endpoint, bytes | None], RefreshingCredentials] = LRUCache(maxsize=16)
_roles: LRUCache[tuple[Any, ...], RefreshingCredentials] = LRUCache(maxsize=512)
_clients: LRUCache[tuple[Any, ...], BaseClient] = LRUCache(maxsize=512)
# The fast fronts of the three public functions (see ecs_xrole._front).
_client_front: FrontCache[BaseClient] = FrontCache()
_role_front: FrontCache[tuple[RefreshingCredentials, str | None]] = FrontCache()
#: Bumped by clear_caches, so that caches in front of these (ecs_xrole.aio's) start over too.
generation = 0


class _Provider(CredentialProvider):
    """Hands one credentials object to a botocore session (its only provider)."""

    METHOD = "ecs-xrole"
    CANONICAL_NAME = "ecs-xrole"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def _botocore_session(credentials: Credentials, region: str | None) -> botocore.session.Session:
    resolver = CredentialResolver([_Provider(credentials)])
    return new_session(botocore.session.Session, HierarchicalEmitter, resolver, region)


def resolve_region(region_name: str | None = None) -> str | None:
    """The region to use: ``region_name``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``,
    else the region of the task's ARN (task metadata endpoint, one request per process), else
    ``None`` (botocore then applies the config file's region).

    Raises :class:`~ecs_xrole.errors.InvalidInputError` for a malformed region.
    """
    found = _environ.resolve_region(region_name, task_region=task_region)
    if found is None:
        return None
    region, origin = found
    # _metadata checked the task ARN's region already; the others are checked here.
    return region if origin == _environ.TASK_METADATA else check_region(region, name=origin)


def get_task_role_credentials(*, endpoint: Endpoint | None = None) -> RefreshingCredentials:
    """The task role's credentials from the container endpoint, refreshing themselves.

    One object per endpoint per process, shared by every destination role. No I/O here
    (``endpoint`` defaults to :func:`~ecs_xrole.detect_endpoint`, which reads the environment):
    the first :meth:`~ecs_xrole._refresh.RefreshingCredentials.get_frozen_credentials` fetches.
    Raises the endpoint errors of :func:`~ecs_xrole.detect_endpoint`.
    """
    found = endpoint if endpoint is not None else detect_endpoint()
    # The token is part of the key: EKS Pod Identity chooses the role by token, so another
    # token at the same URL may be another role (a token file is keyed by its path and re-read
    # on every fetch). Only a digest is kept, so no cache repr can show the token.
    key = (found, _token_digest(found))
    with _lock:
        credentials = _task_role.get(key)
        if credentials is None:
            credentials = RefreshingCredentials(
                lambda: fetch_credentials(found),
                method="ecs-xrole-container",
                description=f"task role credentials from {shown_url(found.url)}",
            )
            _task_role[key] = credentials
    return credentials


def _token_digest(endpoint: Endpoint) -> bytes | None:
    token = endpoint.token
    if endpoint.auth != "token" or token is None:
        return None
    value = token if isinstance(token, str) else token.value
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def get_task_role_session(*, region_name: str | None = None) -> boto3.Session:
    """A new boto3 session with the task role's own credentials (no AssumeRole).

    Shares the credentials of :func:`get_task_role_credentials`. Raises the endpoint errors.
    """
    import boto3  # here, not at the top: credential-process never needs it

    return boto3.Session(
        botocore_session=_botocore_session(get_task_role_credentials(), resolve_region(region_name))
    )


def _sts_client(source: Credentials, region: str | None) -> STSClient:
    key = ("sts", os.getpid(), id(source), region)
    with _lock:
        client = _clients.get(key)
    if client is None:
        session = _botocore_session(source, region)
        # Regional STS endpoint (the default since boto3 1.40; older botocore needs asking).
        session.set_config_variable("sts_regional_endpoints", "regional")
        # Explicit timeouts and attempts; assume_role adds the wall-clock deadline.
        client = session.create_client("sts", config=sts_config())
        with _lock:
            client = _clients.setdefault(key, client)
    return cast("STSClient", client)


def _role_credentials(
    role_arn: str | RoleArn, options: AssumeOptions
) -> tuple[RefreshingCredentials, str | None]:
    source_session = options.get("source_session")
    given: dict[str, Any] = dict(options)
    params = AssumeRoleParams.build(
        role_arn, **{row.name: given.get(row.name) for row in STS_OPTIONS}
    )
    region = resolve_region(options.get("region_name"))
    if source_session is not None:
        source: Credentials | None = source_session.get_credentials()
        if source is None:
            raise InvalidInputError(
                "source_session",
                source_session,
                "it has no credentials",
                fix="pass a session made by ecs_xrole.get_session, or one with credentials",
            )
        if region is None:
            region = source_session.region_name
    else:
        source, source_region = _default_source()
        if region is None:
            region = source_region
    key = (params, region, id(source))
    with _lock:
        credentials = _roles.get(key)
        if credentials is None:
            credentials = RefreshingCredentials(
                _assume_with(params, source, region),
                method="ecs-xrole-assume-role",
                description=f"role {params.role_arn}",
                role_arn=params.role_arn.arn,
            )
            _roles[key] = credentials
    # Load now (no I/O while fresh), so that a denial or a dead endpoint surfaces at the call
    # that asked for the role rather than at its first API call.
    credentials.get_frozen_credentials()
    return credentials, region


def _default_source() -> tuple[Credentials, str | None]:
    """The source credentials when no ``source_session`` is passed, and their own region.

    The profile named by ``ECS_XROLE_SOURCE_PROFILE`` (the local-development opt-in, which
    wins over an endpoint: see :mod:`ecs_xrole._profiles`) when set, else the task role's from
    the container endpoint. Never a fallback from one to the other.
    """
    from . import _profiles as profiles

    profile = profiles.source_profile()
    if profile is None:
        return get_task_role_credentials(), None
    profiles.note_endpoint_ignored(profile)
    return profiles.source_credentials(profile)


def _assume_with(
    params: AssumeRoleParams, source: Credentials, region: str | None
) -> Callable[[], TemporaryCredentials]:
    ours = source if isinstance(source, RefreshingCredentials) else None

    def fetch() -> TemporaryCredentials:
        session_name = params.role_session_name or default_session_name()
        return assume_role(
            _sts_client(source, region), params, session_name=session_name, source=ours
        )

    return fetch


def get_credentials(
    role_arn: str | RoleArn, **options: Unpack[AssumeOptions]
) -> RefreshingCredentials:
    """Credentials for ``role_arn``, assumed from the task role, refreshing themselves.

    Outside ECS, ``ECS_XROLE_SOURCE_PROFILE=<profile>`` makes the source that AWS profile
    instead of the container endpoint (see :mod:`ecs_xrole._profiles`).

    A botocore ``RefreshableCredentials`` for libraries that take botocore credentials. Every
    call with the same options returns the same object for the life of the process.

    Options (all keyword, typed by :class:`~ecs_xrole.options.AssumeOptions`):
    ``external_id``; ``role_session_name`` (default: the ECS task ID, else the host
    name, so CloudTrail shows which task acted); ``duration_seconds`` (``int`` or ``timedelta``,
    900-3600: this AssumeRole is role chaining, limited to one hour); ``region_name`` (default
    ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the task's region; the STS call goes to that
    region's endpoint); ``policy`` (dict or JSON), ``policy_arns``, ``tags`` (mapping),
    ``source_identity``, ``transitive_tag_keys`` (keys of ``tags`` passed on to roles the
    session assumes in turn); ``source_session`` chains: assume ``role_arn`` from that session's
    credentials instead of the task role's.

    I/O: the first call for an option set fetches the task role's credentials (once per
    process) and calls AssumeRole, so errors surface here; later calls do no I/O while the
    credentials are fresh. Refreshes run on a background thread before expiry. A repeated
    call costs a dictionary look-up (:mod:`ecs_xrole._front`); a change to the endpoint,
    token or region variables takes effect at the next call.

    Raises :class:`~ecs_xrole.errors.InvalidInputError` (before any network call),
    :class:`~ecs_xrole.errors.EndpointError` subclasses,
    :class:`~ecs_xrole.errors.AssumeRoleDeniedError` (with the policies that would allow the
    call) and :class:`~ecs_xrole.errors.AssumeRoleError`.
    """
    return _resolve("get_credentials", role_arn, options)[0]


def resolve_role(
    role_arn: str | RoleArn, **options: Unpack[AssumeOptions]
) -> tuple[RefreshingCredentials, str | None]:
    """The shared credentials for ``role_arn`` and ``options``, and the region that goes with
    them: what :func:`get_session` builds its session from, on the same fast front.

    For other fronts (an async one, say) that build their own sessions or clients. I/O and
    errors as :func:`get_credentials`.
    """
    return _resolve("resolve_role", role_arn, options)


def _resolve(
    function: str, role_arn: str | RoleArn, options: AssumeOptions
) -> tuple[RefreshingCredentials, str | None]:
    env = environment()
    try:
        key: Hashable = (role_arn, options_key(options), env)
        found = _role_front.get(key)
    except TypeError:  # an argument that cannot be a key: resolve it every time
        key = found = None
    if found is not None:
        return found
    call = _Call(key, env)
    del key, env  # see _Call
    try:
        check_option_names(function, options)
        return _remember(_role_front, call, _role_credentials(role_arn, options))
    except Error as exc:
        forget_locals(exc)
        raise


def get_session(role_arn: str | RoleArn, **options: Unpack[AssumeOptions]) -> boto3.Session:
    """A new boto3 session acting as ``role_arn``, with credentials that refresh themselves.

    Takes the options of :func:`get_credentials` and shares its credentials: sessions for the
    same options share one credentials object (one AssumeRole per lifetime, however many
    sessions). boto3 sessions are not thread-safe, so make one per thread or per request —
    that is cheap here, since service models are loaded once per process. The session's
    region is ``region_name`` or the resolved default. Every call returns a new session, and
    each of its ``client()`` calls a new client (register events on it freely).

    I/O and errors as :func:`get_credentials`.
    """
    credentials, region = _resolve("get_session", role_arn, options)
    import boto3  # here, not at the top: credential-process never needs it

    return boto3.Session(botocore_session=_botocore_session(credentials, region))


def get_client(
    service_name: str,
    role_arn: str | RoleArn,
    *,
    config: Config | None = None,
    endpoint_url: str | None = None,
    verify: bool | str | None = None,
    use_ssl: bool = True,
    api_version: str | None = None,
    **options: Unpack[AssumeOptions],
) -> BaseClient:
    """A botocore client for ``service_name`` acting as ``role_arn``; cached and thread-safe.

    The same (service, region, client parameters, options) returns the same client for the
    life of the process (a new one in a forked child), so calling this per request is cheap:
    a repeated call costs a dictionary look-up. Options, I/O and errors as
    :func:`get_credentials`.

    The client parameters are those of ``boto3.Session.client``: ``config`` (a
    ``botocore.config.Config``, compared by its settings, so an equal ``Config`` made anew
    gets the same client; the library adds its user-agent suffix and never overrides a
    setting of yours), ``endpoint_url`` (a VPC or FIPS endpoint, say), ``verify``
    (``False`` or a CA bundle path), ``use_ssl`` and ``api_version``. ``region_name`` is an
    option (it also sets the STS region).

    Returns a ``botocore.client.BaseClient``; for boto3-stubs' service type, write
    ``s3 = cast("S3Client", get_client("s3", role_arn))`` or use
    ``get_session(role_arn).client("s3")``, which boto3-stubs types itself.
    """
    env = environment()
    try:
        key: Hashable = (
            service_name,
            role_arn,
            options_key(options),
            env,
            None if config is None else _config_key(config),
            endpoint_url,
            verify,
            use_ssl,
            api_version,
        )
        client = _client_front.get(key)
    except TypeError:
        key = client = None
    if client is not None:
        return client
    call = _Call(key, env)
    del key, env  # see _Call
    try:
        check_option_names("get_client", options)
        client_options = _ClientOptions.build(config, endpoint_url, verify, use_ssl, api_version)
        credentials, region = _resolve("get_client", role_arn, options)
        client = _client(service_name, credentials, region, client_options)
    except Error as exc:
        forget_locals(exc)
        raise
    return _remember(_client_front, call, client)


class _Call:
    """A call on the slow path: its front key and environment snapshot, held where a
    traceback with locals does not show them (the snapshot holds the agent's token and the
    full endpoint URL). Not a tuple or a mapping: error reporters serialise those by item."""

    __slots__ = ("env", "key")

    def __init__(self, key: Hashable | None, env: tuple[object, ...]) -> None:
        self.key = key
        self.env = env

    def __repr__(self) -> str:
        return "<call: key and environment not shown>"


def _remember(front: FrontCache[_V], call: _Call, value: _V) -> _V:
    """Store a resolved call in ``front``, unless the environment changed while it resolved
    (the value might then belong to the new environment rather than to the call's)."""
    if call.key is None or environment() != call.env:
        return value
    return front.put(call.key, value)


def _client(
    service_name: str,
    credentials: RefreshingCredentials,
    region: str | None,
    options: _ClientOptions,
) -> BaseClient:
    """The shared client for these credentials (per process); built on first use."""
    key = ("client", os.getpid(), service_name, region, id(credentials), options.key)
    with _lock:
        client = _clients.get(key) if options.key is not None else None
    if client is None:
        session = _botocore_session(credentials, region)
        client = session.create_client(
            service_name,
            config=options.config,
            endpoint_url=options.endpoint_url,
            verify=options.verify,
            use_ssl=options.use_ssl,
            api_version=options.api_version,
        )
        if options.key is not None:
            with _lock:
                client = _clients.setdefault(key, client)
    return client


def credential_expiry(credentials: Credentials) -> datetime | None:
    """When ``credentials`` (ours) expire, without refreshing them; ``None`` if unknown."""
    if isinstance(credentials, RefreshingCredentials):
        return credentials.expiry
    return None


def clear_caches() -> None:
    """Forget every cached credentials object, client and task-metadata answer (for tests).

    Credentials already handed out keep working; later calls build new ones.
    """
    global generation
    with _lock:
        _task_role.clear()
        _roles.clear()
        _clients.clear()
        generation += 1
    _client_front.clear()
    _role_front.clear()
    clear_metadata_cache()
    from . import _profiles as profiles

    profiles.clear_cache()


def _after_fork_in_child() -> None:
    global _lock
    # The parent's lock may have been held by a thread that does not exist in the child.
    _lock = threading.Lock()


on_fork_in_child(_after_fork_in_child)
