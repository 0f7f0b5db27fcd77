"""-v/--verbose: one definition (cli._common._add_verbose), the same on every command."""

from __future__ import annotations

import argparse

import pytest

from ecs_xrole.cli import build_parser


def _verbose(parser: argparse.ArgumentParser) -> argparse.Action:
    (action,) = (a for a in parser._actions if "--verbose" in a.option_strings)
    return action


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def test_the_top_level_counts_from_zero() -> None:
    action = _verbose(build_parser())
    assert action.option_strings == ["-v", "--verbose"]
    assert isinstance(action, argparse._CountAction)
    assert action.default == 0
    assert action.help == "log more to stderr (-vv for debug)"


def test_every_subcommand_accepts_the_same_flag_after_its_name() -> None:
    commands = _subcommands(build_parser())
    expected = {"write-config", "whoami", "credential-process", "doctor", "policy", "exec"}
    assert expected <= commands.keys()
    for name, parser in commands.items():
        action = _verbose(parser)
        assert action.option_strings == ["-v", "--verbose"], name
        assert isinstance(action, argparse._CountAction), name
        assert action.default is argparse.SUPPRESS, name  # keeps a -v given before the name
        assert action.help == "log more to stderr", name


@pytest.mark.parametrize(
    ("words", "count"),
    [
        (["whoami"], 0),
        (["-v", "whoami"], 1),
        (["-vv", "whoami"], 2),
        (["whoami", "-vv"], 2),
        (["doctor", "-v"], 1),
        (["-v", "exec", "--role-arn", "arn:aws:iam::111122223333:role/r", "--", "true"], 1),
    ],
)
def test_the_count_reaches_main(words: list[str], count: int) -> None:
    assert build_parser().parse_args(words).verbose == count
