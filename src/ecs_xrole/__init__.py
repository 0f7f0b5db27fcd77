"""ecs-xrole: act as an IAM role in another AWS account from an Amazon ECS task.

The public surface is small::

    import ecs_xrole
    session = ecs_xrole.get_session("arn:aws:iam::555566667777:role/destination-account-role")
    session.client("sts").get_caller_identity()

Importing this package is cheap: the errors and the endpoint detection load at once, everything
that needs botocore or urllib3 loads on first use (``write-config`` never loads boto3).
"""

from __future__ import annotations

from ._lazy import lazy_exports
from ._version import __version__
from .errors import (
    AssumeRoleDeniedError,
    AssumeRoleError,
    ConfigFileBusyError,
    ConfigFileError,
    CredentialsUnavailableError,
    EndpointError,
    EndpointNotAllowedError,
    EndpointNotConfiguredError,
    EndpointRequestError,
    EndpointResponseError,
    Error,
    InvalidInputError,
    ProfileError,
    TokenError,
)

TYPE_CHECKING = False  # as typing's, without importing typing (write-config must start fast)
if TYPE_CHECKING:
    from ._credentials import TemporaryCredentials
    from ._endpoint import Endpoint, detect_endpoint
    from ._fetch import fetch_credentials
    from ._refresh import RefreshingCredentials
    from ._session import (
        get_client,
        get_credentials,
        get_session,
        get_task_role_credentials,
    )
    from ._status import CredentialsStatus, credentials_status
    from .options import AssumeOptions

__all__ = [
    "AssumeOptions",
    "AssumeRoleDeniedError",
    "AssumeRoleError",
    "ConfigFileBusyError",
    "ConfigFileError",
    "CredentialsStatus",
    "CredentialsUnavailableError",
    "Endpoint",
    "EndpointError",
    "EndpointNotAllowedError",
    "EndpointNotConfiguredError",
    "EndpointRequestError",
    "EndpointResponseError",
    "Error",
    "InvalidInputError",
    "ProfileError",
    "RefreshingCredentials",
    "TemporaryCredentials",
    "TokenError",
    "__version__",
    "credentials_status",
    "detect_endpoint",
    "fetch_credentials",
    "get_client",
    "get_credentials",
    "get_session",
    "get_task_role_credentials",
]

# Loaded on first use so that `import ecs_xrole` does not import urllib3, botocore or boto3.
_LAZY = {
    "AssumeOptions": "options",
    "Endpoint": "_endpoint",
    "detect_endpoint": "_endpoint",
    "TemporaryCredentials": "_credentials",
    "RefreshingCredentials": "_refresh",
    "CredentialsStatus": "_status",
    "credentials_status": "_status",
    "fetch_credentials": "_fetch",
    "get_client": "_session",
    "get_credentials": "_session",
    "get_session": "_session",
    "get_task_role_credentials": "_session",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
