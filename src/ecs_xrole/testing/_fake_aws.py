"""FakeAWS: moto on loopback with the recipe's two accounts, and STS that enforces policies.

:class:`FakeAWS` runs moto's server application in a daemon thread on an ephemeral loopback
port and sets up the source and destination accounts (their names are in
:mod:`ecs_xrole.testing.aws`); :mod:`._sts_gate` in front of it evaluates trust and identity
policies and carries the knobs (STS faults, an outage, expiry times, counters). It exists so
that tests, the demo and the benchmarks run the cross-account recipe end to end with no AWS
account. moto's state is process-wide: every instance shares the accounts. See
docs/design.md, "The stand-ins".
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import json
import os
import threading
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._credentials import TemporaryCredentials
from .._policy import trust_policy
from ..errors import Error, InvalidInputError
from ._iam_policy import _Caller
from ._sts_gate import _StsGate
from .aws import (
    CHAINED_ROLE_NAME,
    CLUSTER_NAME,
    DESTINATION_ACCOUNT_ID,
    DESTINATION_ROLE_NAME,
    EXTERNAL_ID,
    EXTERNAL_ID_ROLE_NAME,
    OTHER_ACCOUNT_ID,
    REGION,
    SOURCE_ACCOUNT_ID,
    STS_FAULTS,
    TASK_ID,
    TASK_ROLE_NAME,
    TASK_ROLE_POLICY_NAME,
    UNTRUSTING_ROLE_NAME,
    role_arn,
)

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

# Requests carrying this header are the fake's own plumbing (setup, inspection, the task
# role's credentials): they skip the knobs and the counters.
_ADMIN_HEADER = "x-ecs-xrole-admin"
# moto serves a request from the account named in this header (unknown keys otherwise land in
# moto's default account).
_ACCOUNT_HEADER = "x-moto-account-id"
_ADMIN_KEY_ID = "AKIAECSXROLEADMIN000"
_ADMIN_SECRET = "ecs-xrole-fake-admin-secret"  # noqa: S105 (moto does not check it)


# ---------------------------------------------------------------------------------------------
# The fake itself.


def _warm_moto_service_names() -> None:
    """Fill moto's cached table of service names while no profile is named.

    moto builds that table once, on its first request, from a default botocore session, which
    fails with ProfileNotFound (and moto answers 500) when the host's ``AWS_PROFILE`` names a
    profile that the config file does not hold. Nothing of the host's AWS settings matters to
    the table, so it is built here with the profile variables out of the way.
    """
    from moto.core.utils import service_name_from_moto_package_name

    names = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        service_name_from_moto_package_name("iam")
    finally:
        os.environ.update(saved)


def _check_loopback(host: str) -> str:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidInputError(
            "host", host, "the fake AWS binds to loopback only", fix="pass '127.0.0.1' or '::1'"
        )
    return host


_SETUP_LOCK = threading.Lock()


class FakeAWS:
    """moto on loopback with the two accounts of the cross-account recipe.

    ``start()`` binds an ephemeral port (the same one again after ``stop()``), serves from a
    daemon thread and sets up the accounts if this process has not already; use it as a
    context manager. All attributes and knobs are safe to use from any thread.
    """

    def __init__(self, *, host: str = "127.0.0.1", region: str = REGION) -> None:
        self.host = _check_loopback(host)
        self.region = region
        self.task_role_arn = role_arn(SOURCE_ACCOUNT_ID, TASK_ROLE_NAME)
        self.destination_role_arn = role_arn(DESTINATION_ACCOUNT_ID, DESTINATION_ROLE_NAME)
        self.untrusting_role_arn = role_arn(DESTINATION_ACCOUNT_ID, UNTRUSTING_ROLE_NAME)
        self.chained_role_arn = role_arn(DESTINATION_ACCOUNT_ID, CHAINED_ROLE_NAME)
        self.external_id_role_arn = role_arn(DESTINATION_ACCOUNT_ID, EXTERNAL_ID_ROLE_NAME)
        #: Bumped each time the accounts are (re)created; caches of issued keys compare it.
        self.generation = 0
        self._lock = threading.Lock()
        self._life_lock = threading.RLock()  # start() and stop(); re-entered when start fails
        self._port = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._boto_session: Any = None
        self._admin_clients: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, _Caller] = {}
        self._calls: collections.Counter[str] = collections.Counter()
        self._faults: collections.deque[str] = collections.deque()
        self._sts_down = False
        self._sts_lifetime: float | None = None
        self._assume_role_delay = 0.0
        self._identity_removed = False
        self._cluster_generation = -1

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeAWS:
        """Start serving (no-op if running) and make sure both accounts exist.

        Raises :class:`~ecs_xrole.errors.Error` when moto is missing or the port is taken.
        """
        with self._life_lock:
            if self._server is None:
                self._start()
        return self

    def _start(self) -> None:
        if "MOTO_ACCOUNT_ID" in os.environ:
            raise Error(
                "MOTO_ACCOUNT_ID is set, so moto would serve every request from one account",
                fix="unset MOTO_ACCOUNT_ID before starting FakeAWS",
            )
        try:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise Error(
                f"the fake AWS needs moto's server ({exc})",
                fix="pip install 'ecs-xrole[local]'",
            ) from None

        _warm_moto_service_names()

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = _StsGate(DomainDispatcherApplication(create_backend_app), self)
        try:
            server = make_server(
                self.host, self._port, app, threaded=True, request_handler=QuietHandler
            )
        except OSError as exc:
            raise Error(
                f"the fake AWS could not listen on {self.host} port {self._port} ({exc})",
                fix="stop whatever holds the port, or use a new FakeAWS (it picks a free port)",
            ) from None
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() may wait for the loop
            name=f"ecs-xrole-fake-aws-{self._port}",
            daemon=True,
        )
        self._thread.start()
        try:
            self.ensure_accounts()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop serving and close the port (connections are refused); state is kept."""
        with self._life_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(timeout=5)

    def __enter__(self) -> FakeAWS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"FakeAWS({self.endpoint_url!r}, {state})"

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port (0 before the first start)."""
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass as ``endpoint_url`` or set as ``AWS_ENDPOINT_URL``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    # -- clients and setup -------------------------------------------------------------------

    def admin_client(self, service: str, account_id: str = SOURCE_ACCOUNT_ID) -> Any:
        """A boto3 client acting as an administrator of ``account_id``, for setup and checks.

        Its requests skip the STS knobs and are not counted. It ignores the host's AWS
        settings (profiles, config files, keys in the environment). Clients are cached per
        service and account: do not change them.
        """
        key = (service, account_id, self.endpoint_url)
        with self._lock:
            client = self._admin_clients.get(key)
            if client is None:
                client = self._new_admin_client(service, account_id)
                self._admin_clients[key] = client
            return client

    def _new_admin_client(self, service: str, account_id: str) -> Any:
        import boto3
        import botocore.session
        from botocore.config import Config

        if self._boto_session is None:
            # Pin profile and files so that AWS_PROFILE and friends cannot break setup.
            botocore_session = botocore.session.Session(
                session_vars={
                    "profile": (None, None, None, None),
                    "config_file": (None, None, os.devnull, None),
                    "credentials_file": (None, None, os.devnull, None),
                }
            )
            self._boto_session = boto3.session.Session(
                botocore_session=botocore_session,
                aws_access_key_id=_ADMIN_KEY_ID,
                aws_secret_access_key=_ADMIN_SECRET,
                region_name=self.region,
            )
        client = self._boto_session.client(
            service,
            endpoint_url=self.endpoint_url,
            config=Config(retries={"total_max_attempts": 2}, connect_timeout=5, read_timeout=10),
        )

        def mark(request: Any, **_: Any) -> None:
            request.headers[_ACCOUNT_HEADER] = account_id
            request.headers[_ADMIN_HEADER] = "1"

        client.meta.events.register("before-send", mark)
        return client

    def ensure_accounts(self) -> bool:
        """Create the two accounts unless they exist; return whether they were created.

        Cheap when they exist (one request). Called by :meth:`start` and :meth:`reset`.
        """
        iam_source = self.admin_client("iam", SOURCE_ACCOUNT_ID)
        with _SETUP_LOCK:
            try:
                iam_source.get_role(RoleName=TASK_ROLE_NAME)
                return False
            except iam_source.exceptions.NoSuchEntityException:
                pass
            self._create_accounts(iam_source)
            with self._lock:
                self.generation += 1
                self._identity_removed = False
            return True

    def _create_accounts(self, iam_source: Any) -> None:
        ecs_trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam_source.create_role(
            RoleName=TASK_ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(ecs_trust),
            MaxSessionDuration=21600,
        )
        iam_source.put_role_policy(
            RoleName=TASK_ROLE_NAME,
            PolicyName=TASK_ROLE_POLICY_NAME,
            PolicyDocument=json.dumps(self.task_role_identity_policy()),
        )
        iam = self.admin_client("iam", DESTINATION_ACCOUNT_ID)
        work = {
            "Effect": "Allow",
            "Action": ["ecs:ListClusters", "ecs:DescribeClusters", "sts:GetCallerIdentity"],
            "Resource": "*",
        }
        chain = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": self.chained_role_arn}
        other_trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": role_arn(OTHER_ACCOUNT_ID, "someone-else")},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        roles: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
            (DESTINATION_ROLE_NAME, trust_policy(self.task_role_arn), [work, chain]),
            (UNTRUSTING_ROLE_NAME, other_trust, [work]),
            (CHAINED_ROLE_NAME, trust_policy(self.destination_role_arn), [work]),
            (
                EXTERNAL_ID_ROLE_NAME,
                trust_policy(self.task_role_arn, external_id=EXTERNAL_ID),
                [work],
            ),
        ]
        for name, trust, statements in roles:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
            iam.put_role_policy(
                RoleName=name,
                PolicyName="permissions",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            )

    def task_role_identity_policy(self) -> dict[str, Any]:
        """The task role's identity policy: sts:AssumeRole on the roles it may try to assume.

        It names the untrusting role too, so that refusing it is the trust policy's doing.
        """
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AssumeCrossAccountRoles",
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": [
                        self.destination_role_arn,
                        self.untrusting_role_arn,
                        self.external_id_role_arn,
                    ],
                }
            ],
        }

    def remove_identity_policy(self) -> None:
        """Delete the task role's sts:AssumeRole policy (AssumeRole is then denied)."""
        iam = self.admin_client("iam", SOURCE_ACCOUNT_ID)
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            iam.delete_role_policy(RoleName=TASK_ROLE_NAME, PolicyName=TASK_ROLE_POLICY_NAME)
        with self._lock:
            self._identity_removed = True

    def restore_identity_policy(self) -> None:
        """Put the task role's sts:AssumeRole policy back."""
        self.admin_client("iam", SOURCE_ACCOUNT_ID).put_role_policy(
            RoleName=TASK_ROLE_NAME,
            PolicyName=TASK_ROLE_POLICY_NAME,
            PolicyDocument=json.dumps(self.task_role_identity_policy()),
        )
        with self._lock:
            self._identity_removed = False

    def task_role_credentials(
        self, *, lifetime: float | None = None, session_name: str = TASK_ID
    ) -> TemporaryCredentials:
        """Credentials of the ECS task role, from a real AssumeRole through moto.

        What the ECS agent would hand the task: ``role_arn`` is the task role. ``lifetime``
        sets the reported expiry to now + ``lifetime`` seconds (moto itself never checks
        expiry). Not subject to the STS knobs. Does one HTTP request.
        """
        sts = self.admin_client("sts", SOURCE_ACCOUNT_ID)
        answer = sts.assume_role(
            RoleArn=self.task_role_arn, RoleSessionName=session_name, DurationSeconds=21600
        )["Credentials"]
        expiration: datetime = answer["Expiration"]
        if lifetime is not None:
            expiration = datetime.now(timezone.utc) + timedelta(seconds=lifetime)
        return TemporaryCredentials(
            access_key_id=answer["AccessKeyId"],
            secret_access_key=answer["SecretAccessKey"],
            session_token=answer["SessionToken"],
            expiration=expiration,
            role_arn=self.task_role_arn,
            account_id=SOURCE_ACCOUNT_ID,
        )

    # -- knobs -------------------------------------------------------------------------------

    @property
    def assume_role_calls(self) -> int:
        """AssumeRole requests received (faulted and denied ones included; admin ones not)."""
        with self._lock:
            return sum(self._calls.values())

    def assume_role_calls_for(self, role_arn: str) -> int:
        """AssumeRole requests received for ``role_arn``."""
        with self._lock:
            return self._calls[role_arn]

    @property
    def sts_lifetime(self) -> float | None:
        """When set, AssumeRole answers expire ``sts_lifetime`` seconds after they are sent."""
        with self._lock:
            return self._sts_lifetime

    @sts_lifetime.setter
    def sts_lifetime(self, value: float | None) -> None:
        with self._lock:
            self._sts_lifetime = value

    @property
    def assume_role_delay(self) -> float:
        """Seconds every AssumeRole answer waits before it is sent (admin requests never wait)."""
        with self._lock:
            return self._assume_role_delay

    @assume_role_delay.setter
    def assume_role_delay(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise InvalidInputError("assume_role_delay", value, "it must be seconds >= 0")
        with self._lock:
            self._assume_role_delay = float(value)

    @property
    def sts_down(self) -> bool:
        """When true, every STS request gets 503 ServiceUnavailable; other services work."""
        with self._lock:
            return self._sts_down

    @sts_down.setter
    def sts_down(self, value: bool) -> None:
        with self._lock:
            self._sts_down = bool(value)

    def queue_sts_faults(self, *faults: str) -> None:
        """Answer the next AssumeRole requests with these errors, one each, in order.

        Names are the keys of :data:`STS_FAULTS`. Raises
        :class:`~ecs_xrole.errors.InvalidInputError` for any other name.
        """
        for fault in faults:
            if fault not in STS_FAULTS:
                raise InvalidInputError(
                    "fault",
                    fault,
                    "not a fault the fake STS knows",
                    fix=f"use one of {', '.join(STS_FAULTS)}",
                )
        with self._lock:
            self._faults.extend(faults)

    @property
    def queued_sts_faults(self) -> tuple[str, ...]:
        """The faults not yet served."""
        with self._lock:
            return tuple(self._faults)

    def reset(self) -> None:
        """Clear the knobs and counters, put a removed identity policy back, and re-create the
        accounts if moto's state was wiped (both accounts are otherwise left as they are)."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._sts_down = False
            self._sts_lifetime = None
            self._assume_role_delay = 0.0
            removed = self._identity_removed
        if self._server is not None and not self.ensure_accounts() and removed:
            self.restore_identity_policy()

    # -- used by the WSGI layer --------------------------------------------------------------

    def _ensure_cluster(self) -> None:
        """Create the destination cluster before the first ECS request is served.

        Done lazily because loading moto's ECS backend costs most of a second, which callers
        that never touch ECS should not pay. In-process: this runs inside a request.
        """
        with self._lock:
            generation = self.generation
            if self._cluster_generation == generation:
                return
        with _SETUP_LOCK:
            from moto.ecs.models import ecs_backends

            backend = ecs_backends[DESTINATION_ACCOUNT_ID][self.region]
            if CLUSTER_NAME not in backend.clusters:
                backend.create_cluster(CLUSTER_NAME)
        with self._lock:
            self._cluster_generation = generation

    def _count_and_take_fault(self, target: str) -> str | None:
        with self._lock:
            self._calls[target] += 1
            return self._faults.popleft() if self._faults else None

    def _remember(self, access_key_id: str, caller: _Caller) -> None:
        with self._lock:
            self._sessions[access_key_id] = caller

    def _caller(self, access_key_id: str) -> _Caller | None:
        """The session behind a key, if this fake issued it for a role in its accounts."""
        with self._lock:
            caller = self._sessions.get(access_key_id)
        if caller is None or caller.account_id not in (SOURCE_ACCOUNT_ID, DESTINATION_ACCOUNT_ID):
            return None
        return caller
