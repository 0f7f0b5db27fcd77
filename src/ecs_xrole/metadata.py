"""What the ECS task metadata endpoint says about this task: its ID, cluster and region.

Used for defaults: the role session name (the task ID, as ECS itself names the task role's
session, so CloudTrail ties the destination account's calls to the task) and the region.
Every function here is best effort: when ``ECS_CONTAINER_METADATA_URI_V4`` is unset or the
endpoint fails, it returns ``None`` (logged at DEBUG) rather than raising. urllib3 is imported
only when a request is made.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidInputError
from .validate import check_region, safe_session_name

__all__ = [
    "METADATA_URI",
    "TaskMetadata",
    "clear_cache",
    "default_session_name",
    "task_metadata",
    "task_region",
]

log = logging.getLogger(__name__)

METADATA_URI = "ECS_CONTAINER_METADATA_URI_V4"
# Task metadata with many containers can be large; anything beyond this is not metadata.
_MAX_BODY = 4 * 1024 * 1024

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
    cost ``timeout`` on every call); ``refresh=True`` asks again. One attempt, no retry,
    ``timeout`` seconds for connecting and again for reading. Never raises for endpoint
    trouble: a missing variable, a URL that is not http(s), a failed request or an answer
    without ``TaskARN`` give ``None``, logged at DEBUG.
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


def _fetch(base: str, timeout: float) -> TaskMetadata | None:
    if not base.lower().startswith(("http://", "https://")) or "@" in base.split("/")[2]:
        log.debug("%s=%r is not a plain http(s) URL; ignored", METADATA_URI, base)
        return None
    url = base.rstrip("/") + "/task"
    import urllib3
    from urllib3.exceptions import HTTPError

    from .fetch import http_pool, read_limited

    try:
        response = http_pool().request(
            "GET",
            url,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
        body = read_limited(response, _MAX_BODY)
    except (HTTPError, OSError, ValueError) as exc:
        log.debug("task metadata request to %s failed: %s", url, exc)
        return None
    if response.status != 200 or body is None:
        log.debug("task metadata %s answered HTTP %d (or too large a body)", url, response.status)
        return None
    try:
        data = json.loads(body)
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
    cluster = data.get("Cluster")
    zone = data.get("AvailabilityZone")
    return TaskMetadata.from_task_arn(
        task_arn,
        cluster=cluster if isinstance(cluster, str) and cluster else None,
        availability_zone=zone if isinstance(zone, str) and zone else None,
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
