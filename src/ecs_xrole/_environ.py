"""The environment variables the package reads, one home for each rule about them.

The region order: an explicit region, then ``AWS_REGION`` (what ECS sets; the JS SDK reads
only it), then ``AWS_DEFAULT_REGION`` (the only one botocore reads), then the task's region
from the task metadata endpoint. The naming of ecs-xrole's own variables:
``ECS_XROLE_<NAME>_<SUFFIX>`` for profile ``NAME``. Standard library only: the light paths
import it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


#: What every variable of ecs-xrole's own starts with.
ENV_PREFIX = "ECS_XROLE_"


def profile_env_name(profile: str) -> str:
    """The ``<NAME>`` of ``ECS_XROLE_<NAME>_*`` for ``profile``: upper case, and every
    character but an ASCII letter or digit as ``_`` (``my-profile``: ``MY_PROFILE``)."""
    return "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in profile.upper())


#: The variables that name a region, in the order they are read.
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: Where :func:`resolve_region` says a region read from the task metadata came from.
TASK_METADATA = "the ECS task metadata (the task ARN)"


def region_from_environment(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The first of :data:`REGION_VARIABLES` set to a non-empty value in ``environ`` (default
    ``os.environ``): ``(value, variable)``, or ``None``. Not checked; no I/O."""
    env = os.environ if environ is None else environ
    for variable in REGION_VARIABLES:
        value = env.get(variable)
        if value:
            return value, variable
    return None


def resolve_region(
    region_name: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    task_region: Callable[[], str | None] | None = None,
) -> tuple[str, str] | None:
    """The region to use and where it came from, in the one order: ``region_name`` when not
    ``None`` (origin ``"region_name"``), else :func:`region_from_environment`, else
    ``task_region()`` when given and it names one (origin :data:`TASK_METADATA`), else
    ``None``.

    The values are not checked (callers check them, naming the origin); ``task_region`` is the
    only I/O, and callers that must not make it (``policy``, or ``doctor`` before its
    reachability checks) leave it out.
    """
    if region_name is not None:
        return region_name, "region_name"
    found = region_from_environment(environ)
    if found is not None:
        return found
    if task_region is not None:
        region = task_region()
        if region:
            return region, TASK_METADATA
    return None
