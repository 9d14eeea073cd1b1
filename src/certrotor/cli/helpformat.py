"""``--help`` at 80 columns: whole option names (the help text wraps instead), no ``<bool>`` on flags.

Typer draws help as a Rich table whose columns all shrink alike, so at 80 columns long option
names were cut with an ellipsis. :func:`install` makes the name columns unwrappable (the type and
the help text wrap instead) and gives flags an empty type; it changes only how help is drawn, and imports Rich
only when help is drawn.
"""

from __future__ import annotations

import functools
from typing import Any

from typer import core as typer_core
from typer._click import Context, HelpFormatter


@functools.cache
def _help_table_class() -> type[Any]:
    from rich.table import Table

    class HelpTable(Table):
        """Typer's help table: option names and their switches are never wrapped nor cut."""

        def add_row(self, *renderables: Any, **options: Any) -> None:
            super().add_row(*renderables, **options)
            # The last two columns are the type and the help text: they wrap to make room.
            for column in self.columns[:-2]:
                column.no_wrap = True
                column.overflow = "ignore"
            for column in self.columns[-2:]:
                column.overflow = "fold"

    return HelpTable


def _plain_flags(command: Any, ctx: Context) -> None:
    """Flags (``--json``, ``--help``) take no value: show no ``<bool>`` type beside them."""
    for param in command.get_params(ctx):
        if isinstance(param, typer_core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


def _with_plain_help(original: Any) -> Any:
    @functools.wraps(original)
    def format_help(self: Any, ctx: Context, formatter: HelpFormatter) -> None:
        from typer import rich_utils

        rich_utils.Table = _help_table_class()  # type: ignore[attr-defined]
        _plain_flags(self, ctx)
        original(self, ctx, formatter)

    return format_help


def install() -> None:
    """Draw every command's help this way (idempotent)."""
    for cls in (typer_core.TyperCommand, typer_core.TyperGroup):
        if not hasattr(cls.format_help, "__wrapped__"):
            cls.format_help = _with_plain_help(cls.format_help)  # type: ignore[method-assign]
