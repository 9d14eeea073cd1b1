"""Printing for the CLI: Rich tables for people, JSON for machines, one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


class _EnvironWithoutColumns(Mapping[str, str]):
    """``os.environ`` as Rich reads it, minus ``COLUMNS``: Rich would fix the width at start-up."""

    def __getitem__(self, key: str) -> str:
        if key == "COLUMNS":
            raise KeyError(key)
        return os.environ[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in os.environ if key != "COLUMNS")

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Console(Console):
    """Width: ``COLUMNS`` when set (read at every print), else the terminal's, else 80."""

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        columns = os.environ.get("COLUMNS", "")
        if self._width is None and columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), found.height)
        return found

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


# No emoji codes: a fingerprint's ":CD:" must stay text.
console = _Console(highlight=False, soft_wrap=True, emoji=False, _environ=_EnvironWithoutColumns())
error_console = _Console(
    stderr=True, highlight=False, soft_wrap=True, emoji=False, _environ=_EnvironWithoutColumns()
)

_FOLDED_COLUMN_FLOOR = 4
"""Narrowest a wrapped column gets before a table is allowed to outgrow the terminal."""


def table(*headers: str, ids: Collection[str] = (), **options: Any) -> Table:
    """A table whose ``ids`` columns are never wrapped nor cut (people copy them into commands).

    Other columns wrap, folding long words, to make room. Fill it with :func:`add_row`, print it
    with :func:`print_table`.
    """
    rows = Table(**options)
    for header in headers:
        if header in ids:
            rows.add_column(header, no_wrap=True, overflow="ignore")
        else:
            rows.add_column(header, overflow="fold")
    return rows


def add_row(rows: Table, *cells: object) -> None:
    """Cells as plain text: no markup, so a value with brackets prints as it is."""
    rows.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in cells))


def print_table(rows: Table, *, to: Console | None = None) -> None:
    """Print ``rows`` as wide as the output, or wider when only that keeps every ID column whole."""
    out = to or console
    options = out.options.update_width(1_000_000)
    needed = 1
    for column in rows.columns:
        cells = [*column.cells, Text(str(column.header))]
        widest = max(Measurement.get(out, options, cell).maximum for cell in cells)
        needed += 3 + (widest if column.no_wrap else min(widest, _FOLDED_COLUMN_FLOOR))
    if needed <= out.width:
        out.print(rows)
        return
    wider = Console(file=out.file, width=needed, highlight=False, emoji=False, force_terminal=out.is_terminal)
    wider.print(rows)


def _default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no Rich markup), so scripts can parse it."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def format_time(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class FleetProgress:
    """Work over many credentials: each outcome printed as it happens; on a terminal also a progress
    bar (the credential being worked on, done/total, elapsed) below them. Quiet with ``--json``.
    """

    def __init__(self, total: int, *, verb: str, quiet: bool = False, out: Console | None = None) -> None:
        self.out = out or console
        self.verb = verb
        self.quiet = quiet
        self._bar: Any = None
        self._task: Any = None
        if not quiet and total > 0 and self.out.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.out,
                transient=True,
            )
            self._task = self._bar.add_task(verb, total=total)

    def __enter__(self) -> FleetProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def working_on(self, name: str) -> None:
        """The credential now being worked on (shown in the bar)."""
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self.verb} {name}")
            self._bar.refresh()  # at once, not at the next tick: the bar names what runs now

    def done(self, *lines: str, next_name: str | None = None) -> None:
        """One credential finished: its lines (Rich markup) now, above the bar; the bar advances (and
        names ``next_name``, the credential now waited for, in the same frame)."""
        if self.quiet:
            return
        for line in lines:
            self.out.print(line)
        if self._bar is not None:
            named = {"description": f"{self.verb} {next_name}"} if next_name is not None else {}
            self._bar.update(self._task, advance=1, **named)  # one update: no frame in between
            self._bar.refresh()
