"""Counters of what the emulator did (uploads, revokes, token grants, refusals), for the admin API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from certrotor.emulator.state.database import Base, Database


class _CounterRow(Base):
    __tablename__ = "emu_counter"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def increment_counter(session: Session, name: str, key: str, by: int = 1) -> None:
    """Count inside the caller's transaction, so the count commits with what it counts."""
    row = session.get(_CounterRow, (name, key))
    if row is None:
        session.add(_CounterRow(name=name, key=key, value=by))
    else:
        row.value += by


class Counters:
    """The stored counters, by name and key."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def increment(self, name: str, key: str = "", by: int = 1) -> None:
        """Count with the next deferred write (write-behind): a refusal is not worth a commit."""
        self._database.defer(lambda session: increment_counter(session, name, key, by))

    def all(self) -> dict[str, Any]:
        """``{name: {key: n}, name_total: n}`` for every counter (deferred counts included)."""
        self._database.flush()
        with self._database.transaction() as session:
            result: dict[str, Any] = {}
            for row in session.scalars(select(_CounterRow).order_by(_CounterRow.name, _CounterRow.key)):
                result.setdefault(row.name, {})[row.key] = row.value
                result[f"{row.name}_total"] = result.get(f"{row.name}_total", 0) + row.value
            return result


__all__ = ["Counters", "increment_counter"]
