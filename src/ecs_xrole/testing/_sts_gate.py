"""The WSGI layer in front of moto's STS: policies, faults, the chained-role limit.

moto issues AssumeRole keys but evaluates no trust policy; this layer does (with
:mod:`._iam_policy`), answering a refusal as STS does, and carries FakeAWS's knobs: queued
faults, an outage, rewritten expiry times and request counters.
"""

from __future__ import annotations

import http
import io
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from ._iam_policy import _Caller, _identity_decision, _role_documents, _trust_decision
from .aws import STS_FAULTS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from ._fake_aws import FakeAWS


_ADMIN_ENVIRON = "HTTP_X_ECS_XROLE_ADMIN"


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/[^/]*/[^/]*/([^/,\s]+)/")

_XML_FIELD = "<{0}>([^<]*)</{0}>"

_EXPIRATION = re.compile(r"<Expiration>[^<]*</Expiration>")

_UNSIGNED_STS_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


# ---------------------------------------------------------------------------------------------
# The WSGI layer in front of moto.


def _sts_error(
    status: int, kind: str, code: str, message: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    headers = [
        ("Content-Type", "text/xml"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", request_id),
    ]
    return status, headers, body


def _status_line(status: int) -> str:
    return f"{status} {http.HTTPStatus(status).phrase}"


def _expiration_text(lifetime: float) -> str:
    when = datetime.now(timezone.utc) + timedelta(seconds=lifetime)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class _StsGate:
    """WSGI middleware: STS knobs, and trust-policy enforcement on AssumeRole."""

    def __init__(self, app: WSGIApplication, fake: FakeAWS) -> None:
        self._app = app
        self._fake = fake

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        admin = bool(environ.get(_ADMIN_ENVIRON))
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = _ACCESS_KEY.search(auth)
        service = match.group(2).lower() if match else None
        if service == "ecs":
            self._fake._ensure_cluster()
        if service not in (None, "sts"):
            return self._app(environ, start_response)
        params = self._params(environ)
        action = params.get("Action")
        if service is None and action not in _UNSIGNED_STS_ACTIONS:
            return self._app(environ, start_response)
        fake = self._fake
        if not admin and fake.sts_down:
            return self._reply(
                start_response,
                *_sts_error(503, "Receiver", "ServiceUnavailable", "Service Unavailable"),
            )
        if action != "AssumeRole":
            return self._app(environ, start_response)
        target = params.get("RoleArn", "")
        caller = fake._caller(match.group(1)) if match else None
        if not admin:
            fault = fake._count_and_take_fault(target)
            delay = fake.assume_role_delay
            if delay:
                time.sleep(delay)  # a slow STS round trip, for latency measurements
            if fault is not None:
                status, kind, message = STS_FAULTS[fault]
                if fault == "AccessDenied":
                    message = _denied_message(caller, target)
                return self._reply(start_response, *_sts_error(status, kind, fault, message))
        if caller is not None:
            refusal = _refusal(caller, target, params)
            if refusal is not None:
                return self._reply(start_response, *refusal)
        return self._assume_role(environ, start_response, target, admin=admin)

    @staticmethod
    def _params(environ: WSGIEnvironment) -> dict[str, str]:
        """Query-string and form parameters; the body is put back for moto."""
        params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            text = body.decode("utf-8", "replace")
            params.update({k: v[0] for k, v in parse_qs(text).items()})
        return params

    @staticmethod
    def _reply(
        start_response: StartResponse, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> list[bytes]:
        start_response(_status_line(status), headers)
        return [body]

    def _assume_role(
        self, environ: WSGIEnvironment, start_response: StartResponse, target: str, *, admin: bool
    ) -> list[bytes]:
        """Let moto answer; learn the new session's key; rewrite Expiration when asked."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        result = self._app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = str(captured.get("status", "500 Internal Server Error"))
        headers = [h for h in captured.get("headers", []) if h[0].lower() != "content-length"]
        if status.startswith("200"):
            text = body.decode("utf-8")
            key = re.search(_XML_FIELD.format("AccessKeyId"), text)
            arn = re.search(r"<AssumedRoleUser>.*?" + _XML_FIELD.format("Arn"), text, re.DOTALL)
            if key and arn:
                self._fake._remember(
                    key.group(1), _Caller(session_arn=arn.group(1), role_arn=target)
                )
            lifetime = self._fake.sts_lifetime
            if lifetime is not None and not admin:
                text = _EXPIRATION.sub(
                    f"<Expiration>{_expiration_text(lifetime)}</Expiration>", text, count=1
                )
                body = text.encode("utf-8")
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]


def _denied_message(caller: _Caller | None, target: str) -> str:
    who = caller.session_arn if caller else "the caller"
    return f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {target}"


# The longest session STS gives a role assumed by role chaining.
_CHAINED_LIMIT = 3600


def _refusal(
    caller: _Caller, target: str, params: Mapping[str, str]
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """STS's answer refusing ``caller``'s AssumeRole of ``target``, or ``None`` to allow."""
    duration = params.get("DurationSeconds", "")
    if duration.isdigit() and int(duration) > _CHAINED_LIMIT:
        # The caller is itself an assumed-role session, so this is role chaining.
        return _sts_error(
            400,
            "Sender",
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining.",
        )
    context: dict[str, str | None] = {
        "sts:externalid": params.get("ExternalId"),
        "aws:principalarn": caller.role_arn,
        "aws:principalaccount": caller.account_id,
    }
    trust = _role_documents(target, trust=True)
    how = None if trust is None else _trust_decision(trust[0], caller=caller, context=context)
    if how is not None:
        same_account = target.split(":")[4] == caller.account_id
        if how == "role" and same_account:
            return None
        identity = _role_documents(caller.role_arn, trust=False) or []
        if _identity_decision(identity, action="sts:AssumeRole", resource=target, context=context):
            return None
    return _sts_error(403, "Sender", "AccessDenied", _denied_message(caller, target))
