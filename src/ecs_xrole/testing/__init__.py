"""Loopback stand-ins for AWS and the ECS agent, for tests, the demo and the benchmarks.

Needs the ``local`` extra (``pip install 'ecs-xrole[local]'``, which brings moto's server)::

    with local_stack() as stack, stack.apply():
        ...  # runs as in an ECS task whose role may assume stack.aws.destination_role_arn

:class:`FakeAWS` (moto with two accounts, trust policies enforced, STS faults on demand),
:class:`EndpointServer` (the ECS agent's endpoints), :func:`local_stack` (both, with a
task's environment) and the pytest fixtures of :mod:`ecs_xrole.testing.pytest_plugin`.
Importing this package is cheap: moto and boto3 load only when a server starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._agent import EndpointServer
    from ._agent_http import fake_credentials
    from ._fake_aws import FakeAWS
    from ._stack import LocalStack, local_stack

__all__ = ["EndpointServer", "FakeAWS", "LocalStack", "fake_credentials", "local_stack"]

# The pytest plugin imports this package in every pytest run: keep it free of imports.
_LAZY = {
    "EndpointServer": "_agent",
    "FakeAWS": "_fake_aws",
    "LocalStack": "_stack",
    "fake_credentials": "_agent_http",
    "local_stack": "_stack",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
