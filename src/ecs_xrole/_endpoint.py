"""Find the ECS container credentials endpoint and how to authorise against it.

:func:`detect_endpoint` reads the variables as botocore and the other AWS SDKs do (the relative
URI wins over the full one, the token file over the token, PID 1's environment when this
process has neither) and returns an :class:`Endpoint`. It exists to refuse, before any
request, a URL outside the host allow-list (an SSRF guard) and a token that could inject
headers. Standard library only: ``import ecs_xrole`` loads it. See docs/design.md, "Finding
the endpoint", "The endpoint host allow-list" and "Token handling".
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .errors import (
    EndpointError,
    EndpointNotAllowedError,
    EndpointNotConfiguredError,
    TokenError,
    forget_locals,
    redact,
)

log = logging.getLogger("ecs_xrole.endpoint")

ECS_HOST = "169.254.170.2"
RELATIVE_URI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105 -- a variable name, not a secret
TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"  # noqa: S105
PID1_ENVIRON = "/proc/1/environ"
#: Variables that some SDK's default chain prefers to a container endpoint: static keys, with
#: the legacy names the Go v2 and Ruby SDKs read when the primary ones are unset, profiles
#: and web identity. The one list of them: exec removes them from COMMAND's environment and
#: the stand-ins (``ecs_xrole.testing``) from the task's.
COMPETING_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AMAZON_ACCESS_KEY_ID",
    "AMAZON_SECRET_ACCESS_KEY",
    "AMAZON_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
)

# Plain-http hosts that may serve credentials, as literals (EKS Pod Identity: .23 and fd00:ec2::23).
_ALLOWED_HTTP_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.170.2", "169.254.170.23", "::1", "fd00:ec2::23")
)
_IMDS_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254"})
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_HTTP_RULE = (
    "over http only loopback (127.0.0.0/8, [::1], localhost), 169.254.170.2, 169.254.170.23 "
    "and [fd00:ec2::23] may serve credentials"
)
_URL_FIX = (
    "point AWS_CONTAINER_CREDENTIALS_FULL_URI at the ECS agent (http://169.254.170.2/...), "
    "the EKS Pod Identity agent (http://169.254.170.23/v1/credentials) or a loopback endpoint, "
    "or use https for any other host"
)
# Never read more than this from a token file (a real token is a few kB at most).
_MAX_TOKEN_BYTES = 64 * 1024


class _Token:
    """A token held in memory whose repr, str and equality never reveal it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return redact(self.value)

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Token)

    def __hash__(self) -> int:
        return 0


@dataclass(frozen=True)
class Endpoint:
    """Where the task role's credentials come from, and how to authorise against it.

    ``url``: the full URL to GET (checked against the host rules when the object is built).
    ``auth``: ``"none"``, ``"token"`` (from ``AWS_CONTAINER_AUTHORIZATION_TOKEN``) or
    ``"token_file"`` (from ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``, path in ``token_file``).
    ``source``: ``"environment"`` (this process), ``"pid1"`` (read from ``/proc/1/environ``) or
    ``"explicit"`` (a mapping passed in). ``variables``: the names of the variables used.

    ``token`` (for ``auth="token"``; a ``str`` is accepted) is kept in a wrapper that is left
    out of ``repr`` and equality, so printing or comparing endpoints never shows it. A token
    file is never read here, only by :meth:`authorization`.

    Raises :class:`~ecs_xrole.errors.EndpointNotAllowedError` when ``url`` is not allowed.
    """

    url: str
    auth: Literal["none", "token", "token_file"] = "none"
    token_file: str | None = None
    source: Literal["environment", "pid1", "explicit"] = "environment"
    variables: tuple[str, ...] = ()
    token: _Token | str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        # The credentials ID in the URL is a bearer capability: shown shortened, as everywhere.
        return (
            f"Endpoint(url={shown_url(self.url)!r}, auth={self.auth!r}, "
            f"token_file={self.token_file!r}, source={self.source!r}, "
            f"variables={self.variables!r})"
        )

    def __post_init__(self) -> None:
        check_endpoint_url(self.url, name="Endpoint.url")
        if isinstance(self.token, str):
            object.__setattr__(self, "token", _Token(self.token))

    def authorization(self) -> str | None:
        """Return the ``Authorization`` header value now, or ``None`` when none is needed.

        With ``auth="token_file"`` the file is read on every call (EKS Pod Identity tokens
        rotate). Exactly one trailing newline is stripped; any other control character is
        refused, since it would let the token inject HTTP headers.

        Raises :class:`~ecs_xrole.errors.TokenError` (the message names the file or
        variable, never the token).
        """
        if self.auth == "none":
            return None
        try:
            return self._authorization()
        except TokenError as exc:
            forget_locals(exc)  # the token sat in the frames below
            raise

    def _authorization(self) -> str:
        if self.auth == "token":
            if not isinstance(self.token, _Token):
                raise TokenError(
                    f"Endpoint(auth='token') for {shown_url(self.url)} holds no token",
                    fix=f"build the endpoint with token=... or set {TOKEN}",
                )
            return check_token(self.token.value, origin=TOKEN)
        if self.token_file is None:
            raise TokenError(
                f"Endpoint(auth='token_file') for {shown_url(self.url)} names no token file",
                fix=f"build the endpoint with token_file=... or set {TOKEN_FILE}",
            )
        return _read_token_file(self.token_file)


