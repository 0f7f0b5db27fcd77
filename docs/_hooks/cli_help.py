"""An mkdocs hook: put the real ``--help`` text of the command-line tool into the pages.

A line ``<!-- cli-help: doctor -->`` becomes the help of ``ecs-xrole doctor`` (``<!-- cli-help:
-->`` the top-level help) as a code block, taken from ``ecs_xrole.cli.build_parser`` at build
time, so the reference can never drift from the code. A name the parser does not know fails
the build.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

_MARKER = re.compile(r"^<!-- cli-help:\s*(?P<command>[\w-]*)\s*-->$", re.MULTILINE)


def _help(command: str) -> str:
    from ecs_xrole.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width: make it fixed
    parser = build_parser()
    if not command:
        return parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices.get(command)
            if sub is not None:
                return str(sub.format_help())
    raise ValueError(f"docs: `ecs-xrole {command}` does not exist (cli-help marker)")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    def render(match: re.Match[str]) -> str:
        return "```text\n" + _help(match.group("command")).rstrip() + "\n```"

    return _MARKER.sub(render, markdown)
