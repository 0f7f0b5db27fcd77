"""A griffe extension for the docs build: render Sphinx roles in docstrings as code.

The source docstrings use reStructuredText roles (``:class:`~ecs_xrole.errors.Error```), which
Markdown would show raw. This turns them into plain code spans (``Error``), without links, so
that a strict build never fails on a cross-reference target that is not rendered.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"``{target}``"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles to code spans in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code, obj.docstring.value)
