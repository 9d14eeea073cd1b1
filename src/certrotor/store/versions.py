"""Certificate versions in the store: key pairs sealed at rest and bound to their row, their states,
remote certificate IDs, and the atomic swap that makes one version current.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certrotor.crypto import (
    PrivateKey,
    certificate_to_pem,
    fingerprint_sha256,
    jws_algorithm_for_key,
    keys_match,
    load_private_key_pem,
    private_key_to_pem,
    utcnow,
)
from certrotor.errors import AlreadyExistsError, InputError, StoreError
from certrotor.keyvault import MasterKey
from certrotor.store.domain import CertificateVersion, VersionState
from certrotor.store.lookups import (
    CredentialRef,
    VersionRef,
    credential_row,
    current_version_row,
    lock_credential,
    version_row,
)
from certrotor.store.mapping import aware_utc, to_version
from certrotor.store.models import CertificateVersionRow, CredentialRow

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_ACTIVATABLE = frozenset({VersionState.PENDING, VersionState.UPLOADED, VersionState.PREVIOUS})
_UPLOADING = frozenset({VersionState.PENDING, VersionState.UPLOADED})
"""The states whose certificate ID may be recorded with a state change (an upload's outcome)."""


def _refuse_demotion(row: CertificateVersionRow, state: VersionState) -> None:
    """The current version leaves ``current`` only through activate() or by being revoked: a writer
    working from a stale snapshot (reconcile, a resumed upload) must never demote it."""
    if row.state is VersionState.CURRENT and state not in (VersionState.CURRENT, VersionState.REVOKED):
        raise StoreError(
            f"Version {row.id} is current; making it {state.value} would leave the credential without "
            "a current certificate.",
            hint="read the version again: another process has changed it since it was read.",
        )


def add(
    session: Session,
    master_key: MasterKey,
    credential: CredentialRef,
    private_key: PrivateKey,
    certificate: x509.Certificate,
    state: VersionState,
    certificate_id: str | None,
) -> CertificateVersion:
    """Insert a version with its key sealed under ``master_key``, bound to the new row's identity.

    Two writers adding the same certificate at once make the commit raise IntegrityError; the
    caller turns it into :func:`duplicate_certificate`.
    """
    if state is VersionState.CURRENT:
        raise InputError(
            "A new version cannot be added as current.",
            hint="add it as pending or uploaded, then call activate().",
        )
    if not keys_match(private_key, certificate):
        raise InputError(
            "The private key does not belong to the certificate.",
            hint="give the key the certificate was generated for.",
        )
    fingerprint = fingerprint_sha256(certificate)
    version_id = str(uuid.uuid4())
    algorithm = jws_algorithm_for_key(private_key)
    owner = credential_row(session, credential)
    if _by_fingerprint(session, fingerprint) is not None:
        raise duplicate_certificate(fingerprint)
    key_sealed = master_key.seal(
        private_key_to_pem(private_key),
        aad=_version_aad(version_id, owner.id, fingerprint),
    )
    row = CertificateVersionRow(
        id=version_id,
        credential_fk=owner.id,
        state=state,
        certificate_id=certificate_id,
        fingerprint_sha256=fingerprint,
        certificate_pem=certificate_to_pem(certificate),
        key_sealed=key_sealed,
        algorithm=algorithm,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        created_at=utcnow(),
        revoked_at=utcnow() if state is VersionState.REVOKED else None,
    )
    session.add(row)
    session.flush()
    return to_version(row)


def duplicate_certificate(fingerprint: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"The store already holds the certificate with fingerprint {fingerprint[:16]}...",
        hint="generate a new key pair; a certificate can belong to one version only.",
    )


def load_private_key(session: Session, master_key: MasterKey, version: VersionRef) -> PrivateKey:
    """Open a version's sealed key; a wrong master key or a tampered row raises."""
    row = version_row(session, version)
    aad = _version_aad(row.id, row.credential_fk, row.fingerprint_sha256)
    return load_private_key_pem(master_key.open_sealed(row.key_sealed, aad=aad))


def get(session: Session, version: VersionRef) -> CertificateVersion:
    return to_version(version_row(session, version))


def set_state(
    session: Session,
    version: VersionRef,
    state: VersionState,
    *,
    activated_at: dt.datetime | None,
    revoked_at: dt.datetime | None,
) -> CertificateVersion:
    """Move a version to ``state`` (``revoked`` stamps ``revoked_at`` unless given)."""
    if state is VersionState.CURRENT:
        raise InputError(
            "A version becomes current only through activate().",
            hint="call activate(credential, version_id), which also demotes the old one.",
        )
    row = version_row(session, version)
    _refuse_demotion(row, state)
    row.state = state
    if activated_at is not None:
        row.activated_at = aware_utc(activated_at)
    if state is VersionState.REVOKED:
        row.revoked_at = aware_utc(revoked_at) if revoked_at else row.revoked_at or utcnow()
    elif revoked_at is not None:
        row.revoked_at = aware_utc(revoked_at)
    session.flush()
    return to_version(row)


def set_remote_certificate_id(
    session: Session,
    version: VersionRef,
    certificate_id: str,
    *,
    state: VersionState | None,
) -> CertificateVersion:
    """Record NetSuite's certificate ID (and a new state) at once; a version has one ID for life.

    Another version of the credential holding the same ID makes the commit raise IntegrityError;
    the caller turns it into :func:`certificate_id_taken`.
    """
    if not certificate_id.strip():
        raise InputError("The certificate ID is empty.", hint="give NetSuite's certificate_id.")
    if state is VersionState.CURRENT:
        raise InputError(
            "A version becomes current only through activate().",
            hint="record the certificate ID with state uploaded, then call activate().",
        )
    row = version_row(session, version)
    if row.certificate_id not in (None, certificate_id):
        raise StoreError(
            f"Version {row.id} already has certificate ID {row.certificate_id}.",
            hint="a version maps to exactly one remote certificate; add a new version.",
        )
    if state is not None and state is not row.state:
        _refuse_demotion(row, state)
        if row.state not in _UPLOADING:
            raise StoreError(
                f"Version {row.id} is {row.state.value}; its certificate ID cannot take it back to "
                f"{state.value}.",
                hint="read the version again: another process has changed it since it was read.",
            )
    row.certificate_id = certificate_id
    if state is not None:
        row.state = state
    session.flush()
    return to_version(row)


def certificate_id_taken(certificate_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"Another version of this credential already has certificate ID {certificate_id}.",
        hint="look it up with version_by_certificate_id() and reuse it.",
    )


def of_credential(
    session: Session, credential: CredentialRef, states: Iterable[VersionState] | None
) -> list[CertificateVersion]:
    """The credential's versions, oldest first (optionally only in some states)."""
    return of_credential_id(session, credential_row(session, credential).id, states)


def of_credential_id(
    session: Session, credential_id: int, states: Iterable[VersionState] | None = None
) -> list[CertificateVersion]:
    """The versions of the credential with row id ``credential_id``, oldest first."""
    query = select(CertificateVersionRow).where(CertificateVersionRow.credential_fk == credential_id)
    if states is not None:
        query = query.where(CertificateVersionRow.state.in_(list(states)))
    query = query.order_by(CertificateVersionRow.created_at, CertificateVersionRow.id)
    return [to_version(row) for row in session.scalars(query)]


def certificate_ids_on_integration(session: Session, credential: CredentialRef) -> set[str]:
    """The certificate IDs every credential of this store on ``credential``'s integration (same
    account and client ID) has recorded: none of them is foreign to any of those credentials."""
    owner = credential_row(session, credential)
    query = (
        select(CertificateVersionRow.certificate_id)
        .join(CredentialRow, CredentialRow.id == CertificateVersionRow.credential_fk)
        .where(
            CredentialRow.account_fk == owner.account_fk,
            CredentialRow.client_id == owner.client_id,
            CertificateVersionRow.certificate_id.is_not(None),
        )
    )
    return {certificate_id for certificate_id in session.scalars(query) if certificate_id}


def pending_on_integration(session: Session, credential: CredentialRef) -> list[CertificateVersion]:
    """Pending versions without a certificate ID of every credential of this store on ``credential``'s
    integration: their uploads may be on NetSuite unrecorded (a crash, or a rotation in flight)."""
    owner = credential_row(session, credential)
    query = (
        select(CertificateVersionRow)
        .join(CredentialRow, CredentialRow.id == CertificateVersionRow.credential_fk)
        .where(
            CredentialRow.account_fk == owner.account_fk,
            CredentialRow.client_id == owner.client_id,
            CertificateVersionRow.state == VersionState.PENDING,
            CertificateVersionRow.certificate_id.is_(None),
        )
        .order_by(CertificateVersionRow.created_at, CertificateVersionRow.id)
    )
    return [to_version(row) for row in session.scalars(query)]


def current(session: Session, credential: CredentialRef) -> CertificateVersion | None:
    row = current_version_row(session, credential_row(session, credential).id)
    return None if row is None else to_version(row)


def by_fingerprint(session: Session, fingerprint: str) -> CertificateVersion | None:
    """The version with this SHA-256 fingerprint (hex, any case, colons allowed)."""
    normalized = fingerprint.replace(":", "").strip().lower()
    if not _FINGERPRINT.fullmatch(normalized):
        raise InputError(f"{fingerprint!r} is not a SHA-256 fingerprint.", hint="give 64 hex digits.")
    row = _by_fingerprint(session, normalized)
    return None if row is None else to_version(row)


def by_certificate_id(
    session: Session, credential: CredentialRef, certificate_id: str
) -> CertificateVersion | None:
    owner = credential_row(session, credential)
    row = session.scalar(
        select(CertificateVersionRow).where(
            CertificateVersionRow.credential_fk == owner.id,
            CertificateVersionRow.certificate_id == certificate_id,
        )
    )
    return None if row is None else to_version(row)


def activate(session: Session, credential: CredentialRef, new_version: VersionRef) -> CertificateVersion:
    """Make ``new_version`` current and the old current one previous; idempotent."""
    owner = lock_credential(session, credential)
    row = version_row(session, new_version)
    if row.credential_fk != owner.id:
        raise InputError(
            f"Version {row.id} does not belong to credential {owner.name!r}.",
            hint="activate a version of the same credential.",
        )
    if row.state is VersionState.CURRENT:
        return to_version(row)
    if row.state not in _ACTIVATABLE:
        raise InputError(
            f"Version {row.id} is {row.state.value} and cannot become current.",
            hint="rotate to get a new certificate (`certrotor rotate NAME`).",
        )
    old = current_version_row(session, owner.id)
    now = utcnow()
    if old is not None:
        old.state = VersionState.PREVIOUS
        # Flush the demotion first: the one-current index is checked row by row.
        session.flush()
    row.state = VersionState.CURRENT
    row.activated_at = now
    session.flush()
    return to_version(row)


def _by_fingerprint(session: Session, fingerprint: str) -> CertificateVersionRow | None:
    return session.scalar(
        select(CertificateVersionRow).where(CertificateVersionRow.fingerprint_sha256 == fingerprint)
    )


def _version_aad(version_id: str, credential_id: int, fingerprint: str) -> bytes:
    return f"certrotor/version/v1|{version_id}|{credential_id}|{fingerprint}".encode()
