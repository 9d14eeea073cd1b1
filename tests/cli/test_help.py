"""``--help`` at 80 columns: every option name whole, no ``<bool>`` beside a flag."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer._click import Command
from typer.core import TyperGroup

from certrotor.cli.main import root_command

from .conftest import Cli


def _command_paths() -> Iterator[tuple[tuple[str, ...], Command]]:
    """Every command and sub-command, as the words a user types before ``--help``."""
    root = root_command()
    root.load_all()

    def walk(path: tuple[str, ...], command: Command) -> Iterator[tuple[tuple[str, ...], Command]]:
        yield path, command
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                yield from walk((*path, name), sub)

    yield from walk((), root)


COMMAND_PATHS = dict(_command_paths())


class TestHelpAt80Columns:
    @pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "certrotor")
    def test_every_option_name_is_whole_and_flags_show_no_type(
        self, cli: Cli, path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each ``--option`` (and ``--no-option``) of the command appears whole; no ``<bool>``."""
        monkeypatch.setenv("COLUMNS", "80")
        command = COMMAND_PATHS[path]

        result = cli(*path, "--help").assert_ok()

        names = [
            opt
            for param in command.get_params(typer.Context(command))
            for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("--")
        ]
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80
        for name in names:
            whole = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
            assert any(whole.search(line) for line in lines), name
        assert "<bool>" not in result.stdout

    def test_rotate_help_as_a_user_reads_it(self, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
        """The options panel of `certrotor rotate --help`, line by line."""
        monkeypatch.setenv("COLUMNS", "80")

        lines = cli("rotate", "--help").assert_ok().stdout.splitlines()

        start = lines.index("╭─ Options " + "─" * 68 + "╮")
        assert lines[start + 1 : start + 3] == [
            "│ --all                   Every credential (with --due: only due ones).        │",
            "│ --due                   Only credentials whose rotation is due.              │",
        ]
