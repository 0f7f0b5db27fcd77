"""EndpointServer: a loopback stand-in for the ECS agent's credentials and metadata endpoints.

Use it in tests of code that reads the task role's credentials::

    with EndpointServer(token="s3cret") as server:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url)
        server.queue(503, "reset")        # the next two requests fail, then answers resume

It answers like the ECS agent or the EKS Pod Identity agent (``shape``), every knob can be
changed while it runs, and it logs no secret. Its HTTP server is :mod:`._agent_http`. See
docs/design.md, "The stand-ins".
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import struct
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from .._endpoint import FULL_URI, TOKEN, TOKEN_FILE
from .._redaction import install as install_log_redaction
from ..errors import Error, InvalidInputError
from ._agent_http import (
    _STATUS_BODIES,
    _THROTTLE_TEXT,
    CredentialsSource,
    Fault,
    _check_fault,
    _Handler,
    _HTTPServer,
    _HTTPServer6,
    _serve,
    _status_words,
    fake_credentials,
)

log = logging.getLogger("ecs_xrole.testing.endpoint_server")
# Its URL holds the credentials ID, like a real agent's: kept out of logs as ecs-xrole's are.
install_log_redaction()

METADATA_URI = "ECS_CONTAINER_METADATA_URI_V4"
DEFAULT_TASK_ARN = (
    "arn:aws:ecs:us-east-1:111122223333:task/demo-cluster/0123456789abcdef0123456789abcdef"
)


class EndpointServer:
    """A loopback server shaped like the ECS agent's credentials and task metadata endpoints.

    ``credentials``: what to serve (a value, or a callable called per request); ``None`` serves
    fresh :func:`fake_credentials` on every request. ``token``: the ``Authorization`` value
    required (wrong or missing gives 401). ``lifetime``: when set, ``Expiration`` is now plus
    this many seconds, whatever the credentials say. ``task_arn``: what the metadata endpoint
    reports. ``shape``: ``"ecs"`` or ``"pod-identity"``.

    Counters: ``requests`` (requests to the credentials path), ``served`` (normal 200
    credential answers; fault answers are not counted), ``metadata_requests``.
    """

    def __init__(
        self,
        credentials: CredentialsSource = None,
        *,
        host: str = "127.0.0.1",
        token: str | None = None,
        lifetime: float | None = None,
        task_arn: str = DEFAULT_TASK_ARN,
        shape: Literal["ecs", "pod-identity"] = "ecs",
    ) -> None:
        if shape not in ("ecs", "pod-identity"):
            raise InvalidInputError(
                "shape", shape, "unknown shape", fix="use 'ecs' or 'pod-identity'"
            )
        self._lock = threading.Lock()
        self._credentials: CredentialsSource = credentials
        self._token = token
        self._lifetime = lifetime
        self._delay = 0.0
        self._faults: deque[Fault] = deque()
        self._requests = 0
        self._served = 0
        self._metadata_requests = 0
        self._metadata_answer: dict[str, Any] | str | int | None = None
        self.host = host
        self.shape = shape
        self.task_arn = task_arn
        self.path = f"/v2/credentials/{secrets.token_hex(16)}"
        self.metadata_path = f"/v4/{secrets.token_hex(16)}"
        self._port: int | None = None
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._connections: set[socket.socket] = set()
        self._wake: tuple[socket.socket, socket.socket] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> EndpointServer:
        """Start serving (a no-op when running). The first start binds an ephemeral port; a
        later start after :meth:`stop` binds the same port again. Returns ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            cls = _HTTPServer6 if ":" in self.host else _HTTPServer
            try:
                server = cls((self.host, self._port or 0), _Handler)
            except OSError as exc:
                raise Error(
                    f"EndpointServer cannot listen on {self.host} port {self._port or 0}: {exc}",
                    fix="another process took the port meanwhile; use a new EndpointServer",
                ) from exc
            server.owner = self
            self._port = server.server_port
            self._stopped = threading.Event()
            self._server = server
            self._wake = socket.socketpair()
            self._thread = threading.Thread(
                target=_serve,
                args=(server, self._wake[0]),
                name=f"EndpointServer:{self._port}",
                daemon=True,
            )
            self._thread.start()
        log.debug("EndpointServer listening at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection (kept-alive
        ones included), and wake sleeping handlers. New connections are then refused."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._stopped.set()
            connections = list(self._connections)
        if server is None:
            return
        wake, self._wake = self._wake, None
        if wake is not None:
            wake[1].send(b"x")  # ends the accept loop at once (no polling interval to wait)
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        if wake is not None:
            wake[0].close()
            wake[1].close()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # the client's pooled connection sees EOF
        log.debug("EndpointServer on port %s stopped", self._port)

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        with self._lock:
            return self._server is not None

    def __enter__(self) -> EndpointServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        from .._endpoint import shown_url  # the credentials ID cut, as everywhere else

        where = shown_url(self.url) if self._port is not None else "not started"
        return f"EndpointServer({where}, shape={self.shape!r}, running={self.running})"

    # -- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (known once started; kept across stop and start)."""
        if self._port is None:
            raise Error("EndpointServer has no port yet", fix="call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The credentials URL, the value for ``AWS_CONTAINER_CREDENTIALS_FULL_URI``."""
        return self.base_url + self.path

    @property
    def metadata_url(self) -> str:
        """The value for ``ECS_CONTAINER_METADATA_URI_V4`` (serves ``<it>/task``)."""
        return self.base_url + self.metadata_path

    def environ(self, *, token_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """The variables a task would see: the credentials URL, the token (in the variable,
        or written to ``token_file`` and named by ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``)
        and ``ECS_CONTAINER_METADATA_URI_V4``. Writes ``token_file`` when given."""
        env = {FULL_URI: self.url, METADATA_URI: self.metadata_url}
        token = self.token
        if token_file is not None:
            if token is None:
                raise InvalidInputError(
                    "token_file",
                    os.fspath(token_file),
                    "this EndpointServer has no token to write",
                    fix="create it with token=... or leave token_file out",
                )
            self.write_token_file(token_file)
            env[TOKEN_FILE] = os.fspath(token_file)
        elif token is not None:
            env[TOKEN] = token
        return env

    def write_token_file(self, path: str | os.PathLike[str], *, newline: bool = True) -> None:
        """Write the current token to ``path`` atomically (mode 0600), as the EKS agent does:
        a reader never sees half a token. ``newline`` adds a trailing newline."""
        token = self.token
        if token is None:
            raise InvalidInputError(
                "token", None, "this EndpointServer has no token", fix="set server.token first"
            )
        target = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=".token-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(token + ("\n" if newline else ""))
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def rotate_token(
        self, new_token: str, *, token_file: str | os.PathLike[str] | None = None
    ) -> None:
        """Require ``new_token`` from now on and, when given, rewrite ``token_file`` with it."""
        self.token = new_token
        if token_file is not None:
            self.write_token_file(token_file)

    # -- knobs (thread-safe) ------------------------------------------------------------------

    @property
    def credentials(self) -> CredentialsSource:
        """What is served: credentials, a callable returning them, or ``None`` (fakes)."""
        with self._lock:
            return self._credentials

    @credentials.setter
    def credentials(self, value: CredentialsSource) -> None:
        with self._lock:
            self._credentials = value

    @property
    def token(self) -> str | None:
        """The ``Authorization`` header value required, or ``None`` for none."""
        with self._lock:
            return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        with self._lock:
            self._token = value

    @property
    def lifetime(self) -> float | None:
        """When set, every answer expires this many seconds after it is sent."""
        with self._lock:
            return self._lifetime

    @lifetime.setter
    def lifetime(self, value: float | None) -> None:
        with self._lock:
            self._lifetime = value

    @property
    def delay(self) -> float:
        """Seconds every credentials answer waits before it is sent."""
        with self._lock:
            return self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidInputError("delay", value, "it must be a number of seconds >= 0")
        with self._lock:
            self._delay = float(value)

    @property
    def metadata_answer(self) -> dict[str, Any] | str | int | None:
        """Override the task metadata answers: a dict is served as JSON, a str as plain text,
        an int as that error status; ``None`` (the default) serves metadata made from
        ``task_arn``."""
        with self._lock:
            return self._metadata_answer

    @metadata_answer.setter
    def metadata_answer(self, value: dict[str, Any] | str | int | None) -> None:
        with self._lock:
            self._metadata_answer = value

    def queue(self, *faults: Fault) -> None:
        """Queue faults, consumed one per credentials request; then normal answers resume.

        An ``int`` status answers like the agent (503 ``CredentialsUninitialized``, 500
        ``InternalServerError``, 400 ``InvalidIdInRequest`` "Credentials not found", 401, 403;
        429 as plain text). ``("status", code, body_text, headers)`` answers exactly that.
        ``("hang", seconds)`` waits, then answers normally. ``"reset"`` drops the connection
        with a TCP RST, ``"close"`` closes it cleanly, both unanswered. ``"garbage"`` answers
        200 with HTML; ``("json", value)`` answers 200 with that JSON.
        """
        checked = [_check_fault(fault) for fault in faults]
        with self._lock:
            self._faults.extend(checked)

    @property
    def pending_faults(self) -> int:
        """How many queued faults are still to be consumed."""
        with self._lock:
            return len(self._faults)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> int:
        """Requests received on the credentials path."""
        with self._lock:
            return self._requests

    @property
    def served(self) -> int:
        """Normal 200 credential answers sent."""
        with self._lock:
            return self._served

    @property
    def metadata_requests(self) -> int:
        """Requests received on the task metadata paths."""
        with self._lock:
            return self._metadata_requests

    def reset_counters(self) -> None:
        """Set ``requests``, ``served`` and ``metadata_requests`` back to zero."""
        with self._lock:
            self._requests = self._served = self._metadata_requests = 0

    # -- serving (called on handler threads) --------------------------------------------------

    def _track(self, conn: socket.socket) -> threading.Event:
        with self._lock:
            self._connections.add(conn)
            return self._stopped

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _dispatch(self, handler: _Handler) -> None:
        if handler._stopped.is_set():
            self._drop(handler)  # accepted just as stop() ran: behave as if closed
            return
        path = urlsplit(handler.path).path
        if path == self.path:
            self._credentials_request(handler)
        elif path in (self.metadata_path + "/task", self.metadata_path):
            with self._lock:
                self._metadata_requests += 1
                answer = self._metadata_answer
            if answer is None:
                self._send_json(handler, 200, self._metadata(task=path.endswith("/task")))
            elif isinstance(answer, int):
                self._send_json(handler, answer, {"code": _status_words(answer)[0]})
            elif isinstance(answer, str):
                self._send(handler, 200, answer.encode(), "text/plain; charset=utf-8")
            else:
                self._send_json(handler, 200, answer)
        elif path.startswith("/v2/credentials/"):
            code, message = _STATUS_BODIES[400]
            self._send_json(handler, 400, {"code": code, "message": message})
        else:
            self._send_json(handler, 404, {"code": "NotFound", "message": "no such path"})

    def _credentials_request(self, handler: _Handler) -> None:
        with self._lock:
            self._requests += 1
            fault = self._faults.popleft() if self._faults else None
            delay = self._delay
        log.debug("EndpointServer: credentials request (fault %r, delay %s)", fault, delay)
        if delay and handler._stopped.wait(delay):
            self._drop(handler)
            return
        if fault is not None and self._apply_fault(handler, fault):
            return
        token = self.token
        if token is not None:
            given = handler.headers.get("Authorization")
            if given is None or not hmac.compare_digest(
                given.encode("utf-8", "replace"), token.encode("utf-8", "replace")
            ):
                problem = "missing" if given is None else "not valid"
                self._send_json(
                    handler,
                    401,
                    {"code": "Unauthorized", "message": f"The Authorization header is {problem}"},
                )
                return
        try:
            body = self._credentials_body()
        except Exception:  # a test's callable failed: answer as the agent would
            log.debug("EndpointServer: the credentials callable failed", exc_info=True)
            code, message = _STATUS_BODIES[500]
            self._send_json(handler, 500, {"code": code, "message": message})
            return
        # Counted before sending, so that a client that has its answer sees the count.
        with self._lock:
            self._served += 1
        if not self._send_json(handler, 200, body):
            with self._lock:
                self._served -= 1  # the client had gone

    def _apply_fault(self, handler: _Handler, fault: Fault) -> bool:
        """Act out ``fault``; return ``True`` when it answered (or dropped) the request."""
        if isinstance(fault, int):
            if fault == 429:
                self._send(handler, 429, _THROTTLE_TEXT.encode(), "text/plain; charset=utf-8")
            else:
                code, message = _STATUS_BODIES.get(fault, _status_words(fault))
                self._send_json(handler, fault, {"code": code, "message": message})
            return True
        if fault == "reset":
            # SO_LINGER 0: closing sends RST instead of FIN, like a crashed peer.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self._drop(handler)
            return True
        if fault == "close":
            self._drop(handler)
            return True
        if fault == "garbage":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(handler, 200, page, "text/html")
            return True
        assert isinstance(fault, tuple)
        if fault[0] == "hang":
            if handler._stopped.wait(float(fault[1])):
                self._drop(handler)
                return True
            return False
        if fault[0] == "json":
            self._send_json(handler, 200, fault[1])
            return True
        status, text = fault[1], fault[2]
        headers = dict(fault[3]) if len(fault) > 3 else {}
        data = text.encode() if isinstance(text, str) else text
        kind = "application/json" if data.lstrip().startswith(b"{") else "text/plain; charset=utf-8"
        self._send(handler, status, data, kind, headers)
        return True

    def _credentials_body(self) -> dict[str, Any]:
        source = self.credentials
        creds = fake_credentials() if source is None else source() if callable(source) else source
        lifetime = self.lifetime
        account = self._task_arn_parts()["account"]
        expiration: str | None
        if lifetime is not None:
            expires_ns = time.time_ns() + int(lifetime * 1e9)
            expiration = self._format_time(expires_ns // 1000, expires_ns % 1000)
        elif creds.expiration is not None:
            expires = creds.expiration.astimezone(timezone.utc)
            micros = int(
                (expires - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)
            )
            expiration = self._format_time(micros, 0)
        else:
            expiration = None
        body: dict[str, Any]
        if self.shape == "ecs":
            body = {
                "RoleArn": creds.role_arn or f"arn:aws:iam::{account}:role/demo-task-role",
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "Token": creds.session_token,
            }
        else:
            body = {
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "Token": creds.session_token,
                "AccountId": creds.account_id or account,
            }
        if expiration is not None:
            body["Expiration"] = expiration
        return body

    def _format_time(self, epoch_micros: int, extra_nanos: int) -> str:
        when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=epoch_micros)
        if self.shape == "ecs":
            return when.strftime("%Y-%m-%dT%H:%M:%SZ")  # Go's time.RFC3339: whole seconds
        nanos = when.microsecond * 1000 + extra_nanos
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"  # RFC3339Nano-like

    def _task_arn_parts(self) -> dict[str, str]:
        fields = self.task_arn.split(":", 5)
        resource = fields[5] if len(fields) == 6 else "task/default/unknown"
        names = resource.split("/")
        return {
            "partition": fields[1] if len(fields) > 1 else "aws",
            "region": fields[3] if len(fields) > 3 else "us-east-1",
            "account": fields[4] if len(fields) > 4 else "111122223333",
            "cluster": names[1] if len(names) == 3 else "default",
        }

    def _metadata(self, *, task: bool) -> dict[str, Any]:
        parts = self._task_arn_parts()
        cluster = (
            f"arn:{parts['partition']}:ecs:{parts['region']}:{parts['account']}:"
            f"cluster/{parts['cluster']}"
        )
        container = {
            "DockerId": "0" * 64,
            "Name": "app",
            "Image": "app:latest",
            "Labels": {
                "com.amazonaws.ecs.cluster": cluster,
                "com.amazonaws.ecs.task-arn": self.task_arn,
            },
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
        }
        if not task:
            return container
        return {
            "Cluster": cluster,
            "TaskARN": self.task_arn,
            "Family": "demo-task",
            "Revision": "1",
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "AvailabilityZone": f"{parts['region']}a",
            "LaunchType": "FARGATE",
            "Containers": [container],
        }

    def _send_json(self, handler: _Handler, status: int, value: Any) -> bool:
        return self._send(handler, status, json.dumps(value).encode(), "application/json")

    def _send(
        self,
        handler: _Handler,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Send one answer; return ``False`` when the client had already gone."""
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                handler.send_header(name, str(value))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True
            return False
        return True

    def _drop(self, handler: _Handler) -> None:
        """Close the connection without answering."""
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.close()  # the fd closes once the handler's reader lets go
