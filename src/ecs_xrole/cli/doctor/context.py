"""What every doctor check shares: its result, the context it reads, small helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..._environ import resolve_region
from ...errors import Error

if TYPE_CHECKING:
    from ..._credentials import TemporaryCredentials
    from ..._endpoint import Endpoint
    from ..._profiles import ProfileSource


def _resolve_region(
    ctx: DoctorContext, *, use_metadata: bool = False
) -> tuple[str | None, str | None]:
    """The region to use and where it came from: the option, the profile, the environment,
    then (with ``use_metadata``, one HTTP call) the ECS task metadata."""
    if ctx.region is not None:
        return ctx.region, ctx.region_from
    # What doctor takes as the explicit region: --region, else the judged profile's (its
    # credential_process line's --region or its region key), ahead of the environment.
    explicit = [
        (ctx.region_name, "--region"),
        (ctx.setting("region"), ctx.settings_from.get("region", "--region")),
    ]
    for value, origin in explicit:
        if value:
            return value, origin
    found = resolve_region(None, task_region=_task_region if use_metadata else None)
    return found if found is not None else (None, None)


def _task_region() -> str | None:
    try:
        from ..._metadata import task_region

        return task_region()
    except Exception:  # metadata absent or unreachable: not a region source then
        return None


#: Clock skew above this fails: SigV4 signatures are refused five minutes out.
MAX_SKEW_SECONDS = 300.0
#: Clock skew above this is reported (still a pass).
NOTE_SKEW_SECONDS = 30.0
#: Session name of the doctor's own AssumeRole when none is configured (shows in CloudTrail).
DOCTOR_SESSION_NAME = "ecs-xrole-doctor"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``ok`` is ``True`` (passed), ``False`` (failed) or ``None`` (skipped: a check it depends on
    did not pass, or it does not apply). ``detail`` says what was found; ``fix`` says what to
    do and is set only for failures. ``warning`` is set on a check that passed but found a
    risk (it does not make doctor fail): what to do about it.
    """

    name: str
    ok: bool | None
    detail: str
    fix: str | None = None
    warning: str | None = None

    @property
    def status(self) -> str:
        """``"pass"``, ``"warn"`` (passed, with a warning), ``"fail"`` or ``"skip"``."""
        if self.ok is True and self.warning:
            return "warn"
        return {True: "pass", False: "fail", None: "skip"}[self.ok]

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form: ``{"check", "ok", "detail", "fix", "warning"}``."""
        return {
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": self.fix,
            "warning": self.warning,
        }


@dataclass
class DoctorContext:
    """The options of a doctor run and what its checks found so far (shared between checks).

    Options: ``profile``, ``role_arn``, ``external_id``, ``duration_seconds``,
    ``role_session_name``, ``region_name``, ``config_file`` (default ``AWS_CONFIG_FILE``,
    else ``~/.aws/config``), ``timeout`` (seconds per network step), ``read_pid1`` (look
    for the endpoint variables in PID 1 when this process lacks them) and ``source_profile``
    (the local-development opt-in; default ``ECS_XROLE_SOURCE_PROFILE``).
    Options given here win over the profile's settings.
    """

    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    duration_seconds: int | None = None
    role_session_name: str | None = None
    region_name: str | None = None
    config_file: str | None = None
    timeout: float = 3.0
    read_pid1: bool = True
    source_profile: str | None = None
    # What the plan found before the checks (see _plan): whether the container endpoint is
    # the source at all, and the profile whose credentials are the source when it is not.
    uses_endpoint: bool = True
    credentials_profile: str | None = None
    credentials_origin: str | None = None
    described: ProfileSource | None = None
    # What the checks found.
    endpoint: Endpoint | None = None
    probe_status: int | None = None
    credentials: TemporaryCredentials | None = None
    caller_arn: str | None = None
    sts_date: datetime | None = None
    sts_local_time: datetime | None = None
    settings: dict[str, str] = field(default_factory=dict)
    settings_from: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    region_from: str | None = None
    assumed: TemporaryCredentials | None = None

    def setting(self, key: str) -> str | None:
        """An effective setting: the option when given, else the profile's."""
        value = self.settings.get(key)
        return value if value else None


Check = Callable[[DoctorContext], CheckResult]


def _ago(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{int(abs(seconds))} s"


def _fail(name: str, exc: Error) -> CheckResult:
    return CheckResult(name, False, exc.what, exc.fix)