def check_token(raw: str, *, origin: str) -> str:
    """Return ``raw`` as a legal header value, with one trailing newline removed.

    ``origin`` names where the token came from (a variable or a file) for the message.
    Raises :class:`~ecs_xrole.errors.TokenError`; the message never holds the token.
    """
    if raw.endswith("\r\n"):
        raw = raw[:-2]
    elif raw.endswith("\n"):
        raw = raw[:-1]
    if not raw:
        raise TokenError(
            f"the authorization token from {origin} is empty",
            fix="write the token the endpoint expects (EKS Pod Identity mounts it for you)",
        )
    for ch in raw:
        if ch in "\r\n":
            raise TokenError(
                f"the authorization token from {origin} ({redact(raw)}) holds a CR or LF "
                "character: refused, it would inject HTTP headers (header injection)",
                fix="write the token on one line; one trailing newline is allowed",
            )
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise TokenError(
                f"the authorization token from {origin} ({redact(raw)}) holds a control "
                f"character (code {ord(ch)}): refused, it is not a legal header value "
                "(header injection)",
                fix="write the token as plain printable text",
            )
        if ord(ch) > 0x7E:
            raise TokenError(
                f"the authorization token from {origin} ({redact(raw)}) holds a non-ASCII "
                "character: refused, it is not a legal header value",
                fix="write the token as plain ASCII text",
            )
    return raw


