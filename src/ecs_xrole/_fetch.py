"""Fetch the task role's credentials from the container endpoint, robustly.

:func:`fetch_credentials` makes one GET, retried with backoff and full jitter on what can
pass (connection errors, timeouts, 5xx, 429 with ``Retry-After``), all under one wall-clock
deadline; what retrying cannot fix (400, 401/403, an unusable body) fails at once with the
endpoint's own words and a fix. It exists so that one slow or failing endpoint is a typed,
explained error in bounded time, never a hang. The HTTP itself is :mod:`ecs_xrole._http`.
See docs/design.md, "The endpoint fetch", and docs/security.md, "Wall-clock deadlines".
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ._credentials import TemporaryCredentials, parse_credentials
from ._endpoint import (
    RELATIVE_URI,
    SHOWN_ID_CHARS,
    TOKEN,
    TOKEN_FILE,
    Endpoint,
    credentials_id,
    detect_endpoint,
    shown_url,
)
from ._http import MAX_BODY, WallClockTimeout, _jitter, http_get
from ._redaction import install as install_log_redaction
from ._redaction import remember
from ._version import __version__
from .errors import (
    EndpointRequestError,
    EndpointResponseError,
    Error,
    InvalidInputError,
    forget_locals,
    redact,
)

log = logging.getLogger("ecs_xrole.fetch")
# urllib3 logs each request line, credentials ID included, at DEBUG.
install_log_redaction()
#: First backoff step and the cap of one backoff sleep, in seconds (full jitter below them).
BACKOFF_BASE = 0.2
BACKOFF_CAP = 2.0
#: How much of an endpoint's error text a message quotes.
QUOTE_CHARS = 200
#: Below this many seconds left, another attempt is not worth starting (its timeouts would be
#: too short to mean anything).
MIN_ATTEMPT = 0.1
#: The shortest wait between two attempts, whatever ``Retry-After`` or the jitter say: no
#: fault pattern (``Retry-After: 0``, a date in the past, instant resets) makes more than
#: about 10 requests a second (the ECS agent allows 40 per task).
MIN_WAIT = 0.1


@dataclass(frozen=True)
class _Failure:
    """One failed attempt that may pass if tried again."""

    cause: str
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidInputError(name, value, "it must be a positive number of seconds")
    return float(value)


def fetch_credentials(
    endpoint: Endpoint | None = None,
    *,
    deadline: float = 5.0,
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
    max_attempts: int | None = None,
) -> TemporaryCredentials:
    """GET the endpoint (default: :func:`~ecs_xrole._endpoint.detect_endpoint`) with retries.

    Retries connection errors, timeouts, resets, 5xx and 429 (waiting ``Retry-After`` when
    given, else an exponential backoff with full jitter; never less than :data:`MIN_WAIT`)
    until ``deadline`` seconds have passed or ``max_attempts`` requests were made (default:
    no limit but the deadline). ``deadline`` is wall-clock time whatever the server does
    (see :func:`http_get`); ``connect_timeout`` and ``read_timeout`` bound each socket
    operation within it. The authorization token (file) is re-read before every attempt.
    Uses the shared connection pool; logs each attempt at DEBUG, without secrets.

    Raises :class:`~ecs_xrole.errors.EndpointRequestError` (no usable answer: with
    ``status``, ``code``, ``endpoint_message``, ``attempts`` and ``url``, the credentials
    ID in it shortened as :func:`~ecs_xrole._endpoint.shown_url` does),
    :class:`~ecs_xrole.errors.EndpointResponseError` (a 200 that is not usable credentials),
    :class:`~ecs_xrole.errors.TokenError`, :class:`~ecs_xrole.errors.InvalidInputError` (bad
    options) and the errors of :func:`detect_endpoint`.
    """
    try:
        return _fetch(endpoint, deadline, connect_timeout, read_timeout, max_attempts)
    except Error as exc:
        forget_locals(exc)  # the token and the answers sat in the frames below
        raise


def _fetch(
    endpoint: Endpoint | None,
    deadline: float,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int | None,
) -> TemporaryCredentials:
    deadline = _check_seconds("deadline", deadline)
    connect_timeout = _check_seconds("connect_timeout", connect_timeout)
    read_timeout = _check_seconds("read_timeout", read_timeout)
    if max_attempts is not None and (
        isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
    ):
        raise InvalidInputError("max_attempts", max_attempts, "it must be a whole number >= 1")
    if endpoint is None:
        endpoint = detect_endpoint()
    started = time.monotonic()
    end = started + deadline
    attempts = 0
    last: _Failure | None = None
    answered: _Failure | None = None  # the last failure that was an HTTP answer
    gave_up = ""
    while True:
        left = end - time.monotonic()
        if left <= 0:
            gave_up = "the deadline passed"
            break
        if max_attempts is not None and attempts >= max_attempts:
            gave_up = f"max_attempts={max_attempts} reached"
            break
        authorization = endpoint.authorization()  # re-read each time: the token file rotates
        remember(authorization)
        attempts += 1
        result = _attempt(
            endpoint,
            authorization,
            end=end,
            connect=min(connect_timeout, left),
            read=min(read_timeout, left),
            attempt=attempts,
        )
        if isinstance(result, TemporaryCredentials):
            return result
        last = result
        if result.status is not None:
            answered = result
        # Sleep only as long as still leaves a useful attempt before the deadline, and never
        # less than MIN_WAIT: Retry-After: 0 must not become a tight loop.
        budget = end - time.monotonic() - MIN_ATTEMPT
        if result.retry_after is not None:
            if result.retry_after > budget:
                gave_up = (
                    f"the endpoint asked to retry after {result.retry_after:g} s, "
                    f"beyond the deadline ({max(budget + MIN_ATTEMPT, 0):.1f} s left)"
                )
                break
            wait = max(result.retry_after, MIN_WAIT)
        else:
            cap = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1), budget)
            # Full jitter above the floor: spread the retries of many clients.
            wait = _jitter.uniform(MIN_WAIT, cap) if cap > MIN_WAIT else MIN_WAIT
        if wait > budget:
            gave_up = "the deadline passed" if budget <= 0 else "no time left for another attempt"
            break
        log.debug("retrying the credentials endpoint in %.3f s (%s)", wait, result.cause)
        time.sleep(wait)
    assert last is not None  # the first attempt always runs: deadline > 0
    elapsed = time.monotonic() - started
    raise _exhausted(endpoint, last, answered, attempts, elapsed, deadline, gave_up)


def _attempt(
    endpoint: Endpoint,
    authorization: str | None,
    *,
    end: float,
    connect: float,
    read: float,
    attempt: int,
) -> TemporaryCredentials | _Failure:
    """Make one request. Return credentials, or a failure worth retrying; raise otherwise."""
    headers = {"Accept": "application/json", "User-Agent": f"ecs-xrole/{__version__}"}
    if authorization is not None:
        headers["Authorization"] = authorization
    url = endpoint.url
    shown = shown_url(url)
    began = time.monotonic()
    try:
        answer = http_get(
            url, headers=headers, deadline=end, connect_timeout=connect, read_timeout=read
        )
    except SSLError as exc:
        raise EndpointRequestError(
            f"TLS failed with the container credentials endpoint {shown}: {_describe(exc)}",
            fix="check the endpoint's certificate, or use the plain-http endpoint it offers",
            url=shown,
            attempts=attempt,
        ) from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        cause = _describe(exc, connect=connect, read=read)
        log.debug("GET %s -> %s after %.3f s (attempt %d)", shown, cause, _since(began), attempt)
        return _Failure(cause=cause)
    status = answer.status
    log.debug("GET %s -> HTTP %d in %.3f s (attempt %d)", shown, status, _since(began), attempt)
    if answer.body is None:
        raise EndpointResponseError(
            f"the container credentials endpoint {shown} answered HTTP {status} with a body "
            f"larger than {MAX_BODY} bytes",
            fix="check that the URL points at a credentials endpoint",
        )
    if status == 200:
        return parse_credentials(answer.body)
    code, message = _error_text(answer.body, authorization, url)
    if status == 429 or 500 <= status <= 599:
        cause = (
            f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        retry_after = _retry_after(answer.headers.get("Retry-After"))
        return _Failure(cause, status=status, code=code, message=message, retry_after=retry_after)
    raise _refused(endpoint, status, code, message, attempt)


def _since(began: float) -> float:
    return time.monotonic() - began


def _describe(exc: BaseException, *, connect: float = 0.0, read: float = 0.0) -> str:
    """Say in a few words what went wrong on the wire."""
    if isinstance(exc, WallClockTimeout):
        return "timed out: the deadline passed before the answer was complete"
    if isinstance(exc, NewConnectionError):
        return f"cannot connect ({_os_reason(exc) or 'connection failed'})"
    if isinstance(exc, ConnectTimeoutError):
        return f"no connection within {connect:.2g} s (connect timed out)"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {read:.2g} s (read timed out)"
    if isinstance(exc, ProtocolError):
        return f"the connection was closed without an answer ({_os_reason(exc) or 'reset'})"
    return f"{type(exc).__name__}: {_clean(str(exc))}"


def _os_reason(exc: BaseException) -> str | None:
    """The OS-level reason behind a urllib3 error ("Connection refused"), when there is one."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if current is not exc and isinstance(current, http.client.HTTPException):
            return _clean(str(current)) or type(current).__name__
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        pending.extend(c for c in (current.__cause__, current.__context__) if c is not None)
    return None


