"""What the ECS task metadata endpoint says about this task: its ID, cluster and region.

Used for defaults: the role session name (the task ID, as ECS itself names the task role's
session, so CloudTrail ties the destination account's calls to the task) and the region.
Every function here is best effort: when ``ECS_CONTAINER_METADATA_URI_V4`` is unset or the
endpoint fails, it returns ``None`` (logged at DEBUG; a URL the allow-list refuses at WARNING)
rather than raising. What the endpoint says is not trusted: the URL must pass the same kind of
allow-list as the credentials endpoint, the request ends by its deadline whatever the server
does, and the task ARN must have the shape of one before its ID becomes a session name.
urllib3 is imported only when a request is made.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._validate import check_region, safe_session_name
from .errors import InvalidInputError

log = logging.getLogger("ecs_xrole.metadata")

METADATA_URI = "ECS_CONTAINER_METADATA_URI_V4"
# Task metadata with many containers can be large; anything beyond this is not metadata.
_MAX_BODY = 4 * 1024 * 1024

_ECS_AGENT = ipaddress.ip_address("169.254.170.2")

_cache: dict[str, TaskMetadata | None] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class TaskMetadata:
    """The parts of the task metadata ecs-xrole uses.

    ``task_arn``: the task's ARN. ``task_id``: its last part. ``cluster``: as the endpoint
    reports it (usually the cluster ARN), or ``None``. ``region``: the 4th field of the task
    ARN, or ``None`` when that is not a region. ``availability_zone``: or ``None``.
    """

    task_arn: str
    task_id: str
    cluster: str | None
    region: str | None
    availability_zone: str | None

    @classmethod
    def from_task_arn(
        cls,
        task_arn: str,
        *,
        cluster: str | None = None,
        availability_zone: str | None = None,
    ) -> TaskMetadata:
        """Build from a task ARN (``arn:aws:ecs:<region>:<account>:task/<cluster>/<id>``)."""
        fields = task_arn.split(":")
        region: str | None = None
        if len(fields) > 5:
            try:
                region = check_region(fields[3])
            except InvalidInputError:
                region = None
        return cls(
            task_arn=task_arn,
            task_id=task_arn.rsplit("/", 1)[-1],
            cluster=cluster,
            region=region,
            availability_zone=availability_zone,
        )


def clear_cache() -> None:
    """Forget every cached answer (tests, or after the task metadata changed)."""
    with _cache_lock:
        _cache.clear()


def task_metadata(
    environ: Mapping[str, str] | None = None, *, timeout: float = 1.0, refresh: bool = False
) -> TaskMetadata | None:
    """GET ``$ECS_CONTAINER_METADATA_URI_V4/task`` and return what it says, or ``None``.

    ``environ`` defaults to ``os.environ``. The answer, a failure included, is cached per
    process and per URI (a task's metadata does not change, and a failing endpoint must not
    cost ``timeout`` on every call); ``refresh=True`` asks again. One attempt, no retry, no
    redirect, ended ``timeout`` seconds (wall clock) after it starts whatever the server
    does. Never raises for endpoint trouble: a missing variable, a URL that
    :func:`check_metadata_url` refuses (logged at WARNING), a failed request, or an answer
    without a ``TaskARN`` shaped like an ECS task ARN give ``None``, logged at DEBUG.
    """
    env = os.environ if environ is None else environ
    base = env.get(METADATA_URI)
    if not base:
        return None
    with _cache_lock:
        if not refresh and base in _cache:
            return _cache[base]
    result = _fetch(base, timeout)
    with _cache_lock:
        _cache[base] = result
    return result


def check_metadata_url(base: str) -> str | None:
    """Why ``base`` may not be used as ``ECS_CONTAINER_METADATA_URI_V4``, or ``None`` if it may.

    The same discipline as the credentials endpoint, narrower: plain ``http`` to the ECS
    agent's address ``169.254.170.2`` or to loopback (``127.0.0.0/8``, ``[::1]``,
    ``localhost``), compared as literals; no userinfo, query, fragment, white space or control
    character (a ``?`` or ``#`` would make the requested path arbitrary). Pure.
    """
    if any(ord(ch) <= 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in base):
        return "it holds white space or a control character"
    try:
        parts = urlsplit(base)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme.lower() != "http":
        return f"the scheme {parts.scheme or '<none>'!r} is not http (the ECS agent serves http)"
    if "@" in parts.netloc:
        return "it holds userinfo (user:password@)"
    if "?" in base or "#" in base:
        return "it holds a query or fragment ('?' or '#'), which would change the path requested"
    if not host or not _host_allowed(host):
        return f"host {host!r} is not allowed: only 169.254.170.2 and loopback serve task metadata"
    return None


def _host_allowed(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: never resolved, so never trusted
    return address == _ECS_AGENT or address.is_loopback


# arn:<partition>:ecs:<region>:<account>:task/[<cluster>/]<id>; the ID is 32 hex digits (the
# current format) or a UUID (tasks from before 2018's long ARN format).
_TASK_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]{1,32}:\d{12}:task/(?:[A-Za-z0-9_-]{1,255}/)?"
    r"(?P<id>[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
    re.ASCII,
)
_ZONE = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+[a-z]", re.ASCII)
_PRINTABLE = re.compile(r"[\x21-\x7e]{1,2048}", re.ASCII)


def _fetch(base: str, timeout: float) -> TaskMetadata | None:
    refused = check_metadata_url(base)
    if refused is not None:
        log.warning(
            "%s=%r is ignored: %s (the ECS agent sets it to http://169.254.170.2/v4/<id>)",
            METADATA_URI,
            base[:200],
            refused,
        )
        return None
    url = base.rstrip("/") + "/task"
    from urllib3.exceptions import HTTPError

    from ._http import http_get

    try:
        answer = http_get(
            url,
            headers={"Accept": "application/json"},
            deadline=time.monotonic() + timeout,
            connect_timeout=timeout,
            read_timeout=timeout,
            limit=_MAX_BODY,
        )
    except (HTTPError, OSError, ValueError) as exc:
        log.debug("task metadata request to %s failed: %s", url, exc)
        return None
    if answer.status != 200 or answer.body is None:
        log.debug("task metadata %s answered HTTP %d (or too large a body)", url, answer.status)
        return None
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):
        log.debug("task metadata %s answered with a body that is not JSON", url)
        return None
    if not isinstance(data, dict):
        log.debug("task metadata %s answered with JSON that is not an object", url)
        return None
    task_arn = data.get("TaskARN")
    if not isinstance(task_arn, str) or not task_arn:
        log.debug("task metadata %s holds no TaskARN", url)
        return None
    if _TASK_ARN.fullmatch(task_arn) is None:
        # It becomes the session name CloudTrail shows: only a real task ID may.
        log.debug(
            "task metadata %s holds a TaskARN that is not an ECS task ARN (%d characters); ignored",
            url,
            len(task_arn),
        )
        return None
    cluster = data.get("Cluster")
    zone = data.get("AvailabilityZone")
    return TaskMetadata.from_task_arn(
        task_arn,
        cluster=cluster if isinstance(cluster, str) and _PRINTABLE.fullmatch(cluster) else None,
        availability_zone=zone if isinstance(zone, str) and _ZONE.fullmatch(zone) else None,
    )


def default_session_name(environ: Mapping[str, str] | None = None, *, timeout: float = 1.0) -> str:
    """The session name to use when none is given: the ECS task ID, else the host name.

    Always a valid role session name (2-64 characters of ``[\\w+=,.@-]``). May make one
    request to the task metadata endpoint (cached, see :func:`task_metadata`); never raises.
    """
    metadata = task_metadata(environ, timeout=timeout)
    if metadata is not None and metadata.task_id:
        return safe_session_name(metadata.task_id)
    try:
        host = socket.gethostname()
    except OSError:
        host = ""
    return safe_session_name(host)


def task_region(environ: Mapping[str, str] | None = None, *, timeout: float = 1.0) -> str | None:
    """The region in the task's ARN, or ``None`` when it cannot be learnt. Never raises."""
    metadata = task_metadata(environ, timeout=timeout)
    return metadata.region if metadata is not None else None
