"""Observations: the latest remote state seen for each credential, and a whole fleet's health facts
read in a handful of queries (so a monitoring check over 10,000 credentials answers in about a second).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certrotor.errors import MasterKeyError
from certrotor.store.domain import CertificateVersion, Credential, VersionState
from certrotor.store.mapping import to_credential, to_version
from certrotor.store.models import (
    CertificateVersionRow,
    CredentialRow,
    ObservationRow,
    RotationRow,
)
from certrotor.store.versions import _version_aad

if TYPE_CHECKING:
    from certrotor.store import Store

REMOTE_STATES = ("active", "revoked", "missing", "refused", "unknown")


@dataclass(frozen=True, slots=True)
class Observation:
    """What NetSuite said about one credential at ``observed_at`` (or why it could not say)."""

    credential: str
    observed_at: dt.datetime
    remote_state: str = "unknown"
    certificate_id: str | None = None
    foreign_certificate_ids: tuple[str, ...] = ()
    pending_adoption_ids: tuple[str, ...] = ()
    """Unknown certificates that may be a pending version's unrecorded upload (never foreign)."""
    placeholder: bool = False
    probe_ok: bool | None = None
    probe_error: str | None = None
    error: str | None = None
    management_fix: str | None = None
    observer: str = ""
    certificate_not_after: dt.datetime | None = None
    """A watched (monitor) record: the expiry of its certificate as NetSuite holds it."""

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - self.observed_at


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One credential's local health facts and its latest observation, read in bulk."""

    credential: Credential
    current: CertificateVersion | None
    key_decryptable: bool
    rotation_open: bool
    observation: Observation | None = field(default=None)


def _to_observation(name: str, row: ObservationRow) -> Observation:
    return Observation(
        credential=name,
        observed_at=row.observed_at,
        remote_state=row.remote_state,
        certificate_id=row.certificate_id,
        foreign_certificate_ids=tuple(row.foreign_certificate_ids or ()),
        pending_adoption_ids=tuple(row.pending_adoption_ids or ()),
        placeholder=row.placeholder,
        probe_ok=row.probe_ok,
        probe_error=row.probe_error,
        error=row.error,
        management_fix=row.management_fix,
        observer=row.observer,
        certificate_not_after=row.certificate_not_after,
    )


def save(store: Store, observations: Iterable[Observation]) -> int:
    """Keep each credential's latest observation, all in one transaction; returns how many were kept."""
    wanted = list(observations)
    if not wanted:
        return 0
    try:
        return _save_once(store, wanted)
    except IntegrityError:
        # Another observer (a daemon sharing this database) inserted some of the rows first:
        # they exist now, so the second attempt updates them (keeping the later observation).
        return _save_once(store, wanted)


def _save_once(store: Store, wanted: list[Observation]) -> int:
    names = {o.credential for o in wanted}
    with store._write() as session:
        ids: dict[str, int] = {
            name: credential_id
            for name, credential_id in session.execute(
                select(CredentialRow.name, CredentialRow.id).where(
                    CredentialRow.name.in_(names), CredentialRow.removed_at.is_(None)
                )
            )
        }
        existing = {
            row.credential_fk: row
            for row in session.scalars(
                select(ObservationRow).where(ObservationRow.credential_fk.in_(ids.values()))
            )
        }
        kept = 0
        for observation in wanted:
            credential_id = ids.get(observation.credential)
            if credential_id is None:
                continue  # removed meanwhile
            row = existing.get(credential_id)
            if row is None:
                row = existing[credential_id] = ObservationRow(credential_fk=credential_id)
                session.add(row)
            elif row.observed_at > observation.observed_at:
                continue  # another observer saw it later
            row.observed_at = observation.observed_at
            row.remote_state = observation.remote_state
            row.certificate_id = observation.certificate_id
            row.foreign_certificate_ids = list(observation.foreign_certificate_ids)
            row.pending_adoption_ids = list(observation.pending_adoption_ids)
            row.placeholder = observation.placeholder
            row.probe_ok = observation.probe_ok
            row.probe_error = observation.probe_error
            row.error = observation.error
            row.management_fix = observation.management_fix
            row.observer = observation.observer[:128]
            row.certificate_not_after = observation.certificate_not_after
            kept += 1
    return kept


def latest(store: Store, names: Sequence[str] | None = None) -> dict[str, Observation]:
    """The latest observation of each named (or every live) credential that was ever observed."""
    with store._read() as session:
        query = (
            select(CredentialRow.name, ObservationRow)
            .join(ObservationRow, ObservationRow.credential_fk == CredentialRow.id)
            .where(CredentialRow.removed_at.is_(None))
        )
        if names is not None:
            query = query.where(CredentialRow.name.in_(list(names)))
        return {name: _to_observation(name, row) for name, row in session.execute(query)}


def _decryptable(store: Store, row: CertificateVersionRow) -> bool:
    aad = _version_aad(row.id, row.credential_fk, row.fingerprint_sha256)
    try:
        store._master_key.open_sealed(row.key_sealed, aad=aad)
    except MasterKeyError:
        return False
    return True


def snapshots(store: Store, names: Sequence[str] | None = None) -> list[HealthSnapshot]:
    """Every live (or each named) credential with its current version, open rotation and observation.

    Four queries whatever the fleet's size; each current key is unsealed (not parsed) to prove the
    master key opens it.
    """
    with store._read() as session:
        credentials = _credentials(session, names)
        ids = [c.id for c in credentials]

        def of_fleet(column: Any) -> Any:
            # The whole fleet needs no IN list (10,000 parameters); a few named ones do.
            return column.in_(ids) if names is not None else column.is_not(None)

        current_rows = {
            row.credential_fk: row
            for row in session.scalars(
                select(CertificateVersionRow).where(
                    CertificateVersionRow.state == VersionState.CURRENT,
                    of_fleet(CertificateVersionRow.credential_fk),
                )
            )
        }
        open_ids = set(
            session.scalars(
                select(RotationRow.credential_fk).where(
                    RotationRow.finished_at.is_(None), of_fleet(RotationRow.credential_fk)
                )
            )
        )
        observed = {
            row.credential_fk: row
            for row in session.scalars(select(ObservationRow).where(of_fleet(ObservationRow.credential_fk)))
        }
    result: list[HealthSnapshot] = []
    for credential in credentials:
        row = current_rows.get(credential.id)
        observation = observed.get(credential.id)
        result.append(
            HealthSnapshot(
                credential=credential,
                current=to_version(row) if row is not None else None,
                key_decryptable=_decryptable(store, row) if row is not None else True,
                rotation_open=credential.id in open_ids,
                observation=_to_observation(credential.name, observation) if observation else None,
            )
        )
    return result


def _credentials(session: Session, names: Sequence[str] | None) -> list[Credential]:
    query = select(CredentialRow).where(CredentialRow.removed_at.is_(None))
    if names is not None:
        query = query.where(CredentialRow.name.in_(list(names)))
    rows = session.scalars(query.order_by(CredentialRow.name)).unique()
    found = [to_credential(row) for row in rows]
    if names is not None:
        order = {name: index for index, name in enumerate(names)}
        found.sort(key=lambda c: order.get(c.name, len(order)))
    return found


__all__ = ["REMOTE_STATES", "HealthSnapshot", "Observation", "latest", "save", "snapshots"]
