"""Certificate records of the emulator (seed 004): files with key and certificate, signed import requests.

A record is what Setup > Company > Certificates holds: a name, a script ID (``custcertificate_...``)
and a file (PEM with key and certificate, or PKCS#12 with a password) whose key NetSuite signs
with. Records live in their own tables of the emulator's SQLite file. Installing the OpenAir bundle
(once per account) creates ``custcertificate_oa_realtime`` holding the bundled placeholder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import (
    DateTime,
    Dialect,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from certrotor.crypto import fingerprint_sha256, utcnow
from certrotor.emulator.problems import INVALID_CERTIFICATE, NONEXISTENT_ID, NetSuiteRefusalError
from certrotor.emulator.state import EmulatorState
from certrotor.errors import AlreadyExistsError, ConfigError
from certrotor.protocol.records import (
    DEFAULT_RECORD_ID,
    DEFAULT_RECORD_NAME,
    PLACEHOLDER_FILE_NAME,
    CertificateRecordInfo,
    FileFormat,
    placeholder_fingerprint,
    placeholder_pem,
    record_not_found_message,
    record_script_id,
)
from certrotor.protocol.signed_import import (
    IMPORT_PATH,
    SIGNATURE_PARAM,
    SYNCHRONIZE_ACTION,
    SigningKey,
    canonical_query,
    sign_query,
)

MIN_RECORD_RSA_BITS = 2048
RECORD_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
ANSWER_EXCERPT_CHARS = 2000
SEND_TIMEOUT_SECONDS = 15.0
RECORD_NOT_FOUND = NONEXISTENT_ID
"""The ``o:errorCode`` of a missing record (NetSuite's code for an unknown ID)."""

_PEM_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)


class _UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class _Base(DeclarativeBase):
    pass


class _Record(_Base):
    __tablename__ = "emu_certificate_record"
    __table_args__ = (UniqueConstraint("account_id", "script_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    script_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(8))
    file_content: Mapped[bytes] = mapped_column(LargeBinary)
    password: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)


class _BundleInstall(_Base):
    """The OpenAir bundle was installed in this account: its record is not created again."""

    __tablename__ = "emu_record_bundle"
    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    installed_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)


class _ImportSent(_Base):
    """One signed import request the emulator sent, and what the receiver answered."""

    __tablename__ = "emu_record_import"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64))
    script_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)


@dataclass(frozen=True, slots=True)
class RecordFile:
    """A record's file, parsed: what NetSuite keeps, and the key it signs with."""

    file_name: str
    file_format: FileFormat
    content: bytes = field(repr=False)
    password: str | None = field(repr=False)
    private_key: SigningKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.certificate)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    internal_id: int
    account_id: str
    script_id: str
    name: str
    file: RecordFile = field(repr=False)
    created_at: dt.datetime
    updated_at: dt.datetime

    def info(self, *, now: dt.datetime) -> CertificateRecordInfo:
        """The RESTlet's answer for this record: public facts only."""
        certificate = self.file.certificate
        public_key = certificate.public_key()
        key_type = "EC" if isinstance(public_key, ec.EllipticCurvePublicKey) else "RSA"
        key_size = (
            public_key.key_size if isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else 0
        )
        not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        return CertificateRecordInfo(
            script_id=self.script_id,
            name=self.name,
            internal_id=self.internal_id,
            file_name=self.file.file_name,
            file_format=self.file.file_format,
            certificate=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            fingerprint_sha256=self.file.fingerprint,
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            key_type=key_type,
            key_size=key_size,
            not_before=not_before,
            not_after=not_after,
            is_placeholder=self.file.fingerprint == placeholder_fingerprint(),
            valid=not_before <= now < not_after,
            date_created=self.created_at,
            last_modified=self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """A sent import request: where it went, the signed query and the receiver's answer."""

    url: str
    query: str
    signature: str
    fingerprint_sha256: str
    status_code: int | None
    answer: str
    sent_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "query": self.query,
            "signature": self.signature,
            "fingerprint_sha256": self.fingerprint_sha256,
            "status_code": self.status_code,
            "answer": self.answer,
            "sent_at": self.sent_at.isoformat(),
        }


def _refuse(detail: str) -> NetSuiteRefusalError:
    return NetSuiteRefusalError(400, INVALID_CERTIFICATE, detail)


