"""The ECS agent stand-in's HTTP server and handler, its fake credentials and faults."""

from __future__ import annotations

import logging
import secrets
import selectors
import socket
import socketserver
import string
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .._credentials import TemporaryCredentials
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ._agent import EndpointServer

log = logging.getLogger("ecs_xrole.testing.endpoint_server")

#: A fault for :meth:`EndpointServer.queue`: an ``int`` status, ``"reset"``, ``"close"``,
#: ``"garbage"``, ``("hang", seconds)``, ``("json", dict)`` or
#: ``("status", code, body_text, headers)``.
Fault = int | str | tuple[Any, ...]
CredentialsSource = TemporaryCredentials | Callable[[], TemporaryCredentials] | None

# The ECS agent's answers for the statuses a test most often wants (aws/amazon-ecs-agent).
_STATUS_BODIES: dict[int, tuple[str, str]] = {
    400: ("InvalidIdInRequest", "CredentialsV2Request: Credentials not found"),
    401: ("Unauthorized", "The Authorization header is missing or not valid"),
    403: ("AccessDenied", "Not allowed to get credentials"),
    500: ("InternalServerError", "CredentialsV2Request: Internal error"),
    503: ("CredentialsUninitialized", "CredentialsV2Request: Credentials uninitialized for ID"),
}


def _status_words(status: int) -> tuple[str, str]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return phrase.replace(" ", ""), phrase


_THROTTLE_TEXT = "Rate exceeded"
_KEY_CHARS = string.ascii_uppercase + string.digits
_SECRET_CHARS = string.ascii_letters + string.digits + "+/"


def fake_credentials(
    *,
    lifetime: float = 6 * 3600,
    role_arn: str | None = None,
    account_id: str | None = None,
) -> TemporaryCredentials:
    """Make random, realistic-looking temporary credentials expiring ``lifetime`` s from now.

    The access key starts with ``ASIA`` (temporary keys do). Nothing here is valid anywhere.
    """
    return TemporaryCredentials(
        access_key_id="ASIA" + "".join(secrets.choice(_KEY_CHARS) for _ in range(16)),
        secret_access_key="".join(secrets.choice(_SECRET_CHARS) for _ in range(40)),
        session_token="IQoJb3JpZ2luX2Vj"
        + "".join(secrets.choice(_SECRET_CHARS) for _ in range(300)),
        expiration=datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=lifetime),
        role_arn=role_arn,
        account_id=account_id,
    )


def _check_fault(fault: object) -> Fault:
    ok = False
    if isinstance(fault, int) and not isinstance(fault, bool):
        ok = 100 <= fault <= 599
    elif isinstance(fault, str):
        ok = fault in ("reset", "close", "garbage")
    elif isinstance(fault, tuple) and fault:
        kind = fault[0]
        if kind == "hang":
            ok = len(fault) == 2 and isinstance(fault[1], (int, float)) and fault[1] >= 0
        elif kind == "json":
            ok = len(fault) == 2 and isinstance(fault[1], (dict, list, str, int, float))
        elif kind == "status":
            ok = (
                len(fault) in (3, 4)
                and isinstance(fault[1], int)
                and isinstance(fault[2], (str, bytes))
                and (len(fault) == 3 or isinstance(fault[3], Mapping))
            )
    if not ok:
        raise InvalidInputError(
            "fault",
            fault,
            "not a fault EndpointServer knows",
            fix="pass an int status, 'reset', 'close', 'garbage', ('hang', seconds), "
            "('json', dict) or ('status', code, body_text, headers)",
        )
    return fault  # type: ignore[return-value]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart rebinds the same port despite TIME_WAIT
    owner: EndpointServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are routine here: no tracebacks on stderr.
        log.debug("EndpointServer: error while handling a request", exc_info=True)


def _serve(server: _HTTPServer, wake: socket.socket) -> None:
    """Accept connections until ``wake`` becomes readable (``serve_forever`` polls instead,
    so stopping it costs up to a poll interval per server)."""
    server.timeout = 0  # handle_request() below runs only when a connection is waiting
    with selectors.DefaultSelector() as selector:
        selector.register(server, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        while True:
            ready = [key.fileobj for key, _ in selector.select()]
            if wake in ready:
                return
            server.handle_request()


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the agent: exercises the client's pool
    # TCP_NODELAY, as the agent's Go server sets it: with keep-alive, the body sent after the
    # headers otherwise waits for a delayed ACK (about 40 ms per request on Linux).
    disable_nagle_algorithm = True
    server: _HTTPServer
    _stopped: threading.Event

    def setup(self) -> None:
        super().setup()
        self._stopped = self.server.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.connection)

    def do_GET(self) -> None:
        self.server.owner._dispatch(self)

    def _not_allowed(self) -> None:
        self.server.owner._send_json(self, 405, {"code": "MethodNotAllowed", "message": "GET"})

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the base class writes every request line to stderr
