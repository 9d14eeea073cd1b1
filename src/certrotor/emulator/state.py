"""The emulator's world in one SQLite file (SQLAlchemy 2): accounts, integrations, users, certificates.

Its own tables (``emu_*``), separate from certrotor's store. Every operation runs in its own
transaction under one lock, so uvicorn's worker threads never interleave a check and its write.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import secrets
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from certrotor.crypto import utcnow
from certrotor.emulator.problems import (
    CERTIFICATE_ALREADY_REVOKED,
    CERTIFICATE_LIMIT_REACHED,
    DUPLICATE_CERTIFICATE,
    ENTITY_ROLE_NOT_MAPPED,
    NONEXISTENT_ID,
    NetSuiteRefusalError,
)
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError

ADMINISTRATOR_ROLE_ID = 3
"""NetSuite's built-in Administrator role, which may always manage certificates."""
FIRST_CUSTOM_ENTITY_ID = 100
FIRST_CUSTOM_ROLE_ID = 1000
SIGNING_KEY_BITS = 2048


class _UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the emulator state")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class _Base(DeclarativeBase):
    pass


class _Account(_Base):
    __tablename__ = "emu_account"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[str] = mapped_column(String(32), unique=True)


class _Integration(_Base):
    __tablename__ = "emu_integration"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"))
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    application_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)


class _Entity(_Base):
    __tablename__ = "emu_entity"
    __table_args__ = (UniqueConstraint("account_pk", "netsuite_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"))
    netsuite_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(32), default="EMPLOYEE")


class _Role(_Base):
    __tablename__ = "emu_role"
    __table_args__ = (UniqueConstraint("account_pk", "netsuite_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"))
    netsuite_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    can_manage_certificates: Mapped[bool] = mapped_column(Boolean, default=False)


class _Mapping(_Base):
    """An (entity, role) allowed to use the client credentials flow on an integration."""

    __tablename__ = "emu_m2m_mapping"
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"), primary_key=True)
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"), primary_key=True)
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"), primary_key=True)


class _Certificate(_Base):
    __tablename__ = "emu_certificate"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[str] = mapped_column(String(64), unique=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"), index=True)
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    pem: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    valid_from: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(_UTCDateTime, nullable=True)


class _UsedAssertion(_Base):
    """A client assertion already spent, kept until it would have expired anyway."""

    __tablename__ = "emu_used_assertion"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime, index=True)


class _IssuedToken(_Base):
    __tablename__ = "emu_issued_token"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    issued_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class _AuthorizationCode(_Base):
    __tablename__ = "emu_authorization_code"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class _RefreshToken(_Base):
    __tablename__ = "emu_refresh_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class _SigningKey(_Base):
    """The emulator's own RSA key that signs access tokens (a test key, kept in the state file)."""

    __tablename__ = "emu_signing_key"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(_UTCDateTime)


class _Counter(_Base):
    __tablename__ = "emu_counter"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class _DemoTenant(_Base):
    __tablename__ = "emu_demo_tenant"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    admin_token: Mapped[str] = mapped_column(Text)


# Snapshots handed out of the state: plain values, never live ORM rows.


@dataclass(frozen=True, slots=True)
class AccountRecord:
    pk: int
    account_id: str
    company_id: str


@dataclass(frozen=True, slots=True)
class IntegrationRecord:
    pk: int
    internal_id: int
    client_id: str
    application_id: str
    name: str
    account: AccountRecord
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EntityRecord:
    pk: int
    id: int
    name: str
    entity_type: str


@dataclass(frozen=True, slots=True)
class RoleRecord:
    pk: int
    id: int
    name: str
    can_manage_certificates: bool

    @property
    def may_manage_certificates(self) -> bool:
        return self.can_manage_certificates or self.id == ADMINISTRATOR_ROLE_ID


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    certificate_id: str
    integration: IntegrationRecord
    entity: EntityRecord
    role: RoleRecord
    pem: str = field(repr=False)
    fingerprint: str
    algorithm: str
    created_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    revoked: bool

    def is_active(self, now: dt.datetime) -> bool:
        return not self.revoked and self.valid_until > now


