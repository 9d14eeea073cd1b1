"""Observations: the latest remote state seen for each credential, and a whole fleet's health facts
read in a handful of queries (so a monitoring check over 10,000 credentials answers in about a second).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Text, cast, select
from sqlalchemy.exc import IntegrityError

from certrotor.errors import MasterKeyError
from certrotor.store.domain import CertificateVersion, Credential, VersionState
from certrotor.store.models import (
    AccountRow,
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


def _decryptable(store: Store, version_id: str, credential_fk: int, fingerprint: str, sealed: bytes) -> bool:
    aad = _version_aad(version_id, credential_fk, fingerprint)
    try:
        store._master_key.open_sealed(sealed, aad=aad)
    except MasterKeyError:
        return False
    return True


_CREDENTIAL_COLUMNS = (
    CredentialRow.id,
    CredentialRow.name,
    CredentialRow.kind,
    AccountRow.account_id,
    AccountRow.base_url,
    AccountRow.verify_tls,
    CredentialRow.client_id,
    CredentialRow.entity_id,
    CredentialRow.role_id,
    cast(CredentialRow.scopes, Text),  # JSON lists read as text: see _text_list
    CredentialRow.key_spec,
    CredentialRow.validity_seconds,
    CredentialRow.renew_before_min_seconds,
    CredentialRow.renew_before_max_seconds,
    CredentialRow.grace_seconds,
    CredentialRow.strategy,
    CredentialRow.resolved_strategy,
    CredentialRow.auth_mode,
    CredentialRow.auth_credential_fk,
    CredentialRow.management_token_sealed.is_not(None),
    CredentialRow.hook_command,
    CredentialRow.delivery_dir,
    CredentialRow.record_script_id,
    CredentialRow.record_name,
    CredentialRow.next_rotation_at,
    CredentialRow.failed_attempts,
    CredentialRow.last_error,
    CredentialRow.last_rotation_at,
    CredentialRow.lease_owner,
    CredentialRow.lease_expires_at,
    CredentialRow.created_at,
    CredentialRow.updated_at,
    CredentialRow.record_mode,
    CredentialRow.restlet_script_id,
    CredentialRow.restlet_deploy_id,
)

_VERSION_COLUMNS = (
    CertificateVersionRow.id,
    CertificateVersionRow.credential_fk,
    CertificateVersionRow.state,
    CertificateVersionRow.certificate_id,
    CertificateVersionRow.fingerprint_sha256,
    CertificateVersionRow.certificate_pem,
    CertificateVersionRow.algorithm,
    CertificateVersionRow.not_before,
    CertificateVersionRow.not_after,
    CertificateVersionRow.created_at,
    CertificateVersionRow.activated_at,
    CertificateVersionRow.revoked_at,
    CertificateVersionRow.key_sealed,
)

_OBSERVATION_COLUMNS = (
    ObservationRow.credential_fk,
    ObservationRow.observed_at,
    ObservationRow.remote_state,
    ObservationRow.certificate_id,
    cast(ObservationRow.foreign_certificate_ids, Text),
    cast(ObservationRow.pending_adoption_ids, Text),
    ObservationRow.placeholder,
    ObservationRow.probe_ok,
    ObservationRow.probe_error,
    ObservationRow.error,
    ObservationRow.management_fix,
    ObservationRow.observer,
    ObservationRow.certificate_not_after,
)


def snapshots(store: Store, names: Sequence[str] | None = None) -> list[HealthSnapshot]:
    """Every live (or each named) credential with its current version, open rotation and observation.

    Four queries of plain columns whatever the fleet's size (no ORM objects: a fleet of 10,000 is
    read in a fraction of a second); each current key is unsealed (not parsed) to prove the master
    key opens it.
    """
    with store._read() as session:
        # Core statements on the session's connection: rows are plain tuples, no ORM loading.
        connection = session.connection()
        credentials = _credentials(connection, names)
        ids = [c.id for c in credentials]

        def of_fleet(column: Any) -> Any:
            # The whole fleet needs no IN list (10,000 parameters); a few named ones do.
            return column.in_(ids) if names is not None else column.is_not(None)

        current_rows = {
            row[1]: row
            for row in connection.execute(
                select(*_VERSION_COLUMNS).where(
                    CertificateVersionRow.state == VersionState.CURRENT,
                    of_fleet(CertificateVersionRow.credential_fk),
                )
            )
        }
        open_ids = set(
            connection.scalars(
                select(RotationRow.credential_fk).where(
                    RotationRow.finished_at.is_(None), of_fleet(RotationRow.credential_fk)
                )
            )
        )
        observed = {
            row[0]: row
            for row in connection.execute(
                select(*_OBSERVATION_COLUMNS).where(of_fleet(ObservationRow.credential_fk))
            )
        }
    result: list[HealthSnapshot] = []
    for credential in credentials:
        row = current_rows.get(credential.id)
        observation = observed.get(credential.id)
        current = None
        decryptable = True
        if row is not None:
            current = CertificateVersion(
                id=row[0],
                credential_id=row[1],
                state=row[2],
                certificate_id=row[3],
                fingerprint_sha256=row[4],
                certificate_pem=row[5],
                algorithm=row[6],
                not_before=row[7],
                not_after=row[8],
                created_at=row[9],
                activated_at=row[10],
                revoked_at=row[11],
            )
            decryptable = _decryptable(store, row[0], row[1], row[4], row[12])
        result.append(
            HealthSnapshot(
                credential=credential,
                current=current,
                key_decryptable=decryptable,
                rotation_open=credential.id in open_ids,
                observation=_observation_of(credential.name, observation) if observation else None,
            )
        )
    return result


@functools.lru_cache(maxsize=1024)
def _text_list(text: str | None) -> tuple[str, ...]:
    """A JSON list column read as text: a fleet repeats a few values (scopes, ``[]``), parsed once each."""
    return tuple(json.loads(text)) if text else ()


def _observation_of(name: str, row: Any) -> Observation:
    return Observation(
        credential=name,
        observed_at=row[1],
        remote_state=row[2],
        certificate_id=row[3],
        foreign_certificate_ids=_text_list(row[4]),
        pending_adoption_ids=_text_list(row[5]),
        placeholder=row[6],
        probe_ok=row[7],
        probe_error=row[8],
        error=row[9],
        management_fix=row[10],
        observer=row[11],
        certificate_not_after=row[12],
    )


def _credentials(connection: Connection, names: Sequence[str] | None) -> list[Credential]:
    """The live (or named) credentials as plain records, read as columns (no ORM objects)."""
    query = (
        select(*_CREDENTIAL_COLUMNS)
        .join(AccountRow, AccountRow.id == CredentialRow.account_fk)
        .where(CredentialRow.removed_at.is_(None))
    )
    if names is not None:
        query = query.where(CredentialRow.name.in_(list(names)))
    rows = connection.execute(query.order_by(CredentialRow.name)).all()
    auth_ids = {row[18] for row in rows if row[18] is not None}
    auth_names: dict[int, str] = {}
    if auth_ids:
        auth_names = {
            row[0]: row[1]
            for row in connection.execute(
                select(CredentialRow.id, CredentialRow.name).where(CredentialRow.id.in_(auth_ids))
            )
        }
    found = [
        Credential(
            id=row[0],
            name=row[1],
            kind=row[2],
            account_id=row[3],
            base_url=row[4],
            verify_tls=row[5],
            client_id=row[6],
            entity_id=row[7],
            role_id=row[8],
            scopes=_text_list(row[9]),
            key_spec=row[10],
            validity_seconds=row[11],
            renew_before_min_seconds=row[12],
            renew_before_max_seconds=row[13],
            grace_seconds=row[14],
            strategy=row[15],
            resolved_strategy=row[16],
            auth_mode=row[17],
            auth_credential_name=auth_names.get(row[18]) if row[18] is not None else None,
            has_management_token=bool(row[19]),
            hook_command=row[20],
            delivery_dir=row[21],
            record_script_id=row[22],
            record_name=row[23],
            next_rotation_at=row[24],
            failed_attempts=row[25],
            last_error=row[26],
            last_rotation_at=row[27],
            lease_owner=row[28],
            lease_expires_at=row[29],
            created_at=row[30],
            updated_at=row[31],
            record_mode=row[32],
            restlet_script_id=row[33],
            restlet_deploy_id=row[34],
        )
        for row in rows
    ]
    if names is not None:
        order = {name: index for index, name in enumerate(names)}
        found.sort(key=lambda c: order.get(c.name, len(order)))
    return found


__all__ = ["REMOTE_STATES", "HealthSnapshot", "Observation", "latest", "save", "snapshots"]