def _check_signing_key(key: object) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RECORD_RSA_BITS:
            raise _refuse(
                f"RSA keys of {key.key_size} bits are too weak; use at least {MIN_RECORD_RSA_BITS}."
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in RECORD_CURVES:
            raise _refuse(f"The elliptic curve {key.curve.name} is not supported; use P-256, P-384 or P-521.")
        return key
    raise _refuse(f"Unsupported private key type {type(key).__name__}; use RSA or EC.")


def _parse_pem(data: bytes, password: str | None) -> tuple[SigningKey, x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _refuse("The file holds no readable PEM certificate (-----BEGIN CERTIFICATE-----).") from None
    blocks = [match.group(0) for match in _PEM_KEY.finditer(data)]
    if not blocks:
        raise _refuse(
            "The file holds no private key; a certificate record needs the key NetSuite signs with "
            "(PEM with the certificate and its key, or PKCS#12)."
        )
    if len(certificates) != 1 or len(blocks) != 1:
        raise _refuse("The PEM file must hold exactly one certificate and one private key.")
    secret = password.encode("utf-8") if password else None
    try:
        key = serialization.load_pem_private_key(blocks[0], secret)
    except (ValueError, TypeError):
        raise _refuse("The private key is malformed, or encrypted and the password is wrong.") from None
    return _check_signing_key(key), certificates[0]


def _parse_pkcs12(data: bytes, password: str | None) -> tuple[SigningKey, x509.Certificate]:
    secret = password.encode("utf-8") if password else None
    try:
        key, certificate, _chain = pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError):
        raise _refuse(
            "The PKCS#12 file cannot be opened: it is malformed or the password is wrong."
        ) from None
    if key is None or certificate is None:
        raise _refuse("The PKCS#12 file must hold a certificate and its private key.")
    return _check_signing_key(key), certificate


def parse_record_file(
    file_format: FileFormat, file_content: str | bytes, *, file_name: str, password: str | None
) -> RecordFile:
    """NetSuite's checks of an uploaded record file; an expired certificate passes (the placeholder is)."""
    if file_format == "pem":
        raw = file_content.encode("utf-8") if isinstance(file_content, str) else file_content
        key, certificate = _parse_pem(raw, password)
    else:
        if isinstance(file_content, bytes):
            raw = file_content
        else:
            try:
                raw = base64.b64decode(file_content, validate=True)
            except (binascii.Error, ValueError):
                raise _refuse("A PKCS#12 file_content must be base64 text.") from None
        key, certificate = _parse_pkcs12(raw, password)
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, fmt
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, fmt):
        raise _refuse("The private key does not belong to the certificate in the file.")
    return RecordFile(
        file_name=file_name,
        file_format=file_format,
        content=raw,
        password=password,
        private_key=key,
        certificate=certificate,
    )


def placeholder_file() -> RecordFile:
    return parse_record_file("pem", placeholder_pem(), file_name=PLACEHOLDER_FILE_NAME, password=None)


def _not_found(script_id: str) -> NetSuiteRefusalError:
    return NetSuiteRefusalError(404, RECORD_NOT_FOUND, record_not_found_message(script_id))


