"""The session builder shared by the sync API (:mod:`ecs_xrole._session`) and :mod:`ecs_xrole.aio`.

One home for how a botocore or aiobotocore session of ours is made, so the two cannot drift:
the shared data loader, the built-in handlers registered once per session class, no ambient
profile, our credentials as the only provider, the region and the user agent (named once, by
the session; a user's ``Config`` is used as given). Also the client-side rules both APIs
apply to a user's ``get_client`` parameters: their checks and their cache key. See
docs/design.md, "The sessions layer".
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialResolver
from botocore.hooks import HierarchicalEmitter
from botocore.loaders import Loader

from ._fork import on_fork_in_child
from ._front import Unfreezable, freeze
from ._version import __version__
from .errors import InvalidInputError

USER_AGENT = f"ecs-xrole/{__version__}"
# Our sessions use no profile: AWS_PROFILE / AWS_DEFAULT_PROFILE select the application's
# profile, not ours (one naming a missing profile would make every client fail). The config
# file's default profile still applies, as for a session with no profile selected.
NO_AMBIENT_PROFILE = {"profile": (None, None, None, None)}

_S = TypeVar("_S", bound=botocore.session.Session)

_lock = threading.Lock()
_loader: Loader | None = None
# One emitter of built-in handlers per session class (botocore's, aiobotocore's).
_handlers: dict[type[botocore.session.Session], HierarchicalEmitter] = {}


class _UniquePaths(list[str]):
    """boto3 appends its data path to a session's loader each time a Session is made; with one
    shared loader that would grow without end, so repeats are ignored."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def shared_loader() -> Loader:
    """The process's one botocore data loader (``AWS_DATA_PATH`` read when first built)."""
    global _loader
    with _lock:
        if _loader is None:
            extra = os.environ.get("AWS_DATA_PATH", "")
            paths = _UniquePaths(os.path.expanduser(p) for p in extra.split(os.pathsep) if p)
            _loader = Loader(extra_search_paths=paths)
        return _loader


def builtin_handlers(
    session_class: type[botocore.session.Session], emitter_class: type[HierarchicalEmitter]
) -> HierarchicalEmitter:
    """An emitter holding ``session_class``'s built-in handlers, registered once per process.

    Registering them is most of the cost of a new session (about 15 ms: each handler's
    signature is inspected); every session here starts from a copy instead. Never mutated after
    it is built, so concurrent copies are safe.
    """
    with _lock:
        emitter = _handlers.get(session_class)
        if emitter is None:
            emitter = emitter_class()
            session_class(event_hooks=emitter)
            _handlers[session_class] = emitter
        return emitter


def new_session(
    session_class: type[_S],
    emitter_class: type[HierarchicalEmitter],
    resolver: CredentialResolver,
    region: str | None,
) -> _S:
    """A new ``session_class`` (botocore's ``Session`` or aiobotocore's ``AioSession``) whose
    only credentials are ``resolver``'s, defaulting to ``region``, naming ecs-xrole in its
    user agent, and ignoring ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE``. No I/O besides reading
    the AWS config file, as any new botocore session does."""
    handlers = builtin_handlers(session_class, emitter_class)
    session = session_class(
        session_vars=NO_AMBIENT_PROFILE,
        event_hooks=copy.copy(handlers),
        include_builtin_handlers=False,
    )
    session.register_component("data_loader", shared_loader())
    # The only credentials this session may use are ours: no env keys, no profile.
    session.register_component("credential_provider", resolver)
    if region is not None:
        session.set_config_variable("region", region)
    # After what the session class puts there itself (aiobotocore names botocore's version).
    session.user_agent_extra = f"{session.user_agent_extra or ''} {USER_AGENT}".strip()
    return session


_CONFIG_SETTINGS = tuple(Config.OPTION_DEFAULTS)


def config_key(config: Config) -> Hashable:
    """``config`` compared by its settings (raises ``TypeError`` when it cannot be a key)."""
    if not isinstance(config, Config):
        raise Unfreezable("not a botocore Config")
    values = [getattr(config, name, None) for name in _CONFIG_SETTINGS]
    return tuple([value if value is None or value is True else freeze(value) for value in values])


@dataclass(frozen=True)
class ClientOptions:
    """The validated client parameters of ``get_client``; ``key`` is ``None`` when the
    config cannot be compared (its clients are then not shared)."""

    config: Config | None
    endpoint_url: str | None
    verify: bool | str | None
    use_ssl: bool
    api_version: str | None
    key: Hashable | None

    @classmethod
    def build(
        cls,
        config: object,
        endpoint_url: object,
        verify: object,
        use_ssl: object,
        api_version: object,
    ) -> ClientOptions:
        if config is not None and not isinstance(config, Config):
            raise InvalidInputError(
                "config",
                config,
                f"it is a {type(config).__name__}, not a botocore.config.Config",
                fix="pass botocore.config.Config(...)",
            )
        if endpoint_url is not None:
            _check_client_endpoint(endpoint_url)
        if verify is not None and not isinstance(verify, (bool, str)):
            raise InvalidInputError(
                "verify", verify, "it must be True, False or a CA bundle path", fix="pass one"
            )
        if not isinstance(use_ssl, bool):
            raise InvalidInputError("use_ssl", use_ssl, "it must be True or False", fix="pass one")
        if api_version is not None and not isinstance(api_version, str):
            raise InvalidInputError(
                "api_version", api_version, "it must be a string such as '2011-06-15'", fix=""
            )
        try:
            key: Hashable | None = (
                None if config is None else config_key(config),
                endpoint_url,
                verify,
                use_ssl,
                api_version,
            )
        except TypeError:
            key = None
        return cls(config, endpoint_url, verify, use_ssl, api_version, key)  # type: ignore[arg-type]


def _check_client_endpoint(url: object) -> None:
    problem = None
    if not isinstance(url, str):
        problem = f"it is a {type(url).__name__}, not a URL string"
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError as exc:
            problem, host = f"it is not a valid URL ({exc})", None
        else:
            if parts.scheme not in ("http", "https"):
                problem = "its scheme is not http or https"
            elif not host:
                problem = "it names no host"
    if problem is not None:
        raise InvalidInputError(
            "endpoint_url",
            url,
            problem,
            fix="pass the service endpoint as a URL, such as https://vpce-...amazonaws.com",
        )


def _after_fork_in_child() -> None:
    global _lock
    # The parent's lock may have been held by a thread that does not exist in the child.
    _lock = threading.Lock()


on_fork_in_child(_after_fork_in_child)
