"""Guards on what ecs-xrole borrows from botocore, aiobotocore, boto3 and CPython.

In the spirit of aiobotocore's ``tests/test_patches.py``: ecs-xrole relies on a few things
those projects do not promise (private attributes, the shape of a private table, the body of
a function whose behaviour it mirrors or overrides). Each test here fails loudly, naming what
changed and where ecs-xrole depends on it, when a new release changes one of them, instead of
letting a later test (or a user) find a subtle break.

Two kinds of guard:

* shape tests: the attribute exists, has the expected type, signature or contents;
* digests of borrowed functions' source (:data:`DIGESTS`): ecs-xrole's code was checked
  against exactly these bodies. A new digest means the function changed.

When a digest test fails: read the function's new source (``python -c "import inspect, X;
print(inspect.getsource(X.f))"``) beside the old one (``git diff`` of the dependency, or its
release on PyPI), check the use named in :data:`DIGESTS`, fix ecs-xrole if needed, then add
the new digest printed by ``python tests/test_patches.py`` (keep the old ones while a
supported version still has them: the aioboto3, aio and main tox environments each install
another botocore). Each entry lists the versions its digests were taken from.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

#: (where ecs-xrole relies on it, {digest: versions it was seen in}) per borrowed function.
DIGESTS: dict[str, tuple[str, dict[str, str]]] = {
    "botocore.config.Config._record_user_provided_options": (
        "Config._user_provided_options holds exactly the settings passed to Config(...): "
        "ecs_xrole.aio._clients rebuilds a user's Config as an AioConfig from it",
        {
            "bc55fa6812a7503b": "botocore 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "botocore.session.Session.__init__": (
        "session_vars (_builder.NO_AMBIENT_PROFILE overrides 'profile'), event_hooks and "
        "include_builtin_handlers=False: _builder.new_session and _builder.builtin_handlers",
        {
            "2058d533880ddaea": "botocore 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "botocore.hooks.HierarchicalEmitter.__copy__": (
        "_builder.new_session starts every session from a copy of an emitter whose built-in "
        "handlers were registered once; the copy must not share its handler table",
        {
            "93ddeaf4af44128f": "botocore 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "botocore.loaders.Loader.__init__": (
        "the extra_search_paths list is kept as the loader's search_paths itself, so "
        "_builder._UniquePaths (one shared loader) sees boto3's appends",
        {
            "f5d0ead1c6c4c643": "botocore 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "boto3.session.Session._setup_loader": (
        "each boto3.Session appends its data path to the session's loader: why "
        "_builder._UniquePaths ignores repeats",
        {
            "f34c6f3ff93566dd": "boto3 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "botocore.configloader.raw_config_parse": (
        "ecs_xrole._config.ini._parse parses the AWS config file as this does (without importing "
        "botocore): the nested-value rule, the errors it raises",
        {
            "18cd7f7a68a1b2b8": "botocore 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "botocore.configloader.build_profile_map": (
        "ecs_xrole._config.model._profile_of files a section under a profile as this does "
        "('profile NAME' split by shlex, 'default')",
        {
            "d567667e558dee08": "botocore 1.40.61, 1.43.117, 1.44.18",
        },
    ),
    "aiobotocore.credentials.AioRefreshableCredentials.get_frozen_credentials": (
        "ecs_xrole.aio._credentials.AioRefreshingCredentials overrides it and the private "
        "_refresh it awaits",
        {
            "13f75daa94f1b116": "aiobotocore 2.25.1, 3.10.0",
        },
    ),
    "aiobotocore.session.AioSession.__init__": (
        "_builder.new_session passes session_vars, event_hooks and include_builtin_handlers, "
        "and keeps the user_agent_extra aiobotocore sets",
        {
            "378d345296a8891e": "aiobotocore 2.25.1",
            "fbdf62bd70f201c3": "aiobotocore 3.10.0",
        },
    ),
}


def _resolve(qualified: str) -> Any:
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            value = getattr(value, name)
        return value
    raise ImportError(qualified)


def digest(qualified: str) -> str:
    """sha256 (first 16 hex digits) of the source of the function ``qualified`` names."""
    source = inspect.getsource(_resolve(qualified))
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _version(qualified: str) -> str:
    package = qualified.split(".")[0]
    return f"{package} {importlib.import_module(package).__version__}"


@pytest.mark.parametrize("qualified", sorted(DIGESTS))
def test_the_borrowed_functions_are_the_ones_checked(qualified: str) -> None:
    if qualified.startswith("aiobotocore."):
        pytest.importorskip("aiobotocore")
    use, known = DIGESTS[qualified]
    found = digest(qualified)
    assert found in known, (
        f"{qualified} changed in {_version(qualified)} (source digest {found}, checked: "
        f"{', '.join(f'{d} in {v}' for d, v in known.items())}). ecs-xrole relies on it: {use}. "
        "Read the new source, check that use, then add the digest (see this module's "
        "docstring)."
    )


# -- shapes -------------------------------------------------------------------------------------


def test_os_environ_keeps_its_values_as_bytes_in_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """ecs_xrole._front.environment reads ``os.environ._data`` (a dict of bytes on POSIX
    CPython) directly: a twentieth of the cost of os.environ.get, most of a cache hit's cost.
    It falls back to the public way when ``_data`` is not such a dict; this test says when
    the fast way silently stopped being taken, or would read something else."""
    from ecs_xrole import _front as front

    if os.name != "posix":
        pytest.skip(
            "os.environ._data is a dict of str off POSIX; the front reads it the public way"
        )
    data = getattr(os.environ, "_data", None)
    assert isinstance(data, dict), f"os.environ._data is now {type(data).__name__}, not a dict"
    assert type(os.environ).__name__ == "_Environ"
    assert front._RAW, "ecs_xrole._front no longer takes the fast path on this CPython"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert data.get(b"AWS_REGION") == b"eu-west-1", "os.environ._data no longer maps bytes"
    snapshot = front.environment()
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert front.environment() != snapshot  # the snapshot follows os.environ
    monkeypatch.delenv("AWS_REGION")
    assert b"AWS_REGION" not in data


def test_config_user_provided_options_are_the_settings_passed() -> None:
    from botocore.config import Config

    config = Config(read_timeout=7, user_agent_extra="my-app/1.2", retries={"mode": "standard"})
    provided = getattr(config, "_user_provided_options", None)
    assert provided == {
        "read_timeout": 7,
        "user_agent_extra": "my-app/1.2",
        "retries": {"mode": "standard"},
    }, f"Config._user_provided_options changed: {provided!r} (used by ecs_xrole.aio._clients)"
    assert Config()._user_provided_options == {}  # type: ignore[attr-defined]


def test_an_aio_config_rebuilt_from_the_options_has_the_same_settings() -> None:
    pytest.importorskip("aiobotocore")
    from aiobotocore.config import AioConfig
    from botocore.config import Config

    from ecs_xrole._builder import config_key

    user = Config(read_timeout=7, user_agent_extra="my-app/1.2", retries={"mode": "standard"})
    rebuilt = AioConfig(connector_args={"keepalive_timeout": 5}, **user._user_provided_options)  # type: ignore[attr-defined]
    assert config_key(rebuilt) == config_key(user)
    assert rebuilt.connector_args == {"keepalive_timeout": 5}
    assert "connector_args" in inspect.signature(AioConfig.__init__).parameters


def test_config_option_defaults_name_the_settings() -> None:
    """_builder.config_key compares Configs by the settings in ``Config.OPTION_DEFAULTS``."""
    from botocore.config import Config

    names = getattr(Config, "OPTION_DEFAULTS", None)
    assert names is not None, "botocore.config.Config.OPTION_DEFAULTS is gone (_builder.config_key)"
    for expected in ("region_name", "user_agent_extra", "read_timeout", "retries", "proxies"):
        assert expected in names, f"Config.OPTION_DEFAULTS no longer names {expected}"
    config = Config(read_timeout=7)
    assert all(hasattr(config, name) for name in names)


@pytest.mark.parametrize("session_module", ["botocore.session", "aiobotocore.session"])
def test_no_ambient_profile_overrides_the_profile_variable(
    monkeypatch: pytest.MonkeyPatch, session_module: str
) -> None:
    """_builder.NO_AMBIENT_PROFILE replaces botocore's ``session_var_map['profile']`` entry,
    a (config key, env vars, default, converter) tuple, so AWS_PROFILE is not read."""
    module = pytest.importorskip(session_module)
    from ecs_xrole._builder import NO_AMBIENT_PROFILE

    cls = module.AioSession if session_module.startswith("aio") else module.Session
    for parameter in ("session_vars", "event_hooks", "include_builtin_handlers"):
        assert parameter in inspect.signature(cls.__init__).parameters, (
            f"{cls.__qualname__}.__init__ takes no {parameter} (_builder.new_session passes it)"
        )
    entry = cls().session_var_map["profile"]
    assert len(entry) == len(NO_AMBIENT_PROFILE["profile"]) == 4, f"profile entry is {entry!r}"
    assert set(entry[1]) == {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}, entry
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    session = cls(session_vars=NO_AMBIENT_PROFILE)
    assert session.profile is None
    session.get_scoped_config()  # raises ProfileNotFound if AWS_PROFILE were read


def test_the_session_components_and_user_agent_are_where_the_builder_puts_them() -> None:
    import botocore.session
    from botocore.credentials import CredentialProvider, CredentialResolver, Credentials
    from botocore.hooks import HierarchicalEmitter
    from botocore.loaders import Loader

    from ecs_xrole import _builder

    session = botocore.session.Session()
    assert isinstance(session.get_component("data_loader"), Loader)
    assert isinstance(session.get_component("credential_provider"), CredentialResolver)
    assert isinstance(session.user_agent_extra, str)
    for attribute in ("METHOD", "CANONICAL_NAME"):
        assert hasattr(CredentialProvider, attribute), f"CredentialProvider.{attribute} is gone"

    credentials = Credentials("AKIDEXAMPLE", "not-a-secret")

    class Provider(CredentialProvider):
        METHOD = CANONICAL_NAME = "test"

        def load(self) -> Credentials:
            return credentials

    resolver = CredentialResolver([Provider()])
    built = _builder.new_session(
        botocore.session.Session, HierarchicalEmitter, resolver, "eu-west-1"
    )
    assert built.get_credentials() is credentials
    assert built.get_component("data_loader") is _builder.shared_loader()
    assert built.get_config_variable("region") == "eu-west-1"
    assert built.user_agent_extra.split().count(_builder.USER_AGENT) == 1


def test_a_copied_emitter_does_not_share_its_handlers() -> None:
    import copy

    import botocore.session
    from botocore.hooks import HierarchicalEmitter

    from ecs_xrole._builder import builtin_handlers

    template = builtin_handlers(botocore.session.Session, HierarchicalEmitter)
    copied = copy.copy(template)
    seen: list[str] = []
    copied.register("test-event.patches", lambda **_: seen.append("copy"))
    template.emit("test-event.patches")
    assert seen == [], "a copy of a HierarchicalEmitter shares its handlers with the original"
    copied.emit("test-event.patches")
    assert seen == ["copy"]


def test_a_loader_keeps_the_extra_search_paths_list_itself() -> None:
    from botocore.loaders import Loader

    from ecs_xrole._builder import _UniquePaths

    paths = _UniquePaths()
    loader = Loader(extra_search_paths=paths)
    assert loader.search_paths is paths, "Loader copies extra_search_paths (_builder._UniquePaths)"


def test_refreshable_credentials_have_the_members_ecs_xrole_overrides() -> None:
    """ecs_xrole._refresh.RefreshingCredentials subclasses botocore's RefreshableCredentials,
    calls its __init__ with placeholders and overrides these members."""
    from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

    from ecs_xrole._refresh import RefreshingCredentials

    parameters = inspect.signature(RefreshableCredentials.__init__).parameters
    for name in ("access_key", "secret_key", "token", "expiry_time", "refresh_using", "method"):
        assert name in parameters, f"RefreshableCredentials.__init__ takes no {name}"
    for name in ("access_key", "secret_key", "token", "account_id"):
        assert isinstance(getattr(RefreshableCredentials, name, None), property), (
            f"RefreshableCredentials.{name} is no longer a property (RefreshingCredentials "
            "overrides it)"
        )
        assert isinstance(getattr(RefreshingCredentials, name), property)
    assert list(inspect.signature(RefreshableCredentials.refresh_needed).parameters) == [
        "self",
        "refresh_in",
    ]
    assert callable(RefreshableCredentials.get_frozen_credentials)
    # refresh.py builds these with four positional fields.
    assert ReadOnlyCredentials._fields == ("access_key", "secret_key", "token", "account_id")


def test_aio_refreshable_credentials_await_what_ecs_xrole_overrides() -> None:
    pytest.importorskip("aiobotocore")
    from aiobotocore.credentials import AioCredentialResolver, AioRefreshableCredentials

    from ecs_xrole.aio._credentials import AioRefreshingCredentials

    coroutines: list[Callable[..., Any]] = [
        AioRefreshableCredentials._refresh,
        AioRefreshableCredentials.get_frozen_credentials,
        AioCredentialResolver.load_credentials,
    ]
    for function in coroutines:
        assert inspect.iscoroutinefunction(function), f"{function.__qualname__} is not async"
    for name in ("_refresh", "get_frozen_credentials", "get_access_key", "get_secret_key"):
        assert name in vars(AioRefreshableCredentials) or hasattr(AioRefreshableCredentials, name)
        assert inspect.iscoroutinefunction(getattr(AioRefreshingCredentials, name))


if __name__ == "__main__":  # print the current digests, to update DIGESTS
    for name in sorted(DIGESTS):
        try:
            print(f"{name}: {digest(name)} in {_version(name)}")
        except ImportError as exc:
            print(f"{name}: not importable ({exc})", file=sys.stderr)