# C0 and C1 controls (ANSI escapes start with ESC or CSI), line and paragraph separators and
# bidirectional overrides: none may reach a terminal from what an endpoint said.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def _clean(text: str, limit: int = QUOTE_CHARS) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _error_text(body: bytes, authorization: str | None, url: str) -> tuple[str | None, str | None]:
    """The endpoint's ``code`` and ``message`` (JSON), or up to 200 characters of plain text.

    The token and the credentials ID are hidden before decoding and again after it: JSON can
    spell them with escapes (``\\/``, ``\\u0041``) that only decoding turns back into them.
    """
    hide = _Hider(authorization, credentials_id(url))
    text = hide(body.decode("utf-8", "replace"))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        code = lowered.get("code")
        message = lowered.get("message")
        if isinstance(code, str) or isinstance(message, str):
            return (
                _clean(hide(code), 80) if isinstance(code, str) and code else None,
                _clean(hide(message)) if isinstance(message, str) and message else None,
            )
    return None, (_clean(text) or None)


class _Hider:
    """Replace the token and the credentials ID in a text the endpoint sent."""

    def __init__(self, token: str | None, credentials: str | None) -> None:
        pairs = []
        if token:
            pairs.append((token, redact(token)))
        if credentials and len(credentials) > SHOWN_ID_CHARS:
            pairs.append((credentials, credentials[:SHOWN_ID_CHARS] + "..."))
        self._pairs = pairs

    def __call__(self, text: str) -> str:
        for secret, stand_in in self._pairs:
            text = text.replace(secret, stand_in)
        return text


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), else ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 3600.0)


