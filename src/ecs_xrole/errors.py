"""Every error ecs-xrole raises, rooted at :class:`Error`.

Each message says what failed, with which value (secrets redacted), and how to fix it. The
three parts are also kept as attributes (``what``, ``fix``) so that the command-line tool and
``doctor`` can print them apart. No message, attribute or ``repr`` here ever holds an access
key, a secret key, a session token or an authorization token: callers pass values through
:func:`redact` first.

This module imports nothing outside the standard library.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

__all__ = [
    "AssumeRoleDeniedError",
    "AssumeRoleError",
    "ConfigFileBusyError",
    "ConfigFileError",
    "CredentialsUnavailableError",
    "EndpointError",
    "EndpointNotAllowedError",
    "EndpointNotConfiguredError",
    "EndpointRequestError",
    "EndpointResponseError",
    "Error",
    "InvalidInputError",
    "ProfileError",
    "TokenError",
    "forget_locals",
    "redact",
]


def redact(secret: str | None) -> str:
    """Return a stand-in for a secret that says only how long it was.

    Used everywhere a secret would otherwise reach a message: ``redact("abc")`` is
    ``'<redacted, 3 characters>'``.
    """
    if secret is None:
        return "<none>"
    return f"<redacted, {len(secret)} characters>"


def forget_locals(error: BaseException) -> None:
    """Clear the local variables of ecs-xrole's finished frames in the traceback of ``error``
    and of each exception chained to it.

    A traceback shown with its locals (``traceback`` with ``capture_locals``, an error
    reporter's default event) would otherwise show what those frames held while they ran: the
    authorization token, the full credentials URL, an answer's body. Called where an error
    leaves ecs-xrole's public functions; frames still running (the caller's) are left as
    they are, and so are frames of other packages.
    """
    seen: set[int] = set()
    chained: BaseException | None = error
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        tb = chained.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if str(frame.f_globals.get("__name__", "")).startswith("ecs_xrole."):
                try:  # noqa: SIM105 (contextlib is not imported here: import ecs_xrole stays light)
                    frame.clear()
                except RuntimeError:  # still running: a caller's frame
                    pass
            tb = tb.tb_next
        chained = chained.__cause__ or chained.__context__


class Error(Exception):
    """Base of every error ecs-xrole raises.

    ``what`` says what failed and with which value; ``fix`` (may be ``None``) says what to do.
    ``str(error)`` joins them.
    """

    def __init__(self, what: str, *, fix: str | None = None) -> None:
        self.what = what
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.fix:
            return self.what
        return f"{self.what.rstrip('.')}. Fix: {self.fix}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (multiprocessing, concurrent.futures) despite keyword-only init.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[Error], state: dict[str, Any]) -> Error:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error


class InvalidInputError(Error, ValueError):
    """A value given to ecs-xrole (argument, option, environment variable) is not valid.

    Raised before any network call or file write. ``name`` is the input's name, ``value`` the
    offending value as shown in the message (already redacted where needed); with
    ``missing=True`` the input was required but not given, and the message says so instead of
    quoting a value.
    """

    def __init__(
        self,
        name: str,
        value: object,
        problem: str,
        *,
        fix: str | None = None,
        missing: bool = False,
    ) -> None:
        self.name = name
        self.value = value
        # A required input that was not given has no value worth quoting ("None").
        what = (
            f"{name} is missing: {problem}"
            if missing
            else f"{name} {value!r} is not valid: {problem}"
        )
        super().__init__(what, fix=fix)


class EndpointError(Error):
    """Base for problems with the ECS container credentials endpoint."""


class EndpointNotConfiguredError(EndpointError):
    """Neither endpoint variable is set, in this process nor (where allowed) in PID 1."""


class EndpointNotAllowedError(EndpointError, InvalidInputError):
    """``AWS_CONTAINER_CREDENTIALS_FULL_URI`` names a host that may not serve credentials."""


class TokenError(EndpointError):
    """The authorization token (or its file) is unreadable or not a legal header value."""


class EndpointRequestError(EndpointError):
    """The endpoint could not be reached in time, or answered with an error status.

    ``status`` is the HTTP status (``None`` when no answer came), ``code`` and
    ``endpoint_message`` the endpoint's own error code and message when it sent them, ``url``
    the endpoint URL and ``attempts`` how many requests were made.
    """

    def __init__(
        self,
        what: str,
        *,
        fix: str | None = None,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
        endpoint_message: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.url = url
        self.status = status
        self.code = code
        self.endpoint_message = endpoint_message
        self.attempts = attempts
        super().__init__(what, fix=fix)


class EndpointResponseError(EndpointError):
    """The endpoint answered 200 with something that is not usable credentials."""


class CredentialsUnavailableError(Error):
    """Credentials could not be refreshed and those in hand are expired or about to expire.

    Raised to a caller only inside the mandatory refresh margin; before it, refresh failures are
    logged and the credentials in hand are served. ``failing_since`` is when refreshing started
    to fail, ``expires_at`` when the credentials in hand expire (either may be ``None``).
    """

    def __init__(
        self,
        what: str,
        *,
        fix: str | None = None,
        failing_since: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        self.failing_since = failing_since
        self.expires_at = expires_at
        super().__init__(what, fix=fix)


class AssumeRoleError(Error):
    """STS refused or failed an AssumeRole call.

    ``role_arn`` is the role being assumed, ``code`` the STS error code (``None`` when no
    answer came), ``caller_arn`` the identity that made the call when it is known,
    ``request_id`` STS's request ID when it answered (AWS support asks for it; the message
    shows it too). When STS answered, the botocore ``ClientError`` is the ``__cause__``.
    """

    def __init__(
        self,
        what: str,
        *,
        fix: str | None = None,
        role_arn: str,
        code: str | None = None,
        caller_arn: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.role_arn = role_arn
        self.code = code
        self.caller_arn = caller_arn
        self.request_id = request_id
        super().__init__(what, fix=fix)


class AssumeRoleDeniedError(AssumeRoleError):
    """STS answered AccessDenied: the caller may not assume the role.

    Carries the two policy documents that would allow the call, built from the real ARNs:
    ``identity_policy`` (attach to the caller, the task role) and ``trust_policy`` (the
    destination role's trust policy). Both are dicts ready for ``json.dumps``.
    """

    def __init__(
        self,
        what: str,
        *,
        fix: str | None = None,
        role_arn: str,
        caller_arn: str | None,
        identity_policy: dict[str, Any],
        trust_policy: dict[str, Any],
        code: str | None = "AccessDenied",
    ) -> None:
        self.identity_policy = identity_policy
        self.trust_policy = trust_policy
        super().__init__(what, fix=fix, role_arn=role_arn, code=code, caller_arn=caller_arn)


class ProfileError(Error):
    """botocore cannot load the credentials of an AWS profile (the AWS CLI would fail too).

    ``profile`` names it. The message keeps botocore's own reason; the original botocore
    exception is the ``__cause__``.
    """

    def __init__(self, what: str, *, fix: str | None = None, profile: str) -> None:
        self.profile = profile
        super().__init__(what, fix=fix)


class ConfigFileError(Error):
    """The AWS config file cannot be read, parsed or written. ``path`` names it."""

    def __init__(self, what: str, *, fix: str | None = None, path: str) -> None:
        self.path = path
        super().__init__(what, fix=fix)


class ConfigFileBusyError(ConfigFileError):
    """Another process held the config file's lock longer than the writer would wait.

    ``lock_path`` names the lock file. Nothing was written; running again may succeed.
    """

    def __init__(self, what: str, *, fix: str | None = None, path: str, lock_path: str) -> None:
        self.lock_path = lock_path
        super().__init__(what, fix=fix, path=path)
