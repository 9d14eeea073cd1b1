"""The database tables as SQLAlchemy 2 typed ORM classes; the migrations create them.

Datetimes are timezone-aware UTC in Python and stored portably: ``timestamptz`` on PostgreSQL,
naive UTC text on SQLite (fixed width, so comparisons in SQL still order correctly).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from certrotor.crypto import KeySpec, utcnow
from certrotor.store.domain import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_RENEW_BEFORE_MAX_SECONDS,
    DEFAULT_RENEW_BEFORE_MIN_SECONDS,
    AuthMode,
    CredentialKind,
    EventOutcome,
    RecordMode,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(dt.UTC)
        # SQLite has no time zone type: store naive UTC so text comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


E = TypeVar("E", bound=enum.StrEnum)


class StrEnumText(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as its value in a short VARCHAR; CHECK constraints live in migrations."""

    impl = String
    cache_ok = True

    def __init__(self, enum_type: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_type = enum_type
        # A dictionary lookup, not the enum's constructor: a fleet's read converts tens of thousands.
        self._members: dict[str, E] = {member.value: member for member in enum_type}

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_type(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        member = self._members.get(value)
        return member if member is not None else self.enum_type(value)


def _utcnow() -> dt.datetime:
    return utcnow()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {dt.datetime: UTCDateTime()}  # noqa: RUF012


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str | None] = mapped_column(String(512))
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)


class CredentialRow(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        # Names are unique among live credentials; a removed one keeps its row for the audit log.
        # Partial indexes name only ``sqlite_where`` here: the migrations create them on both
        # databases, and a ``postgresql_*`` argument would make every process import SQLAlchemy's
        # PostgreSQL dialect (about 25 ms of each command's start-up). Autogenerate compares no WHERE.
        Index(
            "uq_credentials_live_name",
            "name",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
        ),
        Index("ix_credentials_due", "next_rotation_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[CredentialKind] = mapped_column(StrEnumText(CredentialKind))
    account_fk: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[int] = mapped_column(Integer)
    role_id: Mapped[int] = mapped_column(Integer)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    key_spec: Mapped[KeySpec] = mapped_column(StrEnumText(KeySpec))
    validity_seconds: Mapped[int] = mapped_column(Integer)
    renew_before_min_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_RENEW_BEFORE_MIN_SECONDS)
    renew_before_max_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_RENEW_BEFORE_MAX_SECONDS)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_GRACE_SECONDS)
    strategy: Mapped[Strategy] = mapped_column(StrEnumText(Strategy), default=Strategy.AUTO)
    resolved_strategy: Mapped[Strategy | None] = mapped_column(StrEnumText(Strategy))
    auth_mode: Mapped[AuthMode] = mapped_column(StrEnumText(AuthMode), default=AuthMode.SELF)
    auth_credential_fk: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    management_token_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    hook_command: Mapped[str | None] = mapped_column(Text)
    delivery_dir: Mapped[str | None] = mapped_column(String(1024))
    record_script_id: Mapped[str | None] = mapped_column(String(128))
    record_name: Mapped[str | None] = mapped_column(String(256))
    record_mode: Mapped[RecordMode | None] = mapped_column(StrEnumText(RecordMode))
    restlet_script_id: Mapped[str | None] = mapped_column(String(128))
    restlet_deploy_id: Mapped[str | None] = mapped_column(String(128))
    next_rotation_at: Mapped[dt.datetime | None] = mapped_column()
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_rotation_at: Mapped[dt.datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column()
    removed_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=_utcnow, onupdate=_utcnow)

    account: Mapped[AccountRow] = relationship(lazy="joined", innerjoin=True)
    # selectin, not joined: a joined self-reference would drag the other row's account along.
    auth_credential: Mapped[CredentialRow | None] = relationship(remote_side=[id], lazy="selectin")


