"""Records of NetSuite's REST web services (customer, employee, salesOrder) per account, with the
sample rows every account starts with; read by ``record/v1`` and ``query/v1/suiteql``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from certrotor.emulator.bounds import parse_internal_id
from certrotor.emulator.problems import NONEXISTENT_ID, USER_ERROR, NetSuiteRefusalError
from certrotor.emulator.record_types import RECORD_TYPES, RecordType
from certrotor.emulator.state.database import Base, Database, UTCDateTime
from certrotor.emulator.state.tenants import account_row

FIRST_NEW_ID = 1000
"""New records of a type get IDs from here (or past the highest), clear of the samples."""
NO_SUCH_RECORD = "The record instance does not exist. Provide a valid record instance ID."


class _RestRecordRow(Base):
    __tablename__ = "emu_rest_record"
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    internal_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class _SeededAccountRow(Base):
    """An account whose sample records were added (once: deleting them later is the user's choice)."""

    __tablename__ = "emu_rest_seeded"
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"), primary_key=True)


@dataclass(frozen=True, slots=True)
class RestRecord:
    record_type: str
    id: int
    fields: dict[str, Any]
    created_at: dt.datetime
    modified_at: dt.datetime


def _record(row: _RestRecordRow) -> RestRecord:
    return RestRecord(
        record_type=row.record_type,
        id=row.internal_id,
        fields=dict(row.fields),
        created_at=row.created_at,
        modified_at=row.modified_at,
    )


class RestRecords:
    """CRUD of REST records inside one account; every call first adds the account's samples once."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _account_pk(self, session: Session, account_id: str, now: dt.datetime) -> int:
        account = account_row(session, account_id)
        if session.get(_SeededAccountRow, account.pk) is None:
            session.add(_SeededAccountRow(account_pk=account.pk))
            for kind in RECORD_TYPES.values():
                for internal_id, sample in kind.samples:
                    session.add(
                        _RestRecordRow(
                            account_pk=account.pk,
                            record_type=kind.name,
                            internal_id=internal_id,
                            fields={**kind.defaults, **sample},
                            created_at=now,
                            modified_at=now,
                        )
                    )
            session.flush()
        return account.pk

    def page(
        self, account_id: str, kind: RecordType, *, limit: int, offset: int, now: dt.datetime
    ) -> tuple[int, list[RestRecord]]:
        """(total, records in ID order from ``offset``, at most ``limit``)."""
        with self._database.transaction() as session:
            account_pk = self._account_pk(session, account_id, now)
            where = (_RestRecordRow.account_pk == account_pk, _RestRecordRow.record_type == kind.name)
            total = session.scalar(select(func.count()).where(*where)) or 0
            rows = session.scalars(
                select(_RestRecordRow)
                .where(*where)
                .order_by(_RestRecordRow.internal_id)
                .offset(offset)
                .limit(limit)
            )
            return total, [_record(row) for row in rows]

    def all(self, account_id: str, kind: RecordType, *, now: dt.datetime) -> list[RestRecord]:
        return self.page(account_id, kind, limit=2**31, offset=0, now=now)[1]

    def get(self, account_id: str, kind: RecordType, record_id: str, *, now: dt.datetime) -> RestRecord:
        with self._database.transaction() as session:
            account_pk = self._account_pk(session, account_id, now)
            return _record(_row(session, account_pk, kind, record_id))

    def find(
        self, account_id: str, kind: RecordType, record_id: str, *, now: dt.datetime
    ) -> RestRecord | None:
        try:
            return self.get(account_id, kind, record_id, now=now)
        except NetSuiteRefusalError:
            return None

    def create(
        self, account_id: str, kind: RecordType, fields: dict[str, Any], *, now: dt.datetime
    ) -> RestRecord:
        with self._database.transaction() as session:
            account_pk = self._account_pk(session, account_id, now)
            _check_references(session, account_pk, kind, fields)
            highest = session.scalar(
                select(func.max(_RestRecordRow.internal_id)).where(
                    _RestRecordRow.account_pk == account_pk, _RestRecordRow.record_type == kind.name
                )
            )
            row = _RestRecordRow(
                account_pk=account_pk,
                record_type=kind.name,
                internal_id=max(FIRST_NEW_ID, (highest or 0) + 1),
                fields={**kind.defaults, **fields},
                created_at=now,
                modified_at=now,
            )
            session.add(row)
            session.flush()
            return _record(row)

    def update(
        self, account_id: str, kind: RecordType, record_id: str, fields: dict[str, Any], *, now: dt.datetime
    ) -> RestRecord:
        with self._database.transaction() as session:
            account_pk = self._account_pk(session, account_id, now)
            row = _row(session, account_pk, kind, record_id)
            _check_references(session, account_pk, kind, fields)
            row.fields = {**row.fields, **fields}
            row.modified_at = now
            session.flush()
            return _record(row)

    def delete(self, account_id: str, kind: RecordType, record_id: str, *, now: dt.datetime) -> None:
        with self._database.transaction() as session:
            account_pk = self._account_pk(session, account_id, now)
            session.delete(_row(session, account_pk, kind, record_id))


def _row(session: Session, account_pk: int, kind: RecordType, record_id: str) -> _RestRecordRow:
    row = None
    number = parse_internal_id(record_id)
    if number is not None:
        row = session.get(_RestRecordRow, (account_pk, kind.name, number))
    if row is None:
        raise NetSuiteRefusalError(404, NONEXISTENT_ID, NO_SUCH_RECORD)
    return row


def _check_references(session: Session, account_pk: int, kind: RecordType, fields: dict[str, Any]) -> None:
    """A reference to a held record type must name an existing record (NetSuite: invalid reference key)."""
    for name, target in kind.references.items():
        value = fields.get(name)
        if not value:
            continue
        target_id = str(value["id"])
        number = parse_internal_id(target_id)
        exists = number is not None and (
            session.get(_RestRecordRow, (account_pk, RECORD_TYPES[target].name, number)) is not None
        )
        if not exists:
            raise NetSuiteRefusalError(
                400,
                USER_ERROR,
                f"Invalid {name} reference key {target_id}.",
                error_path=name,
            )


__all__ = ["RestRecord", "RestRecords"]
