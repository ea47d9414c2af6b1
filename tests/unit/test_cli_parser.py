"""The CLI builds the parser of the named subcommand alone: each ``harness.commands.<name>``
must register exactly the subcommand ``<name>``, and an unknown word still gets every one."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import COMMANDS, build_parser, command_word, main


def subcommands(p: argparse.ArgumentParser) -> set[str]:
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_the_full_parser_has_every_command() -> None:
    assert subcommands(build_parser()) == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_each_module_registers_its_own_name(name: str) -> None:
    assert subcommands(build_parser(name)) == {name}


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["init", "--dir", "net"], "init"),
        (["fault", "--dir", "run", "isolate", "v1"], "fault"),
        (["-h"], None),
        ([], None),
        (["explode"], None),
    ],
)
def test_command_word(argv: list[str], word: str | None) -> None:
    assert command_word(argv) == word


def test_an_unknown_command_lists_every_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["explode"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'explode'" in err
    for name in COMMANDS:
        assert name in err