def _read_token_file(path: str) -> str:
    """Read a token file without ever blocking: anything but a regular file is refused.

    The file is opened with ``O_NONBLOCK`` and judged by ``fstat`` on that same descriptor
    (no check-then-open race): opening a FIFO this way returns at once instead of waiting for
    a writer, and a FIFO, device (``/dev/zero``), socket or directory is refused unread.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise TokenError(
                f"the authorization token file {path!r} ({TOKEN_FILE}) is {_file_kind(mode)}, "
                "not a regular file: refused without reading it (it could block or never end)",
                fix=f"point {TOKEN_FILE} at the token file itself (EKS Pod Identity mounts it "
                "at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token)",
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(_MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    finally:
        os.close(fd)
    if len(data) > _MAX_TOKEN_BYTES:
        raise TokenError(
            f"the authorization token file {path!r} is larger than {_MAX_TOKEN_BYTES} bytes",
            fix=f"point {TOKEN_FILE} at the token file itself",
        )
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise TokenError(
            f"the authorization token file {path!r} holds bytes that are not ASCII text "
            f"({redact(data.decode('latin-1'))})",
            fix=f"point {TOKEN_FILE} at the token file itself",
        ) from None
    return check_token(text, origin=f"file {path!r}")


def _unreadable(path: str, exc: OSError) -> TokenError:
    return TokenError(
        f"cannot read the authorization token file {path!r} ({TOKEN_FILE}): "
        f"{exc.strerror or type(exc).__name__}",
        fix="check the path and that this user may read it (EKS Pod Identity mounts it "
        "at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token)",
    )


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


# The ECS agent's credentials ID: the path segment after /credentials/ (a bearer capability).
_CREDENTIALS_ID = re.compile(r"(/credentials/)([^/?#]+)")
#: How many characters of the credentials ID a message shows (enough to tell two IDs apart).
SHOWN_ID_CHARS = 4


def shown_url(url: str) -> str:
    """The URL as every message, ``repr`` and log line shows it.

    The credentials ID of an ECS URL (``/v2/credentials/<id>``: whoever has it can fetch the
    task role's credentials from the agent) is cut to its first four characters
    (``/v2/credentials/1a2b...``), a query string or fragment (credentials URLs need none,
    so it could only carry something secret) becomes ``?...`` or ``#...``, and userinfo
    (``user:password@``) becomes ``<redacted>@``. Pure; shared by every module that names an
    endpoint.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        netloc, slash, tail = rest.partition("/")
        if "@" in netloc:
            netloc = "<redacted>@" + netloc.rpartition("@")[2]
        url = f"{scheme}{sep}{netloc}{slash}{tail}"
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    head = _CREDENTIALS_ID.sub(lambda m: m.group(1) + _short_id(m.group(2)), url[:cut])
    return head + (url[cut : cut + 1] + "..." if cut < len(url) else "")


def credentials_id(url: str) -> str | None:
    """The ECS credentials ID in ``url`` (what :func:`shown_url` shortens), or ``None``."""
    match = _CREDENTIALS_ID.search(url.partition("?")[0].partition("#")[0])
    return match.group(2) if match else None


def _short_id(value: str) -> str:
    return (value[:SHOWN_ID_CHARS] if len(value) > SHOWN_ID_CHARS else "") + "..."


def check_endpoint_url(url: str, *, name: str = FULL_URI) -> str:
    """Return ``url`` if it may serve container credentials; otherwise raise before any request.

    ``https`` may name any host. ``http`` may name only loopback (``127.0.0.0/8``, ``[::1]``,
    ``localhost``), ``169.254.170.2``, ``169.254.170.23`` or ``[fd00:ec2::23]``, compared as
    literals (no name is resolved). Other schemes, URLs with userinfo, control characters or
    white space, and a missing host are refused. ``name`` is the variable named in the error.

    Raises :class:`~ecs_xrole.errors.EndpointNotAllowedError` naming the host and the rule.
    """
    shown = shown_url(url)

    def refuse(problem: str, fix: str = _URL_FIX) -> EndpointNotAllowedError:
        return EndpointNotAllowedError(name, shown, problem, fix=fix)

    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise refuse("it holds white space or a control character")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # parsing the port raises ValueError when it is malformed
    except ValueError as exc:
        raise refuse(f"it is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise refuse(f"the scheme {parts.scheme or '<none>'!r} is not http or https")
    if "@" in parts.netloc:
        raise refuse("it holds userinfo (user:password@); credentials URLs may not")
    if not host:
        raise refuse("it names no host")
    if scheme == "https" or _http_host_allowed(host):
        return url
    note = ""
    if host in _IMDS_HOSTS:
        note = " (that is the EC2 instance metadata service, not a container endpoint)"
    raise refuse(f"host {host!r} is not allowed{note}: {_HTTP_RULE}")


def _http_host_allowed(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: never resolved, so never trusted over plain http
    if isinstance(address, ipaddress.IPv4Address) and address in _LOOPBACK_V4:
        return True
    return address in _ALLOWED_HTTP_IPS


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value else None


def _has_uri(environ: Mapping[str, str]) -> bool:
    return _get(environ, RELATIVE_URI) is not None or _get(environ, FULL_URI) is not None


def _endpoint_from(
    environ: Mapping[str, str], source: Literal["environment", "pid1", "explicit"]
) -> Endpoint:
    relative = _get(environ, RELATIVE_URI)
    if relative is not None:
        if not relative.startswith("/"):
            # Without this check "@evil.example/" would make the host evil.example.
            raise EndpointNotAllowedError(
                RELATIVE_URI,
                shown_url(relative),
                "a relative URI must start with '/' (it is appended to http://169.254.170.2)",
                fix="set it to the path the ECS agent gave, such as /v2/credentials/<id>",
            )
        url = check_endpoint_url(f"http://{ECS_HOST}{relative}", name=RELATIVE_URI)
        variables: list[str] = [RELATIVE_URI]
        if _get(environ, FULL_URI) is not None:
            log.debug("%s is set too; %s wins, as in botocore", FULL_URI, RELATIVE_URI)
    else:
        full = _get(environ, FULL_URI)
        assert full is not None
        url = check_endpoint_url(full, name=FULL_URI)
        variables = [FULL_URI]
    token_file = _get(environ, TOKEN_FILE)
    token = _get(environ, TOKEN)
    if token_file is not None:
        variables.append(TOKEN_FILE)
        return Endpoint(
            url, auth="token_file", token_file=token_file, source=source, variables=tuple(variables)
        )
    if token is not None:
        variables.append(TOKEN)
        return Endpoint(url, auth="token", source=source, variables=tuple(variables), token=token)
    return Endpoint(url, source=source, variables=tuple(variables))


def _read_pid1(path: str) -> tuple[dict[str, str] | None, str]:
    """Read a NUL-separated environment file; return it (or ``None``) and what happened."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None, f"{path} does not exist (not Linux, or /proc is not mounted)"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, f"{path} is not readable ({reason}; only root or PID 1's user may read it)"
    environ: dict[str, str] = {}
    for entry in data.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep and name:
            environ[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    if _has_uri(environ):
        return environ, f"{path} was read"
    return environ, f"{path} was read and does not set them either"


def detect_endpoint(
    environ: Mapping[str, str] | None = None,
    *,
    read_pid1: bool | None = None,
    pid1_environ_path: str = PID1_ENVIRON,
) -> Endpoint:
    """Find the endpoint from ``environ`` (default ``os.environ``), else from PID 1.

    With no ``environ``, the variables of this process are used (``source="environment"``);
    when neither URI variable is set, those of PID 1 are read from ``pid1_environ_path``
    (``source="pid1"``) unless ``read_pid1=False``. With an explicit ``environ`` mapping
    (``source="explicit"``) PID 1 is consulted only when ``read_pid1=True`` is passed, so a
    caller's mapping is never silently mixed with the machine's own state. The URI and token
    variables are always taken together from one place. Reads ``/proc/1/environ`` at most
    once; never reads the token file and makes no request.

    Raises :class:`~ecs_xrole.errors.EndpointNotConfiguredError` (saying what was looked for
    and where) and :class:`~ecs_xrole.errors.EndpointNotAllowedError` (a URL that may not
    serve credentials).
    """
    try:
        return _detect(environ, read_pid1, pid1_environ_path)
    except EndpointError as exc:
        forget_locals(exc)  # the URL and token variables sat in the frames below
        raise


def _detect(
    environ: Mapping[str, str] | None, read_pid1: bool | None, pid1_environ_path: str
) -> Endpoint:
    if environ is None:
        env: Mapping[str, str] = os.environ
        source: Literal["environment", "explicit"] = "environment"
        consult_pid1 = read_pid1 is not False
    else:
        env = environ
        source = "explicit"
        consult_pid1 = read_pid1 is True
    if _has_uri(env):
        return _endpoint_from(env, source)
    where = "this process" if source == "environment" else "the mapping passed in"
    pid1_status = "PID 1 was not consulted (read_pid1 is off)"
    if consult_pid1:
        pid1_env, pid1_status = _read_pid1(pid1_environ_path)
        if pid1_env is not None and _has_uri(pid1_env):
            log.debug("container credentials endpoint variables taken from %s", pid1_environ_path)
            return _endpoint_from(pid1_env, "pid1")
    raise EndpointNotConfiguredError(
        f"No ECS container credentials endpoint: neither {RELATIVE_URI} nor {FULL_URI} is set "
        f"in {where}, and {pid1_status}",
        fix=(
            f"run in an ECS task whose task definition has a taskRoleArn (ECS then sets "
            f"{RELATIVE_URI}), or in an EKS pod with a Pod Identity association (it sets "
            f"{FULL_URI} and {TOKEN_FILE}). In an ECS Exec shell or under sudo the task's "
            "variables are not inherited: use `sudo -E`, run as root so /proc/1/environ can "
            "be read, or export the variable from the task's main process. On a laptop, set "
            "ECS_XROLE_SOURCE_PROFILE=<profile> (or pass --source-profile) to take the source "
            "credentials from that AWS profile instead (keys, SSO: anything the AWS CLI can "
            f"use), or start the stand-ins of ecs_xrole.testing and set {FULL_URI} to their "
            "endpoint's url"
        ),
    )
