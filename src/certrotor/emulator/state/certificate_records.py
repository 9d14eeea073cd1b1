"""Certificate records (seed 004) in the state file: the records, the OpenAir bundle installs, and
the signed import requests sent. Parsing and signing live in ``emulator/records.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from certrotor.crypto import utcnow
from certrotor.emulator.problems import NONEXISTENT_ID, NetSuiteRefusalError
from certrotor.emulator.records import (
    ImportOutcome,
    RecordFile,
    StoredRecord,
    parse_record_file,
    placeholder_file,
)
from certrotor.emulator.state.database import Base, Database, UTCDateTime
from certrotor.errors import AlreadyExistsError
from certrotor.protocol.records import (
    DEFAULT_RECORD_ID,
    DEFAULT_RECORD_NAME,
    FileFormat,
    record_not_found_message,
    record_script_id,
)

RECORD_NOT_FOUND = NONEXISTENT_ID
"""The ``o:errorCode`` of a missing record (NetSuite's code for an unknown ID)."""
_ACCOUNT = "emu_account.account_id"


class _CertificateRecordRow(Base):
    __tablename__ = "emu_certificate_record"
    __table_args__ = (UniqueConstraint("account_id", "script_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), ForeignKey(_ACCOUNT), index=True)
    script_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(8))
    file_content: Mapped[bytes] = mapped_column(LargeBinary)
    password: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class _BundleInstallRow(Base):
    """The OpenAir bundle was installed in this account: its record is not created again."""

    __tablename__ = "emu_record_bundle"
    account_id: Mapped[str] = mapped_column(String(64), ForeignKey(_ACCOUNT), primary_key=True)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class _ImportSentRow(Base):
    """One signed import request the emulator sent, and what the receiver answered."""

    __tablename__ = "emu_record_import"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), ForeignKey(_ACCOUNT))
    script_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def _not_found(script_id: str) -> NetSuiteRefusalError:
    return NetSuiteRefusalError(404, RECORD_NOT_FOUND, record_not_found_message(script_id))


class CertificateRecords:
    """Reads and writes of certificate records, per account, in the state's SQLite file."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def install_bundle(self, account_id: str, *, now: dt.datetime | None = None) -> bool:
        """Install the OpenAir bundle once per account: it adds ``custcertificate_oa_realtime``.

        ``False`` when it was installed before (a record deleted since then stays deleted).
        """
        moment = now or utcnow()
        script_id = record_script_id(DEFAULT_RECORD_ID)
        with self._database.transaction() as session:
            if session.get(_BundleInstallRow, account_id) is not None:
                return False
            session.add(_BundleInstallRow(account_id=account_id, installed_at=moment))
            if _row(session, account_id, script_id) is None:
                _add(session, account_id, script_id, DEFAULT_RECORD_NAME, placeholder_file(), moment)
            return True

    def create(
        self, account_id: str, record_id: str, name: str, file: RecordFile, *, now: dt.datetime
    ) -> StoredRecord:
        """Setup > Company > Certificates > Create New."""
        script_id = record_script_id(record_id)
        with self._database.transaction() as session:
            if _row(session, account_id, script_id) is not None:
                raise AlreadyExistsError(
                    f'Certificate "{script_id}" already exists.',
                    hint="replace its file instead, or delete it first.",
                )
            return _stored(_add(session, account_id, script_id, name, file, now))

    def get(self, account_id: str, script_id: str) -> StoredRecord:
        with self._database.transaction() as session:
            return _stored(_existing(session, account_id, script_id))

    def all(self, account_id: str | None = None) -> list[StoredRecord]:
        with self._database.transaction() as session:
            query = select(_CertificateRecordRow).order_by(_CertificateRecordRow.pk)
            if account_id is not None:
                query = query.where(_CertificateRecordRow.account_id == account_id)
            return [_stored(row) for row in session.scalars(query)]

    def replace_file(
        self, account_id: str, script_id: str, file: RecordFile, *, now: dt.datetime
    ) -> StoredRecord:
        with self._database.transaction() as session:
            row = _existing(session, account_id, script_id)
            row.file_name = file.file_name
            row.file_format = file.file_format
            row.file_content = file.content
            row.password = file.password
            row.updated_at = now
            session.flush()
            return _stored(row)

    def delete(self, account_id: str, script_id: str) -> None:
        with self._database.transaction() as session:
            session.delete(_existing(session, account_id, script_id))

    def log_import(self, account_id: str, script_id: str, outcome: ImportOutcome) -> None:
        with self._database.transaction() as session:
            session.add(
                _ImportSentRow(
                    account_id=account_id,
                    script_id=script_id,
                    url=outcome.url,
                    status_code=outcome.status_code,
                    answer=outcome.answer,
                    fingerprint_sha256=outcome.fingerprint_sha256,
                    sent_at=outcome.sent_at,
                )
            )

    def imports(self) -> list[dict[str, Any]]:
        """Every import request sent, oldest first, with the receiver's answer."""
        with self._database.transaction() as session:
            rows = session.scalars(select(_ImportSentRow).order_by(_ImportSentRow.pk))
            return [
                {
                    "account_id": row.account_id,
                    "script_id": row.script_id,
                    "url": row.url,
                    "status_code": row.status_code,
                    "answer": row.answer,
                    "fingerprint_sha256": row.fingerprint_sha256,
                    "sent_at": row.sent_at.isoformat(),
                }
                for row in rows
            ]


# Row helpers (inside a transaction)


def _row(session: Session, account_id: str, script_id: str) -> _CertificateRecordRow | None:
    return session.scalar(
        select(_CertificateRecordRow).where(
            _CertificateRecordRow.account_id == account_id, _CertificateRecordRow.script_id == script_id
        )
    )


def _existing(session: Session, account_id: str, script_id: str) -> _CertificateRecordRow:
    row = _row(session, account_id, script_id.strip().lower())
    if row is None:
        raise _not_found(script_id)
    return row


def _add(
    session: Session, account_id: str, script_id: str, name: str, file: RecordFile, now: dt.datetime
) -> _CertificateRecordRow:
    row = _CertificateRecordRow(
        account_id=account_id,
        script_id=script_id,
        name=name,
        file_name=file.file_name,
        file_format=file.file_format,
        file_content=file.content,
        password=file.password,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _stored(row: _CertificateRecordRow) -> StoredRecord:
    fmt: FileFormat = "pkcs12" if row.file_format == "pkcs12" else "pem"
    file = parse_record_file(fmt, row.file_content, file_name=row.file_name, password=row.password)
    return StoredRecord(
        internal_id=row.pk,
        account_id=row.account_id,
        script_id=row.script_id,
        name=row.name,
        file=file,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


__all__ = ["RECORD_NOT_FOUND", "CertificateRecords"]
