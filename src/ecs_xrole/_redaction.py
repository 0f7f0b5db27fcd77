"""Keep secrets out of log records, whatever level the application turns on.

botocore logs request headers, signed canonical requests and whole response bodies at DEBUG,
and urllib3 logs request lines with the credentials ID: an application at DEBUG would send
keys and tokens to its log sink. :func:`install` puts one :class:`logging.Filter` on every
module logger of :data:`PACKAGES` (found on disk) and on ecs-xrole's own; each record is
rewritten once by :func:`redact_text` (secrets by shape, and the values held right now).
With DEBUG off the filters never run. Standard library only; thread-safe; fork-safe. What
is replaced, and the tests: docs/security.md, "Secrets never reach a log, at any verbosity".
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import string
import threading
import traceback
import weakref
from collections import OrderedDict
from collections.abc import Iterable

from ._endpoint import SHOWN_ID_CHARS
from ._fork import on_fork_in_child

#: The packages whose every module logger gets a filter (each may log a request, a response,
#: a URL or an exception: boto3.resources.action logs whole responses).
PACKAGES: tuple[str, ...] = ("botocore", "boto3", "s3transfer", "urllib3", "aiobotocore")
#: Loggers a filter is put on besides those of :data:`PACKAGES`' modules: ecs-xrole's modules
#: that make requests (and, named here too, the module loggers of botocore and urllib3).
LOGGERS: tuple[str, ...] = (
    "botocore",
    "botocore.args",
    "botocore.auth",
    "botocore.awsrequest",
    "botocore.client",
    "botocore.configprovider",
    "botocore.credentials",
    "botocore.endpoint",
    "botocore.endpoint_provider",
    "botocore.handlers",
    "botocore.hooks",
    "botocore.httpchecksum",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.regions",
    "botocore.response",
    "botocore.retries.adaptive",
    "botocore.retries.special",
    "botocore.retries.standard",
    "botocore.retryhandler",
    "botocore.session",
    "botocore.tokens",
    "botocore.utils",
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "ecs_xrole._assume",
    "ecs_xrole.cli",
    "ecs_xrole.doctor",
    "ecs_xrole._endpoint",
    "ecs_xrole.fetch",
    "ecs_xrole._metadata",
    "ecs_xrole.refresh",
    "ecs_xrole._session",
    "ecs_xrole.testing.endpoint_server",
)

# Field names whose values are secrets. Word boundaries keep NextToken, ClientToken and the
# like (not secrets, useful when debugging) out.
_SECRET_NAMES = "|".join(
    (
        "x-amz-security-token",
        "securitytoken",
        "sessiontoken",
        "session_token",
        "aws_session_token",
        "aws_security_token",
        "secretaccesskey",
        "secret_access_key",
        "aws_secret_access_key",
        "secret_key",
        "secretkey",
        "token",
        "aws_container_authorization_token",
    )
)
# name, then the separator of any of the notations botocore and urllib3 print: `<Name>`,
# `"Name": "`, `'Name': b'`, `name:` (canonical request), `Name=` (query, repr), `Name: `.
_SEPARATOR = r"(?:['\"]?\s*[:=]\s*b?['\"]?|>)"
# Both run on an ASCII-lower-cased copy of the text: IGNORECASE, or a \b before the name,
# would make the engine try the whole pattern at every position (ten times slower). The
# boundary before the name is checked by hand (_spans).
_FIELD = re.compile(
    r"(?:" + _SECRET_NAMES + r")\b" + _SEPARATOR + r"(?!b['\"]|none\b)(?P<value>[^\s'\"<>&,;)}\]]+)"
)
# An Authorization value may hold spaces (`Bearer x`): it runs to the end of the quoted
# string or line.
_AUTHORIZATION = re.compile(r"authorization\b" + _SEPARATOR + r"(?!b['\"])(?P<value>[^'\"<>\r\n]+)")
_AWS_SIGNATURE = ("aws4-", "aws ")
_NAME_HINTS = ("token", "secret", "authoriz")
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_ACCESS_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}")
_CREDENTIALS_ID = re.compile(r"(/v2/credentials/)([^\s'\"<>?#&/]+)")
# Shorter values are not matched by value: they could match ordinary text by accident.
_MIN_VALUE = 8
_LOOSE_MAX = 32


def _mask(value: str) -> str:
    return f"<redacted, {len(value)} characters>"


def _spans(low: str) -> list[tuple[int, int]]:
    """Where the values of secret fields are in ``low`` (the text, ASCII-lower-cased)."""
    found = []
    for pattern in (_FIELD, _AUTHORIZATION):
        for match in pattern.finditer(low):
            start = match.start()
            if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                continue  # inside a longer name: NextToken, ClientToken
            if pattern is _AUTHORIZATION and match.group("value").startswith(_AWS_SIGNATURE):
                continue  # a key ID (shortened below) and a signature: no secret
            found.append(match.span("value"))
    return sorted(found)


def _redact_fields(text: str) -> str:
    # Same length as text (str.lower() can change it outside ASCII).
    low = text.lower() if text.isascii() else text.translate(_LOWER)
    if not any(hint in low for hint in _NAME_HINTS):
        return text
    out = []
    last = 0
    for start, end in _spans(low):
        if start < last:
            continue  # overlaps a value already replaced
        out.append(text[last:start])
        out.append(_mask(text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


def _credentials_id(match: re.Match[str]) -> str:
    # Shortened as everywhere else (endpoint.shown_url); already shortened text stays as is.
    value = match.group(2)
    return match.group(1) + (value[:SHOWN_ID_CHARS] if len(value) > SHOWN_ID_CHARS else "") + "..."


def _access_key(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
        return match.group(0)  # part of a longer word, not a key ID
    key = match.group(0)
    return f"{key[:4]}...{key[-4:]}"


class _Known:
    """The secret values in hand: per credentials object (current and previous set, dropped
    with the object) and a few loose ones (authorization tokens)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # owner -> (current values, previous values)
        self.owned: weakref.WeakKeyDictionary[object, tuple[tuple[str, ...], tuple[str, ...]]] = (
            weakref.WeakKeyDictionary()
        )
        self.loose: OrderedDict[str, None] = OrderedDict()
        self.flat: tuple[str, ...] | None = ()

    def values(self) -> tuple[str, ...]:
        flat = self.flat
        if flat is not None:
            return flat
        with self.lock:
            found = set(self.loose)
            for current, previous in list(self.owned.values()):
                found.update(current)
                found.update(previous)
            # Longest first, so that a value containing another is replaced whole.
            flat = tuple(sorted(found, key=len, reverse=True))
            self.flat = flat
        return flat

    def dirty(self, *_: object) -> None:
        self.flat = None


