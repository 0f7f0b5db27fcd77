"""LocalStack: an ECS task on loopback, a fake AWS plus the credentials endpoint, wired.

::

    with local_stack() as stack, stack.apply():
        ecs_xrole.get_session(stack.aws.destination_role_arn).client("ecs").list_clusters()

Both servers bind ephemeral loopback ports and stop when the ``with`` block ends. Nothing
from the host's AWS settings leaks in: the environment names an empty credentials file and a
fresh config file, and :meth:`LocalStack.apply` removes static keys, profiles and competing
credential sources from ``os.environ`` while it is active.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .._credentials import TemporaryCredentials
from .._endpoint import COMPETING_VARIABLES, RELATIVE_URI, TOKEN, TOKEN_FILE
from ._agent import EndpointServer
from ._fake_aws import FakeAWS
from .aws import REGION, SOURCE_ACCOUNT_ID, TASK_ID

#: Variables :meth:`LocalStack.apply` removes: each would win over, or compete with, the
#: container endpoint (:data:`~ecs_xrole._endpoint.COMPETING_VARIABLES`: static keys and their
#: legacy names, profiles, web identity; the relative endpoint URI that botocore prefers, a
#: token file that beats the token). ``AWS_ENDPOINT_URL_<SERVICE>``
#: variables are removed too, since they would send a service past the fake AWS.
REMOVED_VARIABLES = (
    *COMPETING_VARIABLES,
    RELATIVE_URI,
    TOKEN_FILE,
    TOKEN,
)
_SERVICE_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Renew the cached task-role credentials once less than this share of their life is left
# (at most this many seconds before expiry), as the ECS agent rotates them well ahead.
_RENEW_SHARE = 0.5
_RENEW_MAX = 900.0


class _TaskRoleSource:
    """The endpoint's credentials callable: the task role's keys, cached, renewed near expiry.

    One AssumeRole per renewal, not per endpoint request. Thread-safe.
    """

    def __init__(self, aws: FakeAWS, lifetime: float | None) -> None:
        self._aws = aws
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._creds: TemporaryCredentials | None = None
        self._generation = -1
        self._issued = 0

    def __call__(self) -> TemporaryCredentials:
        with self._lock:
            creds = self._creds
            if creds is None or self._generation != self._aws.generation or self._stale(creds):
                generation = self._aws.generation
                creds = self._aws.task_role_credentials(lifetime=self._lifetime)
                self._creds, self._generation = creds, generation
                self._issued += 1
            return creds

    @property
    def issued(self) -> int:
        """How many sets of task-role credentials were made (AssumeRole calls)."""
        with self._lock:
            return self._issued

    def _stale(self, creds: TemporaryCredentials) -> bool:
        left = creds.seconds_left()
        if left is None:
            return False
        life = self._lifetime if self._lifetime is not None else 6 * 3600.0
        return left < min(life * _RENEW_SHARE, _RENEW_MAX)

    def invalidate(self) -> None:
        """Forget the cached set: the next request makes a new one."""
        with self._lock:
            self._creds = None


@dataclass(frozen=True)
class LocalStack:
    """A running fake AWS and ECS endpoint, and the environment of a task using them.

    ``environ`` holds the variables to set (see :func:`local_stack`); ``config_file`` is the
    ``AWS_CONFIG_FILE`` path (may not exist yet); ``credentials_file`` the empty
    ``AWS_SHARED_CREDENTIALS_FILE``; ``token`` the endpoint's authorization token.
    """

    aws: FakeAWS
    endpoint: EndpointServer
    environ: dict[str, str] = field(repr=False)  # holds the token
    config_file: str
    credentials_file: str
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    _source: _TaskRoleSource | None = field(default=None, repr=False, compare=False)

    def variables_to_remove(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """The variables present in ``environ`` (default ``os.environ``) that :meth:`apply`
        removes: :data:`REMOVED_VARIABLES` and ``AWS_ENDPOINT_URL_<SERVICE>``, unless the
        stack's own environment sets them."""
        env = os.environ if environ is None else environ
        return sorted(
            name
            for name in env
            if (name in REMOVED_VARIABLES or name.startswith(_SERVICE_ENDPOINT_PREFIX))
            and name not in self.environ
        )

    @contextlib.contextmanager
    def apply(self) -> Iterator[LocalStack]:
        """Put :attr:`environ` into ``os.environ`` (and remove the competing variables) for
        the ``with`` block; on exit ``os.environ`` is restored exactly as it was, whatever
        the block changed in it."""
        saved = dict(os.environ)
        try:
            for name in self.variables_to_remove():
                del os.environ[name]
            os.environ.update(self.environ)
            yield self
        finally:
            for name in [n for n in os.environ if n not in saved]:
                del os.environ[name]
            for name, value in saved.items():
                if os.environ.get(name) != value:
                    os.environ[name] = value

    @property
    def task_role_assume_role_calls(self) -> int:
        """How many sets of task-role credentials the endpoint had made (the fake ECS
        agent's own AssumeRole calls, not counted in ``aws.assume_role_calls``)."""
        return self._source.issued if self._source is not None else 0

    def reset(self) -> None:
        """Put every knob back as :func:`local_stack` left it: the fake AWS's (see
        :meth:`FakeAWS.reset`) and the endpoint's (credentials, token, lifetime, delay,
        faults, task metadata, counters); restart either server if a test stopped it; drop
        the cached task-role credentials; remove the config file a test may have written, so
        that ``AWS_CONFIG_FILE`` names no file again, as in a task that has just booted."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.config_file)
        self.aws.start()
        self.aws.reset()
        endpoint = self.endpoint
        endpoint.start()
        endpoint.credentials = self._source
        endpoint.token = self.token
        endpoint.lifetime = None
        endpoint.delay = 0.0
        endpoint.clear_faults()
        endpoint.metadata_answer = None
        endpoint.reset_counters()
        if self.token_file is not None and self.token is not None:
            endpoint.write_token_file(self.token_file, newline=False)
        if self._source is not None:
            self._source.invalidate()


@contextlib.contextmanager
def local_stack(
    *,
    token: str | None = "local-token",  # noqa: S107 (a loopback stand-in's token)
    task_role_lifetime: float | None = None,
    tmp_dir: str | os.PathLike[str] | None = None,
    aws: FakeAWS | None = None,
    region: str = REGION,
    token_file: bool = False,
) -> Iterator[LocalStack]:
    """Start a fake AWS and an ECS credentials endpoint; yield the :class:`LocalStack`.

    The endpoint serves the task role's real (moto) credentials, made by an AssumeRole in the
    source account and reused until close to expiry; ``task_role_lifetime`` makes them
    expire that many seconds after they are made. ``token`` is the endpoint's authorization
    token (``None``: none required); with ``token_file`` it is written to a file named by
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` instead. Pass a running ``aws`` to share one
    :class:`FakeAWS` (it is then left running); ``region`` applies only to a new one.
    Temporary files go into a new directory inside ``tmp_dir`` (default: the system's), which
    is removed on exit.

    ``environ`` holds ``AWS_CONTAINER_CREDENTIALS_FULL_URI``, the token variable,
    ``ECS_CONTAINER_METADATA_URI_V4``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``,
    ``AWS_DEFAULT_REGION``, ``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``,
    ``AWS_EC2_METADATA_DISABLED=true``, and ``NO_PROXY`` and ``no_proxy`` (the host's
    values plus the loopback hosts).
    """
    with contextlib.ExitStack() as cleanup:
        directory = tempfile.mkdtemp(prefix="ecs-xrole-stack-", dir=tmp_dir)
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        if aws is None:
            aws = cleanup.enter_context(FakeAWS(region=region))
        else:
            aws.start()
        source = _TaskRoleSource(aws, task_role_lifetime)
        task_arn = f"arn:aws:ecs:{aws.region}:{SOURCE_ACCOUNT_ID}:task/demo-cluster/{TASK_ID}"
        endpoint = cleanup.enter_context(
            EndpointServer(source, host=aws.host, token=token, task_arn=task_arn)
        )
        config_file = os.path.join(directory, "config")
        credentials_file = os.path.join(directory, "credentials")
        with open(credentials_file, "w", encoding="ascii"):
            pass  # empty: nothing from the host's ~/.aws/credentials
        token_path = os.path.join(directory, "token") if token_file and token else None
        environ = endpoint.environ(token_file=token_path)
        if token_path is not None:
            endpoint.write_token_file(token_path, newline=False)  # botocore does not strip
        environ.update(
            {
                "AWS_ENDPOINT_URL": aws.endpoint_url,
                "AWS_REGION": aws.region,
                "AWS_DEFAULT_REGION": aws.region,
                "AWS_CONFIG_FILE": config_file,
                "AWS_SHARED_CREDENTIALS_FILE": credentials_file,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        # A host proxy must not see loopback traffic; urllib prefers no_proxy when both exist.
        hosts = ",".join([os.environ.get("no_proxy", ""), os.environ.get("NO_PROXY", "")])
        no_proxy = list(dict.fromkeys(h.strip() for h in hosts.split(",") if h.strip()))
        no_proxy += [h for h in _LOOPBACK if h not in no_proxy]
        environ["NO_PROXY"] = environ["no_proxy"] = ",".join(no_proxy)
        yield LocalStack(
            aws=aws,
            endpoint=endpoint,
            environ=environ,
            config_file=config_file,
            credentials_file=credentials_file,
            token=token,
            token_file=token_path,
            _source=source,
        )