class CertificateVersionRow(Base):
    __tablename__ = "certificate_versions"
    __table_args__ = (
        # At most one current version per credential, enforced by the database itself.
        Index(
            "uq_certificate_versions_one_current",
            "credential_fk",
            unique=True,
            sqlite_where=text("state = 'current'"),
        ),
        UniqueConstraint("credential_fk", "certificate_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    credential_fk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), index=True)
    state: Mapped[VersionState] = mapped_column(StrEnumText(VersionState))
    certificate_id: Mapped[str | None] = mapped_column(String(128))
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    algorithm: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[dt.datetime] = mapped_column()
    not_after: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class RotationRow(Base):
    __tablename__ = "rotations"
    __table_args__ = (
        # At most one unfinished rotation per credential: a second one would race the first.
        Index(
            "uq_rotations_one_open",
            "credential_fk",
            unique=True,
            sqlite_where=text("finished_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_fk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), index=True)
    trigger: Mapped[RotationTrigger] = mapped_column(StrEnumText(RotationTrigger))
    strategy: Mapped[Strategy] = mapped_column(StrEnumText(Strategy))
    step: Mapped[RotationStep] = mapped_column(StrEnumText(RotationStep))
    new_version_fk: Mapped[str | None] = mapped_column(ForeignKey("certificate_versions.id"))
    old_version_fk: Mapped[str | None] = mapped_column(ForeignKey("certificate_versions.id"))
    retire_after: Mapped[dt.datetime | None] = mapped_column()
    token_prefetched_at: Mapped[dt.datetime | None] = mapped_column()
    """Replace strategy: when a fresh token was fetched with the old certificate before revoking it."""
    started_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=_utcnow, onupdate=_utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class EventRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (see the first migration)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_credential_fk_id", "credential_fk", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_fk: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[EventOutcome] = mapped_column(StrEnumText(EventOutcome))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class StoreMetaRow(Base):
    """Facts about the store itself, such as the id of the master key that seals its secrets."""

    __tablename__ = "store_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class AlertStateRow(Base):
    """What was last alerted about one credential, so that alerts go out on transitions only."""

    __tablename__ = "alert_states"

    credential_fk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(8))
    """The last health status alerted (``OK``, ``WARN``, ``CRIT``); ``None`` before the first."""
    notified_at: Mapped[dt.datetime | None] = mapped_column()
    """When ``status`` was last alerted (the transition or the latest CRIT reminder)."""
    rotation_failure_notified_at: Mapped[dt.datetime | None] = mapped_column()
    """When a failed rotation was last alerted; ``None`` once a rotation succeeds."""
    updated_at: Mapped[dt.datetime] = mapped_column(default=_utcnow, onupdate=_utcnow)


class WebUserRow(Base):
    """A person who may log in to the web console; only an Argon2 hash of the password is kept."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=_utcnow, onupdate=_utcnow)


class WebOnboardingRow(Base):
    """One onboarding by consent started in the console; its share link is kept only as a hash."""

    __tablename__ = "web_onboardings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_name: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[int] = mapped_column(Integer)
    role_id: Mapped[int] = mapped_column(Integer)
    base_url: Mapped[str | None] = mapped_column(String(512))
    manager_credential: Mapped[str | None] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(1024))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secrets_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    """The OAuth ``state`` and PKCE ``code_verifier``, sealed with the master key."""
    share_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    share_used_at: Mapped[dt.datetime | None] = mapped_column()
    started_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class BrokerKeyRow(Base):
    """An application's key for the token broker: only its SHA-256 is kept, never the key itself."""

    __tablename__ = "broker_keys"
    __table_args__ = (
        # One live key per application name; revoked keys keep their rows for the audit trail.
        Index(
            "uq_broker_keys_live_app",
            "app",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app: Mapped[str] = mapped_column(String(64))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the key, so that people can tell keys apart (not enough to guess it)."""
    credentials: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class ObservationRow(Base):
    """The latest observation of one credential's remote state (health, alerts, emergency rotations)."""

    __tablename__ = "observations"

    credential_fk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), primary_key=True)
    observed_at: Mapped[dt.datetime] = mapped_column()
    remote_state: Mapped[str] = mapped_column(String(16))
    """``active``, ``revoked``, ``missing``, ``refused`` or ``unknown`` (see ``health_rules.RemoteState``)."""
    certificate_id: Mapped[str | None] = mapped_column(String(128))
    """The current certificate (or record fingerprint's version) the state is about."""
    foreign_certificate_ids: Mapped[list[str]] = mapped_column(JSON)
    pending_adoption_ids: Mapped[list[str] | None] = mapped_column(JSON)
    """Unknown certificates that may be a pending version's unrecorded upload (never foreign)."""
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    probe_ok: Mapped[bool | None] = mapped_column(Boolean)
    """``None`` when no token was asked for."""
    probe_error: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    """Why NetSuite could not be checked (network, 5xx, timeout)."""
    management_fix: Mapped[str | None] = mapped_column(Text)
    """Set when no management access worked: the command that repairs it."""
    certificate_not_after: Mapped[dt.datetime | None] = mapped_column()
    """A watched (monitor) record: the expiry of the certificate NetSuite holds in it."""
    observer: Mapped[str] = mapped_column(String(128))