_known = _Known()


def remember(*values: str | None) -> None:
    """Redact these values (authorization tokens) from log records from now on.

    Keeps the 32 most recent; values under 8 characters are ignored.
    """
    with _known.lock:
        for value in values:
            if value and len(value) >= _MIN_VALUE:
                _known.loose[value] = None
                _known.loose.move_to_end(value)
                while len(_known.loose) > _LOOSE_MAX:
                    _known.loose.popitem(last=False)
        _known.flat = None


def remember_for(owner: object, values: Iterable[str | None]) -> None:
    """Redact ``values`` (a secret key, a session token) while ``owner`` lives.

    ``owner``'s previous values stay redacted too until its next call, for requests signed
    just before a refresh. ``owner`` must be weak-referenceable.
    """
    fresh = tuple(v for v in values if v and len(v) >= _MIN_VALUE)
    with _known.lock:
        held = _known.owned.get(owner)
        if held is None:
            weakref.finalize(owner, _known.dirty)
        _known.owned[owner] = (fresh, held[0] if held else ())
        _known.flat = None


def redact_text(text: str) -> str:
    """``text`` with every secret ecs-xrole knows of, by shape or by value, replaced.

    Pure computation; see the module docstring for what is replaced.
    """
    for value in _known.values():
        if value in text:
            text = text.replace(value, _mask(value))
    if "/v2/credentials/" in text:
        text = _CREDENTIALS_ID.sub(_credentials_id, text)
    text = _redact_fields(text)
    return _ACCESS_KEY_ID.sub(_access_key, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, exception and stack text through :func:`redact_text`.

    Never drops a record; never raises (a record that cannot be rendered is left to the
    handler, which reports it as logging does).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging's handler reports it
            return True
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info is not None:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


_FILTER = RedactingFilter()
_installed = False
_install_lock = threading.Lock()


def _module_names(package: str) -> list[str]:
    """The names of ``package`` and of every module and subpackage it holds, found on disk
    without importing any of them (a millisecond for all of :data:`PACKAGES`)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    names = [package]
    todo = [(package, path) for path in spec.submodule_search_locations]
    while todo:
        prefix, path = todo.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.endswith(".py"):
                if name != "__init__.py":
                    names.append(f"{prefix}.{name[:-3]}")
            elif "." not in name and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                names.append(f"{prefix}.{name}")
                todo.append((f"{prefix}.{name}", entry.path))
    return names


def covered_loggers() -> list[str]:
    """Every logger name :func:`install` puts the filter on: :data:`LOGGERS`, the module
    loggers of :data:`PACKAGES` found on disk, and any logger of those packages that exists
    already (one named otherwise than its module, say). Sorted; no import."""
    found = set(LOGGERS)
    for package in PACKAGES:
        found.update(_module_names(package))
    prefixes = tuple(f"{package}." for package in PACKAGES)
    for name in list(logging.Logger.manager.loggerDict):
        if name in PACKAGES or name.startswith(prefixes):
            found.add(name)
    return sorted(found)


def install() -> None:
    """Put the redacting filter on every logger of :func:`covered_loggers` (once per process).

    Cheap (about a millisecond) and idempotent; called by the modules that make requests
    when they are imported.
    """
    global _installed
    if _installed:
        return
    with _install_lock:  # adding twice is harmless too: a logger's filters are checked first
        for name in covered_loggers():
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        _installed = True


def _after_fork_in_child() -> None:
    global _install_lock
    _install_lock = threading.Lock()
    _known.lock = threading.Lock()


on_fork_in_child(_after_fork_in_child)