class CertificateRecords:
    """Reads and writes of the records tables, beside the emulator's state in the same SQLite file."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._lock = threading.RLock()
        _Base.metadata.create_all(engine)
        # The app that holds these records has no shutdown hook: close the pool when they go.
        weakref.finalize(self, engine.dispose)

    @classmethod
    def beside(cls, state: EmulatorState) -> CertificateRecords:
        """Records in the state's own SQLite file."""
        if state.path is None:
            raise ConfigError(
                "Certificate records need an emulator state opened from a file.",
                hint="open the state with EmulatorState.open(path).",
            )
        engine = create_engine(
            f"sqlite:///{Path(state.path)}", connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _configure_sqlite)
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._lock, self._sessions.begin() as session:
            yield session

    def install_bundle(self, account_id: str, *, now: dt.datetime | None = None) -> bool:
        """Install the OpenAir bundle once per account: it adds ``custcertificate_oa_realtime``.

        ``False`` when it was installed before (a record deleted since then stays deleted).
        """
        moment = now or utcnow()
        script_id = record_script_id(DEFAULT_RECORD_ID)
        with self._transaction() as session:
            if session.get(_BundleInstall, account_id) is not None:
                return False
            session.add(_BundleInstall(account_id=account_id, installed_at=moment))
            if self._row(session, account_id, script_id) is None:
                self._add(session, account_id, script_id, DEFAULT_RECORD_NAME, placeholder_file(), moment)
            return True

    def create(
        self, account_id: str, record_id: str, name: str, file: RecordFile, *, now: dt.datetime
    ) -> StoredRecord:
        """Setup > Company > Certificates > Create New."""
        script_id = record_script_id(record_id)
        with self._transaction() as session:
            if self._row(session, account_id, script_id) is not None:
                raise AlreadyExistsError(
                    f'Certificate "{script_id}" already exists.',
                    hint="replace its file instead, or delete it first.",
                )
            return self._stored(self._add(session, account_id, script_id, name, file, now))

    def get(self, account_id: str, script_id: str) -> StoredRecord:
        with self._transaction() as session:
            return self._stored(self._existing(session, account_id, script_id))

    def all(self, account_id: str | None = None) -> list[StoredRecord]:
        with self._transaction() as session:
            query = select(_Record).order_by(_Record.pk)
            if account_id is not None:
                query = query.where(_Record.account_id == account_id)
            return [self._stored(row) for row in session.scalars(query)]

    def replace_file(
        self, account_id: str, script_id: str, file: RecordFile, *, now: dt.datetime
    ) -> StoredRecord:
        with self._transaction() as session:
            row = self._existing(session, account_id, script_id)
            row.file_name = file.file_name
            row.file_format = file.file_format
            row.file_content = file.content
            row.password = file.password
            row.updated_at = now
            session.flush()
            return self._stored(row)

    def delete(self, account_id: str, script_id: str) -> None:
        with self._transaction() as session:
            session.delete(self._existing(session, account_id, script_id))

    def log_import(self, account_id: str, script_id: str, outcome: ImportOutcome) -> None:
        with self._transaction() as session:
            session.add(
                _ImportSent(
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
        with self._transaction() as session:
            rows = session.scalars(select(_ImportSent).order_by(_ImportSent.pk))
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

    @staticmethod
    def _row(session: Session, account_id: str, script_id: str) -> _Record | None:
        return session.scalar(
            select(_Record).where(_Record.account_id == account_id, _Record.script_id == script_id)
        )

    def _existing(self, session: Session, account_id: str, script_id: str) -> _Record:
        row = self._row(session, account_id, script_id.strip().lower())
        if row is None:
            raise _not_found(script_id)
        return row

    @staticmethod
    def _add(
        session: Session, account_id: str, script_id: str, name: str, file: RecordFile, now: dt.datetime
    ) -> _Record:
        row = _Record(
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

    @staticmethod
    def _stored(row: _Record) -> StoredRecord:
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


def import_fields(
    *,
    db_id: str,
    record_type: str,
    ns_id: str,
    netsuite_user_id: str,
    timestamp: int,
    action: str = SYNCHRONIZE_ACTION,
) -> dict[str, str]:
    return {
        "action": action,
        "db_id": db_id,
        "record_type": record_type,
        "ns_id": ns_id,
        "netsuite_user_id": netsuite_user_id,
        "timestamp": str(timestamp),
    }


def send_import(record: StoredRecord, receiver_url: str, fields: Mapping[str, str]) -> ImportOutcome:
    """Sign the import query with the record's key and GET ``<receiver>/netsuite.pl?...`` as SuiteScript."""
    query = canonical_query(fields)
    signature = sign_query(query, record.file.private_key)
    url = f"{receiver_url.rstrip('/')}{IMPORT_PATH}?{query}&{SIGNATURE_PARAM}={quote(signature, safe='')}"
    status: int | None = None
    try:
        with httpx2.Client(timeout=httpx2.Timeout(SEND_TIMEOUT_SECONDS), follow_redirects=False) as client:
            response = client.get(url)
        status, answer = response.status_code, response.text[:ANSWER_EXCERPT_CHARS]
    except httpx2.TransportError as error:
        answer = f"{type(error).__name__}: {error}"[:ANSWER_EXCERPT_CHARS]
    return ImportOutcome(
        url=url,
        query=query,
        signature=signature,
        fingerprint_sha256=record.file.fingerprint,
        status_code=status,
        answer=answer,
        sent_at=utcnow(),
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


__all__ = [
    "CertificateRecords",
    "ImportOutcome",
    "RecordFile",
    "StoredRecord",
    "import_fields",
    "parse_record_file",
    "placeholder_file",
    "send_import",
]
