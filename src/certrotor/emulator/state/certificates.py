"""Certificates mapped to integrations: upload with NetSuite's checks and both caps, list, find, revoke.

The two caps (active certificates per integration, per (entity, role) combination) are settings of
:class:`~certrotor.emulator.config.EmulatorConfig`, whose defaults and meaning are documented in
``emulator/config.py``; :func:`_check_caps` below is the one place that enforces them.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass, field

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from certrotor.emulator.problems import (
    CERTIFICATE_ALREADY_REVOKED,
    CERTIFICATE_LIMIT_REACHED,
    DUPLICATE_CERTIFICATE,
    ENTITY_ROLE_NOT_MAPPED,
    NONEXISTENT_ID,
    NetSuiteRefusalError,
)
from certrotor.emulator.state.counters import increment_counter
from certrotor.emulator.state.database import Base, Database, ReadCache, UTCDateTime
from certrotor.emulator.state.tenants import (
    EntityInfo,
    EntityRow,
    IntegrationInfo,
    IntegrationRow,
    RoleInfo,
    RoleRow,
    entity_row,
    integration_row,
    is_mapped,
    party_info,
    role_row,
)


class _CertificateRow(Base):
    __tablename__ = "emu_certificate"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[str] = mapped_column(String(64), unique=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"), index=True)
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    pem: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    certificate_id: str
    integration: IntegrationInfo
    entity: EntityInfo
    role: RoleInfo
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


def new_certificate_id(*, leading_dash: bool = False) -> str:
    """43-character base64url of 32 random bytes, as NetSuite's certificate IDs."""
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    # Any first character still decodes to 32 bytes: it only sets the top six bits.
    return "-" + value[1:] if leading_dash else value


class Certificates:
    """Reads and writes of the certificates mapped to integrations."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._found: ReadCache[str, StoredCertificate | None] = ReadCache(database)

    def upload(
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
        limit_error_code: str = CERTIFICATE_LIMIT_REACHED,
    ) -> StoredCertificate:
        """Store an uploaded certificate after NetSuite's checks, atomically with the caps."""
        with self._database.transaction() as session:
            integration = integration_row(session, client_id, refusal=True)
            entity = entity_row(session, integration.account_pk, entity_id)
            role = role_row(session, integration.account_pk, role_id)
            if entity is None or role is None or not is_mapped(session, integration.pk, entity.pk, role.pk):
                raise NetSuiteRefusalError(
                    400,
                    ENTITY_ROLE_NOT_MAPPED,
                    f"The entity {entity_id} with the role {role_id} is not mapped to the "
                    f"integration {integration.name!r} for OAuth 2.0 client credentials.",
                )
            existing = session.scalar(
                select(_CertificateRow).where(_CertificateRow.fingerprint == certificate.fingerprint)
            )
            if existing is not None:
                raise NetSuiteRefusalError(
                    400,
                    DUPLICATE_CERTIFICATE,
                    f"This certificate is already uploaded (certificate ID "
                    f"{existing.certificate_id}); a certificate can be mapped only once.",
                )
            _check_caps(
                session,
                integration=integration,
                entity=entity,
                role=role,
                now=now,
                max_active_per_integration=max_active_per_integration,
                max_active_per_combination=max_active_per_combination,
                limit_error_code=limit_error_code,
            )
            row = _CertificateRow(
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
            increment_counter(session, "uploads", client_id)
            session.flush()
            return _stored(session, row)

    def list_for_integration(self, client_id: str) -> list[StoredCertificate]:
        with self._database.transaction() as session:
            integration = integration_row(session, client_id, refusal=True)
            rows = session.scalars(
                select(_CertificateRow)
                .where(_CertificateRow.integration_pk == integration.pk)
                .order_by(_CertificateRow.pk)
            )
            return [_stored(session, row) for row in rows]

    def all(self) -> list[StoredCertificate]:
        with self._database.transaction() as session:
            rows = session.scalars(select(_CertificateRow).order_by(_CertificateRow.pk))
            return [_stored(session, row) for row in rows]

    def find(self, certificate_id: str, *, version: int | None = None) -> StoredCertificate | None:
        """The certificate (read once until the next commit: every token request asks); ``version``
        as :meth:`ReadCache.get` takes it."""
        return self._found.get(certificate_id, lambda: self._load(certificate_id), version=version)

    def _load(self, certificate_id: str) -> StoredCertificate | None:
        with self._database.transaction() as session:
            row = session.scalar(
                select(_CertificateRow).where(_CertificateRow.certificate_id == certificate_id)
            )
            return None if row is None else _stored(session, row)

    def revoke(self, client_id: str, certificate_id: str, *, now: dt.datetime) -> StoredCertificate:
        with self._database.transaction() as session:
            integration = integration_row(session, client_id, refusal=True)
            row = session.scalar(
                select(_CertificateRow).where(
                    _CertificateRow.certificate_id == certificate_id,
                    _CertificateRow.integration_pk == integration.pk,
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
            increment_counter(session, "revokes", client_id)
            session.flush()
            return _stored(session, row)


def _check_caps(
    session: Session,
    *,
    integration: IntegrationRow,
    entity: EntityRow,
    role: RoleRow,
    now: dt.datetime,
    max_active_per_integration: int,
    max_active_per_combination: int | None,
    limit_error_code: str = CERTIFICATE_LIMIT_REACHED,
) -> None:
    """NetSuite's two caps on active (unrevoked, unexpired) certificates, refused as NetSuite does.

    ``max_active_per_integration``: five per integration record in NetSuite (documented as of 2026.1).
    ``max_active_per_combination``: per (entity, role) on the integration; ``None`` is no cap, ``1``
    forces revoke-then-upload. Defaults: ``EmulatorConfig`` in ``emulator/config.py``.
    ``limit_error_code``: the code both refusals carry (real NetSuite's is not documented).
    """
    active = select(func.count()).where(
        _CertificateRow.integration_pk == integration.pk,
        _CertificateRow.revoked.is_(False),
        _CertificateRow.valid_until > now,
    )
    if (session.scalar(active) or 0) >= max_active_per_integration:
        raise NetSuiteRefusalError(
            400,
            limit_error_code,
            f"The integration {integration.name!r} already has "
            f"{max_active_per_integration} active certificates, the maximum. "
            "Revoke a certificate before uploading a new one.",
        )
    if max_active_per_combination is None:
        return
    same = active.where(_CertificateRow.entity_pk == entity.pk, _CertificateRow.role_pk == role.pk)
    if (session.scalar(same) or 0) >= max_active_per_combination:
        raise NetSuiteRefusalError(
            400,
            limit_error_code,
            f"The entity {entity.netsuite_id} with the role {role.netsuite_id} already has "
            f"{max_active_per_combination} active certificate(s) on the integration "
            f"{integration.name!r}. Revoke it before uploading a new one.",
        )


def _stored(session: Session, row: _CertificateRow) -> StoredCertificate:
    integration, entity, role = party_info(session, row.integration_pk, row.entity_pk, row.role_pk)
    return StoredCertificate(
        certificate_id=row.certificate_id,
        integration=integration,
        entity=entity,
        role=role,
        pem=row.pem,
        fingerprint=row.fingerprint,
        algorithm=row.algorithm,
        created_at=row.created_at,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        revoked=row.revoked,
    )


__all__ = ["Certificates", "NewCertificate", "StoredCertificate", "new_certificate_id"]
