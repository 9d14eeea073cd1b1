"""One write transaction of a rotation: the lease, what a step found out, the journal's step and the
audit events, committed together or not at all (see :meth:`certrotor.store.Store.journal_write`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Unpack

from cryptography import x509
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certrotor.crypto import PrivateKey, fingerprint_sha256
from certrotor.keyvault import MasterKey
from certrotor.store import audit, credentials, journal, leases, versions
from certrotor.store.audit import EventDraft
from certrotor.store.credentials import CredentialChanges
from certrotor.store.domain import (
    CertificateVersion,
    Credential,
    Event,
    Rotation,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)
from certrotor.store.lookups import CredentialRef, VersionRef


class JournalWrite:
    """The writes (and reads) of one transaction; every method works in it, nothing commits alone.

    Refusals raise inside the transaction, which is then rolled back: a lease found lost
    (:meth:`renew_lease`) undoes everything the transaction did before.
    """

    def __init__(self, session: Session, master_key: MasterKey) -> None:
        self._session = session
        self._master_key = master_key

    # -- leases and schedule -------------------------------------------------------------------

    def claim(
        self,
        credential: CredentialRef,
        owner: str,
        lease_seconds: float,
        *,
        now: dt.datetime | None = None,
        take_over_dead: bool = False,
    ) -> Credential:
        """Lease the credential (see :meth:`Store.claim` and :meth:`Store.claim_taking_over_dead`)."""
        return leases.claim(
            self._session, credential, owner, lease_seconds, now=now, take_over_dead=take_over_dead
        )

    def renew_lease(
        self, credential: CredentialRef, owner: str, lease_seconds: float, *, now: dt.datetime | None = None
    ) -> Credential:
        """Extend ``owner``'s lease; LeaseLostError (the transaction rolls back) if it is not ``owner``'s."""
        return leases.renew(self._session, credential, owner, lease_seconds, now=now)

    def release(self, credential: CredentialRef, owner: str) -> bool:
        """Give up ``owner``'s lease at commit; ``False`` if it did not hold one."""
        return leases.release(self._session, credential, owner)

    def set_schedule(
        self,
        credential: CredentialRef,
        next_rotation_at: dt.datetime | None,
        failed_attempts: int,
        last_error: str | None,
        *,
        last_rotation_at: dt.datetime | None = None,
    ) -> Credential:
        """Plan the next rotation and record the outcome of the last attempt."""
        return leases.set_schedule(
            self._session,
            credential,
            next_rotation_at,
            failed_attempts,
            last_error,
            last_rotation_at=last_rotation_at,
        )

    def set_management_token(self, credential: CredentialRef, token: str | None) -> Credential:
        """Seal and keep a management token for the credential (``None`` forgets it)."""
        return credentials.set_management_token(self._session, self._master_key, credential, token)

    def update_credential(self, name: str, /, **changes: Unpack[CredentialChanges]) -> Credential:
        """Change settings of a credential (see :meth:`Store.update_credential`)."""
        return credentials.update(self._session, name, changes)

    # -- certificate versions ------------------------------------------------------------------

    def add_version(
        self,
        credential: CredentialRef,
        private_key: PrivateKey,
        certificate: x509.Certificate,
        state: VersionState = VersionState.PENDING,
        *,
        certificate_id: str | None = None,
    ) -> CertificateVersion:
        """Keep a new key pair and certificate, the key sealed and bound to its row."""
        try:
            return versions.add(
                self._session, self._master_key, credential, private_key, certificate, state, certificate_id
            )
        except IntegrityError:
            raise versions.duplicate_certificate(fingerprint_sha256(certificate)) from None

    def set_version_state(
        self,
        version: VersionRef,
        state: VersionState,
        *,
        activated_at: dt.datetime | None = None,
        revoked_at: dt.datetime | None = None,
    ) -> CertificateVersion:
        """Move a version to ``state`` (``revoked`` stamps ``revoked_at`` unless given)."""
        return versions.set_state(
            self._session, version, state, activated_at=activated_at, revoked_at=revoked_at
        )

    def set_remote_certificate_id(
        self, version: VersionRef, certificate_id: str, *, state: VersionState | None = None
    ) -> CertificateVersion:
        """Record the certificate ID NetSuite gave this version (and its new state)."""
        try:
            return versions.set_remote_certificate_id(self._session, version, certificate_id, state=state)
        except IntegrityError:
            raise versions.certificate_id_taken(certificate_id) from None

    def activate(self, credential: CredentialRef, new_version: VersionRef) -> CertificateVersion:
        """Make ``new_version`` current and the old current one previous (idempotent)."""
        return versions.activate(self._session, credential, new_version)

    def versions(
        self, credential: CredentialRef, *, states: Iterable[VersionState] | None = None
    ) -> list[CertificateVersion]:
        """The credential's versions as this transaction sees them, oldest first."""
        return versions.of_credential(self._session, credential, states)

    def current_version(self, credential: CredentialRef) -> CertificateVersion | None:
        return versions.current(self._session, credential)

    # -- the journal ---------------------------------------------------------------------------

    def rotation(self, rotation_id: int) -> Rotation:
        """The journal entry as this transaction sees it."""
        return journal.get(self._session, rotation_id)

    def open_rotation(self, credential: CredentialRef) -> Rotation | None:
        """The credential's unfinished rotation, as this transaction sees it."""
        return journal.open_of(self._session, credential)

    def start_rotation(
        self,
        credential: CredentialRef,
        trigger: RotationTrigger,
        strategy: Strategy,
        old_version: VersionRef | None,
    ) -> Rotation:
        """Open a journal entry at step ``prepare``; refused while another one is unfinished."""
        try:
            return journal.start(self._session, credential, trigger, strategy, old_version)
        except IntegrityError:
            name = credential.name if isinstance(credential, Credential) else credential
            raise journal.rotation_open(name, None) from None

    def advance(
        self,
        rotation_id: int,
        step: RotationStep,
        *,
        new_version_id: str | None = None,
        old_version_id: str | None = None,
        retire_after: dt.datetime | None = None,
        error: str | None = None,
        strategy: Strategy | None = None,
    ) -> Rotation:
        """Record that the rotation reached ``step``; given fields are set, ``None`` keeps them."""
        return journal.advance(
            self._session,
            rotation_id,
            step,
            new_version_id=new_version_id,
            old_version_id=old_version_id,
            retire_after=retire_after,
            error=error,
            strategy=strategy,
        )

    def mark_token_prefetched(self, rotation_id: int) -> Rotation:
        """Record that the rotation fetched a fresh token with the old certificate (kept if set)."""
        return journal.mark_token_prefetched(self._session, rotation_id)

    def finish(self, rotation_id: int, ok: bool, error: str | None = None) -> Rotation:
        """Close the journal entry as ``done`` or ``failed``; finishing twice changes nothing."""
        return journal.finish(self._session, rotation_id, ok, error)

    # -- audit ---------------------------------------------------------------------------------

    def append_events(self, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append drafted audit events, in order."""
        return audit.append_drafts(self._session, drafts)


__all__ = ["JournalWrite"]