@dataclass(frozen=True, slots=True)
class NewCertificate:
    """What the certificate endpoint learned from an uploaded PEM, ready to be stored."""

    pem: str = field(repr=False)
    fingerprint: str
    algorithm: str
    valid_from: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """Who a token (or code, or refresh token) speaks for."""

    integration: IntegrationRecord
    entity: EntityRecord
    role: RoleRecord
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    jti: str
    kind: str
    grant: TokenGrant
    expires_at: dt.datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class DemoTenantRecord:
    integration: IntegrationRecord
    entity: EntityRecord
    role: RoleRecord
    admin_token: str = field(repr=False)


def new_certificate_id(*, leading_dash: bool = False) -> str:
    """43-character base64url of 32 random bytes, as NetSuite's certificate IDs."""
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    # Any first character still decodes to 32 bytes: it only sets the top six bits.
    return "-" + value[1:] if leading_dash else value


def new_client_id() -> str:
    return secrets.token_hex(32)


def hash_secret(value: str) -> str:
    """Codes and refresh tokens are stored hashed: the state file never holds them usable."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _account(row: _Account) -> AccountRecord:
    return AccountRecord(pk=row.pk, account_id=row.account_id, company_id=row.company_id)


def _entity(row: _Entity) -> EntityRecord:
    return EntityRecord(pk=row.pk, id=row.netsuite_id, name=row.name, entity_type=row.entity_type)


def _role(row: _Role) -> RoleRecord:
    return RoleRecord(
        pk=row.pk,
        id=row.netsuite_id,
        name=row.name,
        can_manage_certificates=row.can_manage_certificates,
    )


class EmulatorState:
    """All reads and writes of the emulator's SQLite file; safe to share between threads."""

    def __init__(self, engine: Engine, path: Path | None = None) -> None:
        self._engine = engine
        self.path = path
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._lock = threading.RLock()
        self._signing_key: rsa.RSAPrivateKey | None = None
        self._signing_kid: str | None = None

    @classmethod
    def open(cls, path: Path) -> EmulatorState:
        """Open (creating when absent) the state file at ``path``."""
        path = Path(path)
        if path.is_dir():
            raise InputError(
                f"The emulator state path {path} is a directory.",
                hint="give a file name, e.g. --state emulator.db.",
            )
        if not path.parent.exists():
            raise InputError(
                f"The directory {path.parent} of the emulator state file does not exist.",
                hint="create it first or choose another --state path.",
            )
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _configure_sqlite)
        try:
            _Base.metadata.create_all(engine)
        except DatabaseError:
            engine.dispose()
            raise InputError(
                f"The file {path} is not an emulator state (not an SQLite database).",
                hint="give a new file name or one made by `certrotor emulator init`.",
            ) from None
        return cls(engine, path)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._lock, self._sessions.begin() as session:
            yield session

    # Accounts, integrations, entities, roles, mappings

    def create_account(self, account_id: str, *, company_id: str | None = None) -> AccountRecord:
        with self._transaction() as session:
            if session.scalar(select(_Account).where(_Account.account_id == account_id)):
                raise AlreadyExistsError(
                    f"Emulator account {account_id} already exists.",
                    hint="use it or choose another account ID.",
                )
            company = company_id or str(secrets.randbelow(9_000_000) + 1_000_000)
            row = _Account(account_id=account_id, company_id=company)
            session.add(row)
            session.flush()
            return _account(row)

    def get_account(self, account_id: str) -> AccountRecord:
        with self._transaction() as session:
            return _account(self._account_row(session, account_id))

    def create_integration(
        self,
        account_id: str,
        name: str,
        *,
        client_id: str | None = None,
        application_id: str | None = None,
        redirect_uris: Sequence[str] = (),
    ) -> IntegrationRecord:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            chosen = client_id or new_client_id()
            if session.scalar(select(_Integration.pk).where(_Integration.client_id == chosen)):
                raise AlreadyExistsError(
                    f"An integration with client ID {chosen} already exists.",
                    hint="choose another client ID or leave it out.",
                )
            row = _Integration(
                account_pk=account.pk,
                client_id=chosen,
                application_id=(application_id or str(uuid.uuid4())).upper(),
                name=name,
                redirect_uris=list(redirect_uris),
            )
            session.add(row)
            session.flush()
            return self._integration(session, row)

    def find_integration(self, client_id: str) -> IntegrationRecord | None:
        with self._transaction() as session:
            row = session.scalar(select(_Integration).where(_Integration.client_id == client_id))
            return None if row is None else self._integration(session, row)

    def create_entity(
        self,
        account_id: str,
        name: str,
        *,
        entity_id: int | None = None,
        entity_type: str = "EMPLOYEE",
    ) -> EntityRecord:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            netsuite_id = entity_id
            if netsuite_id is None:
                highest = session.scalar(
                    select(func.max(_Entity.netsuite_id)).where(_Entity.account_pk == account.pk)
                )
                netsuite_id = max(FIRST_CUSTOM_ENTITY_ID, (highest or 0) + 1)
            elif self._entity_row(session, account.pk, netsuite_id) is not None:
                raise AlreadyExistsError(
                    f"Entity {netsuite_id} already exists in account {account_id}.",
                    hint="choose another entity ID or leave it out.",
                )
            row = _Entity(account_pk=account.pk, netsuite_id=netsuite_id, name=name, entity_type=entity_type)
            session.add(row)
            session.flush()
            return _entity(row)

    def create_role(
        self,
        account_id: str,
        name: str,
        *,
        role_id: int | None = None,
        can_manage_certificates: bool = False,
    ) -> RoleRecord:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            netsuite_id = role_id
            if netsuite_id is None:
                highest = session.scalar(
                    select(func.max(_Role.netsuite_id)).where(_Role.account_pk == account.pk)
                )
                netsuite_id = max(FIRST_CUSTOM_ROLE_ID, (highest or 0) + 1)
            elif self._role_row(session, account.pk, netsuite_id) is not None:
                raise AlreadyExistsError(
                    f"Role {netsuite_id} already exists in account {account_id}.",
                    hint="choose another role ID or leave it out.",
                )
            row = _Role(
                account_pk=account.pk,
                netsuite_id=netsuite_id,
                name=name,
                can_manage_certificates=can_manage_certificates,
            )
            session.add(row)
            session.flush()
            return _role(row)

    def list_entities(self, account_id: str) -> list[EntityRecord]:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            rows = session.scalars(
                select(_Entity).where(_Entity.account_pk == account.pk).order_by(_Entity.netsuite_id)
            )
            return [_entity(row) for row in rows]

    def list_roles(self, account_id: str) -> list[RoleRecord]:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            rows = session.scalars(
                select(_Role).where(_Role.account_pk == account.pk).order_by(_Role.netsuite_id)
            )
            return [_role(row) for row in rows]

    def find_entity(self, account_id: str, entity_id: int) -> EntityRecord | None:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            row = self._entity_row(session, account.pk, entity_id)
            return None if row is None else _entity(row)

    def find_role(self, account_id: str, role_id: int) -> RoleRecord | None:
        with self._transaction() as session:
            account = self._account_row(session, account_id)
            row = self._role_row(session, account.pk, role_id)
            return None if row is None else _role(row)

    def map_m2m(self, client_id: str, entity_id: int, role_id: int) -> None:
        """Allow (entity, role) to use the client credentials flow on the integration."""
        with self._transaction() as session:
            integration = self._integration_row(session, client_id)
            entity = self._entity_row(session, integration.account_pk, entity_id)
            role = self._role_row(session, integration.account_pk, role_id)
            if entity is None or role is None:
                raise NotFoundError(
                    f"Entity {entity_id} or role {role_id} does not exist in the emulator.",
                    hint="create them first.",
                )
            key = (integration.pk, entity.pk, role.pk)
            if session.get(_Mapping, key) is None:
                session.add(_Mapping(integration_pk=key[0], entity_pk=key[1], role_pk=key[2]))

    def add_combinations(
        self,
        client_id: str,
        count: int,
        *,
        role_id: int | None = None,
        can_manage_certificates: bool = False,
    ) -> list[tuple[int, int]]:
        """``count`` new entities (and new roles unless ``role_id``), mapped for M2M, in one go."""
        with self._transaction() as session:
            integration = self._integration_row(session, client_id)
            account_pk = integration.account_pk
            shared_role = None
            if role_id is not None:
                shared_role = self._role_row(session, account_pk, role_id)
                if shared_role is None:
                    raise NotFoundError(
                        f"Role {role_id} does not exist in the emulator.", hint="create it first."
                    )
            highest_entity = select(func.max(_Entity.netsuite_id)).where(_Entity.account_pk == account_pk)
            highest_role = select(func.max(_Role.netsuite_id)).where(_Role.account_pk == account_pk)
            next_entity = max(FIRST_CUSTOM_ENTITY_ID, (session.scalar(highest_entity) or 0) + 1)
            next_role = max(FIRST_CUSTOM_ROLE_ID, (session.scalar(highest_role) or 0) + 1)
            pairs: list[tuple[int, int]] = []
            for offset in range(count):
                entity = _Entity(
                    account_pk=account_pk,
                    netsuite_id=next_entity + offset,
                    name=f"M2M user {next_entity + offset}",
                    entity_type="EMPLOYEE",
                )
                role = shared_role or _Role(
                    account_pk=account_pk,
                    netsuite_id=next_role + offset,
                    name=f"M2M role {next_role + offset}",
                    can_manage_certificates=can_manage_certificates,
                )
                session.add_all([entity, role])
                session.flush()
                session.add(_Mapping(integration_pk=integration.pk, entity_pk=entity.pk, role_pk=role.pk))
                pairs.append((entity.netsuite_id, role.netsuite_id))
            return pairs

    # Certificates

    def upload_certificate(
        self,
        client_id: str,
        *,
        entity_id: int,
        role_id: int,
        certificate: NewCertificate,
        now: dt.datetime,
        max_active_per_integration: int,
        max_active_per_combination: int | None,
        leading_dash: bool = False,
    ) -> StoredCertificate:
        """Store an uploaded certificate after NetSuite's checks, atomically with the caps."""
        with self._transaction() as session:
            integration = self._integration_row(session, client_id, refusal=True)
            entity = self._entity_row(session, integration.account_pk, entity_id)
            role = self._role_row(session, integration.account_pk, role_id)
            mapped = (
                entity is not None
                and role is not None
                and session.get(_Mapping, (integration.pk, entity.pk, role.pk)) is not None
            )
            if not mapped or entity is None or role is None:
                raise NetSuiteRefusalError(
                    400,
                    ENTITY_ROLE_NOT_MAPPED,
                    f"The entity {entity_id} with the role {role_id} is not mapped to the "
                    f"integration {integration.name!r} for OAuth 2.0 client credentials.",
                )
            existing = session.scalar(
                select(_Certificate).where(_Certificate.fingerprint == certificate.fingerprint)
            )
            if existing is not None:
                raise NetSuiteRefusalError(
                    400,
                    DUPLICATE_CERTIFICATE,
                    f"This certificate is already uploaded (certificate ID "
                    f"{existing.certificate_id}); a certificate can be mapped only once.",
                )
            active = select(func.count()).where(
                _Certificate.integration_pk == integration.pk,
                _Certificate.revoked.is_(False),
                _Certificate.valid_until > now,
            )
            if (session.scalar(active) or 0) >= max_active_per_integration:
                raise NetSuiteRefusalError(
                    400,
                    CERTIFICATE_LIMIT_REACHED,
                    f"The integration {integration.name!r} already has "
                    f"{max_active_per_integration} active certificates, the maximum. "
                    "Revoke a certificate before uploading a new one.",
                )
            if max_active_per_combination is not None:
                same = active.where(_Certificate.entity_pk == entity.pk, _Certificate.role_pk == role.pk)
                if (session.scalar(same) or 0) >= max_active_per_combination:
                    raise NetSuiteRefusalError(
                        400,
                        CERTIFICATE_LIMIT_REACHED,
                        f"The entity {entity_id} with the role {role_id} already has "
                        f"{max_active_per_combination} active certificate(s) on the integration "
                        f"{integration.name!r}. Revoke it before uploading a new one.",
                    )
            row = _Certificate(
                certificate_id=new_certificate_id(leading_dash=leading_dash),
                integration_pk=integration.pk,
                entity_pk=entity.pk,
                role_pk=role.pk,
                pem=certificate.pem,
                fingerprint=certificate.fingerprint,
                algorithm=certificate.algorithm,
                created_at=now,
                valid_from=certificate.valid_from,
                valid_until=certificate.valid_until,
                revoked=False,
            )
            session.add(row)
            self._increment(session, "uploads", client_id)
            session.flush()
            return self._certificate(session, row)

    def list_certificates(self, client_id: str) -> list[StoredCertificate]:
        with self._transaction() as session:
            integration = self._integration_row(session, client_id, refusal=True)
            rows = session.scalars(
                select(_Certificate)
                .where(_Certificate.integration_pk == integration.pk)
                .order_by(_Certificate.pk)
            )
            return [self._certificate(session, row) for row in rows]

    def all_certificates(self) -> list[StoredCertificate]:
        with self._transaction() as session:
            rows = session.scalars(select(_Certificate).order_by(_Certificate.pk))
            return [self._certificate(session, row) for row in rows]

    def find_certificate(self, certificate_id: str) -> StoredCertificate | None:
        with self._transaction() as session:
            row = session.scalar(select(_Certificate).where(_Certificate.certificate_id == certificate_id))
            return None if row is None else self._certificate(session, row)

    def revoke_certificate(
        self, client_id: str, certificate_id: str, *, now: dt.datetime
    ) -> StoredCertificate:
        with self._transaction() as session:
            integration = self._integration_row(session, client_id, refusal=True)
            row = session.scalar(
                select(_Certificate).where(
                    _Certificate.certificate_id == certificate_id,
                    _Certificate.integration_pk == integration.pk,
                )
            )
            if row is None:
                raise NetSuiteRefusalError(
                    404,
                    NONEXISTENT_ID,
                    f"No certificate with ID {certificate_id} exists on this integration.",
                )
            if row.revoked:
                raise NetSuiteRefusalError(
                    400,
                    CERTIFICATE_ALREADY_REVOKED,
                    f"The certificate {certificate_id} is already revoked.",
                )
            row.revoked = True
            row.revoked_at = now
            self._increment(session, "revokes", client_id)
            session.flush()
            return self._certificate(session, row)

    # Replay protection, tokens, codes

    def consume_assertion(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        """Record a spent assertion; ``False`` when it was spent before (a replay)."""
        with self._transaction() as session:
            session.execute(delete(_UsedAssertion).where(_UsedAssertion.expires_at < now))
            if session.get(_UsedAssertion, key) is not None:
                return False
            session.add(_UsedAssertion(key=key, expires_at=expires_at))
            return True

    def record_token(
        self,
        *,
        jti: str,
        kind: str,
        grant: TokenGrant,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
        counter: str | None = None,
    ) -> None:
        with self._transaction() as session:
            session.add(
                _IssuedToken(
                    jti=jti,
                    kind=kind,
                    integration_pk=grant.integration.pk,
                    entity_pk=grant.entity.pk,
                    role_pk=grant.role.pk,
                    scopes=list(grant.scopes),
                    issued_at=issued_at,
                    expires_at=expires_at,
                    revoked=False,
                )
            )
            if counter is not None:
                self._increment(session, "token_grants", counter)

    def find_token(self, jti: str) -> IssuedToken | None:
        with self._transaction() as session:
            row = session.get(_IssuedToken, jti)
            if row is None:
                return None
            return IssuedToken(
                jti=row.jti,
                kind=row.kind,
                grant=self._grant(session, row),
                expires_at=row.expires_at,
                revoked=row.revoked,
            )

    def revoke_token(self, jti: str) -> bool:
        with self._transaction() as session:
            row = session.get(_IssuedToken, jti)
            if row is None:
                return False
            row.revoked = True
            return True

    def store_authorization_code(
        self, code: str, *, grant: TokenGrant, redirect_uri: str, code_challenge: str, expires_at: dt.datetime
    ) -> None:
        with self._transaction() as session:
            session.add(
                _AuthorizationCode(
                    code_hash=hash_secret(code),
                    integration_pk=grant.integration.pk,
                    entity_pk=grant.entity.pk,
                    role_pk=grant.role.pk,
                    redirect_uri=redirect_uri,
                    code_challenge=code_challenge,
                    scopes=list(grant.scopes),
                    expires_at=expires_at,
                    used=False,
                )
            )

    def redeem_authorization_code(self, code: str, *, now: dt.datetime) -> tuple[TokenGrant, str, str] | None:
        """Spend a code once: (grant, redirect URI, PKCE challenge), or ``None`` if unusable."""
        with self._transaction() as session:
            row = session.get(_AuthorizationCode, hash_secret(code))
            if row is None or row.used or row.expires_at <= now:
                return None
            row.used = True
            return self._grant(session, row), row.redirect_uri, row.code_challenge

    def store_refresh_token(self, token: str, *, grant: TokenGrant, expires_at: dt.datetime) -> None:
        with self._transaction() as session:
            session.add(
                _RefreshToken(
                    token_hash=hash_secret(token),
                    integration_pk=grant.integration.pk,
                    entity_pk=grant.entity.pk,
                    role_pk=grant.role.pk,
                    scopes=list(grant.scopes),
                    expires_at=expires_at,
                    revoked=False,
                )
            )

    def find_refresh_token(self, token: str, *, now: dt.datetime) -> TokenGrant | None:
        with self._transaction() as session:
            row = session.get(_RefreshToken, hash_secret(token))
            if row is None or row.revoked or row.expires_at <= now:
                return None
            return self._grant(session, row)

    # The emulator's token signing key

    def signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        """(kid, key) of the key that signs access tokens, created on first use."""
        with self._transaction() as session:
            if self._signing_key is not None and self._signing_kid is not None:
                return self._signing_kid, self._signing_key
            row = session.scalar(select(_SigningKey).order_by(_SigningKey.created_at.desc()))
            if row is None:
                key = _process_signing_key()
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode("ascii")
                row = _SigningKey(kid=secrets.token_urlsafe(16), private_pem=pem, created_at=utcnow())
                session.add(row)
            else:
                loaded = serialization.load_pem_private_key(row.private_pem.encode("ascii"), None)
                assert isinstance(loaded, rsa.RSAPrivateKey)
                key = loaded
            self._signing_kid, self._signing_key = row.kid, key
            return row.kid, key

    # Counters

    def increment(self, name: str, key: str = "", by: int = 1) -> None:
        with self._transaction() as session:
            self._increment(session, name, key, by)

    def counters(self) -> dict[str, Any]:
        """``{name: {key: n}, name_total: n}`` for every counter."""
        with self._transaction() as session:
            result: dict[str, Any] = {}
            for row in session.scalars(select(_Counter).order_by(_Counter.name, _Counter.key)):
                result.setdefault(row.name, {})[row.key] = row.value
                result[f"{row.name}_total"] = result.get(f"{row.name}_total", 0) + row.value
            return result

    # The demo tenant

    def save_demo_tenant(self, *, client_id: str, entity_id: int, role_id: int, admin_token: str) -> None:
        with self._transaction() as session:
            integration = self._integration_row(session, client_id)
            entity = self._entity_row(session, integration.account_pk, entity_id)
            role = self._role_row(session, integration.account_pk, role_id)
            assert entity is not None
            assert role is not None
            session.merge(
                _DemoTenant(
                    pk=1,
                    integration_pk=integration.pk,
                    entity_pk=entity.pk,
                    role_pk=role.pk,
                    admin_token=admin_token,
                )
            )

    def demo_tenant(self) -> DemoTenantRecord | None:
        with self._transaction() as session:
            row = session.get(_DemoTenant, 1)
            if row is None:
                return None
            integration = session.get_one(_Integration, row.integration_pk)
            return DemoTenantRecord(
                integration=self._integration(session, integration),
                entity=_entity(session.get_one(_Entity, row.entity_pk)),
                role=_role(session.get_one(_Role, row.role_pk)),
                admin_token=row.admin_token,
            )

    # Row helpers (inside a transaction)

    def _account_row(self, session: Session, account_id: str) -> _Account:
        row = session.scalar(select(_Account).where(_Account.account_id == account_id))
        if row is None:
            raise NotFoundError(
                f"Emulator account {account_id} does not exist.",
                hint="create it first (certrotor emulator init creates a demo account).",
            )
        return row

    def _integration_row(self, session: Session, client_id: str, *, refusal: bool = False) -> _Integration:
        row = session.scalar(select(_Integration).where(_Integration.client_id == client_id))
        if row is None:
            if refusal:
                raise NetSuiteRefusalError(
                    404, NONEXISTENT_ID, f"No integration record with client ID {client_id} exists."
                )
            raise NotFoundError(
                f"Emulator integration with client ID {client_id} does not exist.",
                hint="create it first.",
            )
        return row

    @staticmethod
    def _entity_row(session: Session, account_pk: int, entity_id: int) -> _Entity | None:
        return session.scalar(
            select(_Entity).where(_Entity.account_pk == account_pk, _Entity.netsuite_id == entity_id)
        )

    @staticmethod
    def _role_row(session: Session, account_pk: int, role_id: int) -> _Role | None:
        return session.scalar(
            select(_Role).where(_Role.account_pk == account_pk, _Role.netsuite_id == role_id)
        )

    @staticmethod
    def _integration(session: Session, row: _Integration) -> IntegrationRecord:
        account = session.get_one(_Account, row.account_pk)
        return IntegrationRecord(
            pk=row.pk,
            internal_id=row.pk,
            client_id=row.client_id,
            application_id=row.application_id,
            name=row.name,
            account=_account(account),
            redirect_uris=tuple(row.redirect_uris or ()),
        )

    def _certificate(self, session: Session, row: _Certificate) -> StoredCertificate:
        return StoredCertificate(
            certificate_id=row.certificate_id,
            integration=self._integration(session, session.get_one(_Integration, row.integration_pk)),
            entity=_entity(session.get_one(_Entity, row.entity_pk)),
            role=_role(session.get_one(_Role, row.role_pk)),
            pem=row.pem,
            fingerprint=row.fingerprint,
            algorithm=row.algorithm,
            created_at=row.created_at,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            revoked=row.revoked,
        )

    def _grant(self, session: Session, row: _IssuedToken | _AuthorizationCode | _RefreshToken) -> TokenGrant:
        return TokenGrant(
            integration=self._integration(session, session.get_one(_Integration, row.integration_pk)),
            entity=_entity(session.get_one(_Entity, row.entity_pk)),
            role=_role(session.get_one(_Role, row.role_pk)),
            scopes=tuple(row.scopes),
        )

    @staticmethod
    def _increment(session: Session, name: str, key: str, by: int = 1) -> None:
        row = session.get(_Counter, (name, key))
        if row is None:
            session.add(_Counter(name=name, key=key, value=by))
        else:
            row.value += by


@functools.cache
def _process_signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process for new state files: generating one costs ~0.3 s, and tests start
    hundreds of emulators. Each state still has its own ``kid`` and token registry, so a token of
    one emulator is refused by another."""
    return rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets a CLI read while the server writes; the busy timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


__all__ = [
    "ADMINISTRATOR_ROLE_ID",
    "AccountRecord",
    "DemoTenantRecord",
    "EmulatorState",
    "EntityRecord",
    "IntegrationRecord",
    "IssuedToken",
    "NewCertificate",
    "RoleRecord",
    "StoredCertificate",
    "TokenGrant",
    "hash_secret",
    "new_certificate_id",
    "new_client_id",
]