def _quote(status: int, code: str | None, message: str | None) -> str:
    said = f"HTTP {status}"
    if code:
        said += f" {code}"
    if message:
        said += f": {message}"
    return said


def _refused(
    endpoint: Endpoint, status: int, code: str | None, message: str | None, attempts: int
) -> EndpointRequestError:
    url = shown_url(endpoint.url)
    said = _quote(status, code, message)
    if status in (401, 403):
        if endpoint.auth == "token_file":
            fix = (
                f"the token read from {endpoint.token_file!r} ({TOKEN_FILE}) was rejected: "
                "check the variable names the token file the endpoint's agent writes (EKS Pod "
                "Identity rotates it; ecs-xrole re-reads it on every request)"
            )
        elif endpoint.auth == "token":
            fix = (
                f"the token in {TOKEN} was rejected: it is wrong or was rotated; prefer "
                f"{TOKEN_FILE} so a rotated token is picked up"
            )
        else:
            fix = f"the endpoint wants an Authorization header: set {TOKEN_FILE} or {TOKEN}"
        what = f"the container credentials endpoint {url} refused the authorization ({said})"
    elif status == 400 or code in ("InvalidIdInRequest", "NoIdInRequest"):
        what = f"the container credentials endpoint {url} has no credentials for us ({said})"
        fix = (
            "the task may have no task role (set taskRoleArn in the task definition), or the "
            f"credentials ID in the URL is stale ({RELATIVE_URI} copied from another task or an "
            "earlier run): use the value from this task's own environment"
        )
    elif 300 <= status <= 399:
        what = f"the container credentials endpoint {url} answered a redirect ({said})"
        fix = "redirects are not followed (they could lead elsewhere): use the final URL"
    elif status == 404:
        what = f"the container credentials endpoint {url} does not know this path ({said})"
        fix = "check the URL variable: the ECS agent serves /v2/credentials/<id>"
    else:
        what = f"the container credentials endpoint {url} refused the request ({said})"
        fix = "check the endpoint URL and the agent's logs"
    return EndpointRequestError(
        what,
        fix=fix,
        url=url,
        status=status,
        code=code,
        endpoint_message=message,
        attempts=attempts,
    )


def _exhausted(
    endpoint: Endpoint,
    last: _Failure,
    answered: _Failure | None,
    attempts: int,
    elapsed: float,
    deadline: float,
    gave_up: str,
) -> EndpointRequestError:
    # Report the last HTTP answer when there was one: a timeout of the final, shortest attempt
    # says less than the 429 or 503 that came before it.
    cause = last.cause
    if answered is not None and answered is not last:
        cause += f" (before that: {answered.cause})"
    last = answered or last
    url = shown_url(endpoint.url)
    if last.code == "CredentialsUninitialized":
        fix = (
            "the ECS agent has not loaded this task's credentials yet (it restarted?): "
            "retry in a few seconds"
        )
    elif last.status == 429:
        fix = (
            "the endpoint is throttling (ECS on EC2 allows 40 requests/s per task by "
            "default): share one session or cache credentials instead of fetching per call"
        )
    elif last.status is not None:
        fix = "the endpoint's agent is failing: retry later and check the agent's logs"
    else:
        fix = (
            "check the endpoint is reachable from here (in ECS, 169.254.170.2 is routed to the "
            "agent for awsvpc and bridge tasks; a local endpoint must be running), or pass a "
            "longer deadline"
        )
    plural = "s" if attempts != 1 else ""
    return EndpointRequestError(
        f"could not get credentials from the container credentials endpoint {url}: "
        f"gave up after {attempts} attempt{plural} in {elapsed:.1f} s (deadline {deadline:g} s; "
        f"{gave_up}); last: {cause}",
        fix=fix,
        url=url,
        status=last.status,
        code=last.code,
        endpoint_message=last.message,
        attempts=attempts,
    )
