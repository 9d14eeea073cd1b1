"""The store's one facade: it opens the database, owns the transactions, and hands each call's
session to the module of its concern (accounts, credentials, versions, journal, leases, audit).

Every method commits before it returns, so a rotation has each step durable before its remote
effect. Methods hand out frozen records (:mod:`certrotor.store.domain`), never ORM rows, and never
a secret except where asked by name (:meth:`Store.load_private_key`, :meth:`Store.management_token`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Unpack

from cryptography import x509
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from certrotor.crypto import PrivateKey
from certrotor.errors import MasterKeyError, StoreError
from certrotor.keyvault import MasterKey
from certrotor.store import (
    accounts,
    audit,
    broker_keys,
    credentials,
    journal,
    leases,
    meta,
    migrate,
    sealed,
    versions,
)
from certrotor.store.accounts import UNSET, Unset
from certrotor.store.audit import EventDraft
from certrotor.store.broker_keys import BrokerKey
from certrotor.store.credentials import CredentialChanges
from certrotor.store.domain import (
    Account,
    CertificateVersion,
    Credential,
    CredentialSpec,
    Event,
    EventOutcome,
    Rotation,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)
from certrotor.store.engine import (
    create_store_engine,
    parse_url,
    prepare_sqlite_file,
    redacted,
    sqlite_path,
    writer,
)
from certrotor.store.failures import failure_error, storage_cause, unavailable_as_store_error
from certrotor.store.lookups import CredentialRef, VersionRef
from certrotor.store.writes import JournalWrite

if TYPE_CHECKING:
    from certrotor.config import Settings

__all__ = [
    "UNSET",
    "CredentialChanges",
    "CredentialRef",
    "EventDraft",
    "JournalWrite",
    "Store",
    "VersionRef",
]


class Store:
    """The local database of credentials and their certificates; thread-safe, one per process."""

    def __init__(self, engine_url: URL, master_key: MasterKey) -> None:
        self._url = engine_url
        self._master_key = master_key
        self._engine = create_store_engine(engine_url)
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(writer(self._engine), expire_on_commit=False)

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        url: str | URL,
        master_key: MasterKey,
        *,
        check_master_key: bool = True,
    ) -> Store:
        """Open (and create or migrate) the database at ``url``.

        With ``check_master_key`` a store created under another master key is refused at once,
        before anything new gets sealed under the wrong key. ``certrotor health`` opens without the
        check so it can report per credential which keys cannot be decrypted.
        """
        parsed = parse_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = sqlite_path(parsed)
            if path is None:
                raise StoreError(
                    "An in-memory SQLite database cannot hold certrotor's store.",
                    hint="use a file: sqlite:///PATH (the default is <data_dir>/certrotor.db).",
                )
            prepare_sqlite_file(path)
        store = cls(parsed, master_key)
        try:
            migrate.upgrade(store._engine)
            store._remember_master_key(check=check_master_key)
        except DBAPIError as exc:
            store.close()
            cause = storage_cause(exc, parsed)
            if cause is None and not isinstance(exc, OperationalError):
                raise
            raise failure_error(
                exc,
                parsed,
                f"Cannot open the database {store.url}",
                cause,
                hint="check CERTROTOR_DATABASE_URL, that the server runs and the user may connect.",
            ) from None
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_settings(cls, settings: Settings, *, check_master_key: bool = True) -> Store:
        """Open the store the settings name, with the master key they name (created only for a
        store with nothing sealed in it, see :func:`certrotor.store.sealed.master_key_for`)."""
        return cls.open(
            settings.resolved_database_url,
            sealed.master_key_for(settings),
            check_master_key=check_master_key,
        )

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return redacted(self._url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def master_key_id(self) -> str:
        return self._master_key.key_id

    @property
    def master_key(self) -> MasterKey:
        """The key that seals this store's secrets (for store modules that seal their own columns)."""
        return self._master_key

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store(url={self.url!r}, master_key_id={self._master_key.key_id!r})"

    def _remember_master_key(self, *, check: bool) -> None:
        """Record the master key id on first open; later opens compare against it."""
        recorded_id = meta.remember_master_key_id(self._writer, self._reader, self._master_key.key_id)
        if check and recorded_id != self._master_key.key_id:
            raise MasterKeyError(
                f"This store's secrets are sealed under master key {recorded_id}, "
                f"but the master key in use is {self._master_key.key_id}."
            )

    def reseal_secrets(self, new_key: MasterKey, *, before_commit: Callable[[], None] | None = None) -> int:
        """Re-seal every secret under ``new_key`` and record it as the store's key, in one transaction.

        ``before_commit`` runs inside the transaction (a test's fault point): a crash there leaves
        every secret under the old key. Returns how many secrets were re-sealed.
        """
        with self._write() as session:
            count = sealed.reseal_all(session, self._master_key, new_key)
            if before_commit is not None:
                before_commit()
        self._master_key = new_key
        return count

    def adopt_master_key(self) -> str | None:
        """Record the key in use as the store's key (``credential recover`` after a lost key).

        Returns the id recorded before, or ``None`` if it was this key already.
        """
        with self._write() as session:
            before = meta.recorded_master_key_id(session)
            if before == self._master_key.key_id:
                return None
            sealed.record_master_key_id(session, self._master_key.key_id)
            return before

    def recorded_master_key_id(self) -> str | None:
        """The id of the master key the store's secrets are sealed under, as the store records it."""
        with self._read() as session:
            return meta.recorded_master_key_id(session)

    def sealed_secret_count(self) -> int:
        """How many sealed values the store holds (version keys, tokens, onboarding secrets)."""
        with self._read() as session:
            return len(sealed.sealed_rows(session))

    # ----------------------------------------------------------------- transactions

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction (SQLite: the write lock from its first statement), committed at the end."""
        with unavailable_as_store_error(self._url), self._writer.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only transaction; its rows stay readable after it ends (no expiry on commit)."""
        with unavailable_as_store_error(self._url), self._reader.begin() as session:
            yield session

    # ----------------------------------------------------------------- accounts

    def get_account(self, account_id: str) -> Account:
        with self._read() as session:
            return accounts.get(session, account_id)

    def list_accounts(self) -> list[Account]:
        with self._read() as session:
            return accounts.list_all(session)

    def update_account(
        self,
        account_id: str,
        *,
        base_url: str | Unset | None = UNSET,
        verify_tls: bool | None = None,
    ) -> Account:
        """Change an account's base URL (``None``: derive from the account ID) or TLS checking."""
        with self._write() as session:
            return accounts.update(session, account_id, base_url=base_url, verify_tls=verify_tls)

    # ----------------------------------------------------------------- credentials

    def add_credential(self, spec: CredentialSpec) -> Credential:
        """Add a credential (and its account on first use); the name must be free."""
        return self.add_credentials([spec])[0]

    def add_credentials(self, specs: Iterable[CredentialSpec]) -> list[Credential]:
        """Add several credentials in one transaction: all or none.

        Fleets of thousands go in with a handful of statements: names are checked in one query,
        each account is resolved once, and the rows are inserted in one batch.
        """
        try:
            with self._write() as session:
                return credentials.add_many(session, self._master_key, specs)
        except IntegrityError:
            # A concurrent writer took one of the names between our check and our insert.
            raise credentials.added_concurrently() from None

    def get_credential(self, name: str) -> Credential:
        with self._read() as session:
            return credentials.get(session, name)

    def find_credential(self, name: str) -> Credential | None:
        """Like :meth:`get_credential`, but ``None`` for an unknown name."""
        with self._read() as session:
            return credentials.find(session, name)

    def list_credentials(self) -> list[Credential]:
        with self._read() as session:
            return credentials.list_live(session)

    def update_credential(self, name: str, /, **changes: Unpack[CredentialChanges]) -> Credential:
        """Change settings of a credential; the result is validated as a whole like a new one."""
        with self._write() as session:
            return credentials.update(session, name, changes)

    def remove_credential(self, name: str, *, force: bool = False) -> Credential:
        """Retire a credential from use; its rows stay for the audit log and its name is freed.

        Refused while it has a current certificate, an unfinished rotation, or serves other
        credentials' management calls, unless ``force``.
        """
        with self._write() as session:
            return credentials.remove(session, name, force=force)

    def set_management_token(self, credential: CredentialRef, token: str | None) -> Credential:
        """Seal and keep a bootstrap management token for the credential (``None`` forgets it)."""
        with self._write() as session:
            return credentials.set_management_token(session, self._master_key, credential, token)

    def management_token(self, credential: CredentialRef) -> str | None:
        """The credential's bootstrap management token, decrypted, or ``None``."""
        with self._read() as session:
            return credentials.management_token(session, self._master_key, credential)

    # ----------------------------------------------------------------- certificate versions

    def add_version(
        self,
        credential: CredentialRef,
        private_key: PrivateKey,
        certificate: x509.Certificate,
        state: VersionState = VersionState.PENDING,
        *,
        certificate_id: str | None = None,
    ) -> CertificateVersion:
        """Keep a new key pair and certificate, the key sealed and bound to this row.

        ``current`` is reached only through :meth:`activate`, which demotes the old one atomically.
        """
        with self.journal_write() as write:
            return write.add_version(
                credential, private_key, certificate, state, certificate_id=certificate_id
            )

    def load_private_key(self, version: VersionRef) -> PrivateKey:
        """Decrypt a version's private key; a wrong master key or a tampered row raises."""
        with self._read() as session:
            return versions.load_private_key(session, self._master_key, version)

    def get_version(self, version: VersionRef) -> CertificateVersion:
        with self._read() as session:
            return versions.get(session, version)

    def set_version_state(
        self,
        version: VersionRef,
        state: VersionState,
        *,
        activated_at: dt.datetime | None = None,
        revoked_at: dt.datetime | None = None,
    ) -> CertificateVersion:
        """Move a version to ``state`` (``revoked`` stamps ``revoked_at`` unless given)."""
        with self._write() as session:
            return versions.set_state(
                session, version, state, activated_at=activated_at, revoked_at=revoked_at
            )

    def set_remote_certificate_id(
        self,
        version: VersionRef,
        certificate_id: str,
        *,
        state: VersionState | None = None,
    ) -> CertificateVersion:
        """Record the certificate ID NetSuite gave this version (and its new state, atomically)."""
        with self.journal_write() as write:
            return write.set_remote_certificate_id(version, certificate_id, state=state)

    def certificate_ids_on_integration(self, credential: CredentialRef) -> set[str]:
        """Certificate IDs recorded by any credential of this store on ``credential``'s integration."""
        with self._read() as session:
            return versions.certificate_ids_on_integration(session, credential)

    def pending_on_integration(self, credential: CredentialRef) -> list[CertificateVersion]:
        """Unrecorded pending versions of any credential of this store on ``credential``'s integration."""
        with self._read() as session:
            return versions.pending_on_integration(session, credential)

    def versions(
        self, credential: CredentialRef, *, states: Iterable[VersionState] | None = None
    ) -> list[CertificateVersion]:
        """The credential's versions, oldest first (optionally only in some states)."""
        with self._read() as session:
            return versions.of_credential(session, credential, states)

    def current_version(self, credential: CredentialRef) -> CertificateVersion | None:
        with self._read() as session:
            return versions.current(session, credential)

    def version_by_fingerprint(self, fingerprint: str) -> CertificateVersion | None:
        """The version with this SHA-256 fingerprint (hex, any case, colons allowed)."""
        with self._read() as session:
            return versions.by_fingerprint(session, fingerprint)

    def version_by_certificate_id(
        self, credential: CredentialRef, certificate_id: str
    ) -> CertificateVersion | None:
        with self._read() as session:
            return versions.by_certificate_id(session, credential, certificate_id)

    def activate(self, credential: CredentialRef, new_version: VersionRef) -> CertificateVersion:
        """Make ``new_version`` current and the old current one previous, in one transaction.

        Idempotent: activating the version that is already current changes nothing.
        """
        with self._write() as session:
            return versions.activate(session, credential, new_version)

    # ----------------------------------------------------------------- rotation journal

    @contextmanager
    def journal_write(self) -> Iterator[JournalWrite]:
        """One write transaction of several changes: for a step of a rotation the lease checked and
        extended, what the step found out (versions, tokens), the journal's step, the schedule and
        the audit events, committed together when the block ends, or none of them if it raises.

        Keep the block to store calls: it holds the write lock (SQLite) or row locks (PostgreSQL).
        """
        with self._write() as session:
            yield JournalWrite(session, self._master_key)

    def rotation_with_versions(self, rotation_id: int) -> tuple[Rotation, list[CertificateVersion]]:
        """A rotation and its credential's versions (oldest first), read in one transaction."""
        with self._read() as session:
            rotation = journal.get(session, rotation_id)
            held = versions.of_credential_id(session, rotation.credential_id)
            return rotation, held

    def start_rotation(
        self,
        credential: CredentialRef,
        trigger: RotationTrigger,
        strategy: Strategy,
        old_version: VersionRef | None,
    ) -> Rotation:
        """Open a journal entry at step ``prepare``; refused while another one is unfinished."""
        with self.journal_write() as write:
            return write.start_rotation(credential, trigger, strategy, old_version)

    def advance_rotation(
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
        """Record that the rotation reached ``step``; given fields are set, ``None`` keeps them.

        ``strategy`` changes when an ``auto`` credential learns that NetSuite allows only one
        active certificate (overlap becomes replace in the middle of the upload step).
        """
        with self.journal_write() as write:
            return write.advance(
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
        with self._write() as session:
            return journal.mark_token_prefetched(session, rotation_id)

    def finish_rotation(
        self,
        rotation_id: int,
        ok: bool,
        error: str | None = None,
    ) -> Rotation:
        """Close the journal entry as ``done`` or ``failed``; finishing twice changes nothing."""
        with self.journal_write() as write:
            return write.finish(rotation_id, ok, error)

    def open_rotation(self, credential: CredentialRef) -> Rotation | None:
        """The credential's unfinished rotation, to resume after a crash."""
        with self._read() as session:
            return journal.open_of(session, credential)

    def get_rotation(self, rotation_id: int) -> Rotation:
        with self._read() as session:
            return journal.get(session, rotation_id)

    def rotations(self, credential: CredentialRef, *, limit: int = 20) -> list[Rotation]:
        """The credential's rotations, newest first."""
        with self._read() as session:
            return journal.history(session, credential, limit)

    # ----------------------------------------------------------------- scheduling and leases

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
        with self.journal_write() as write:
            return write.set_schedule(
                credential,
                next_rotation_at,
                failed_attempts,
                last_error,
                last_rotation_at=last_rotation_at,
            )

    def due_credentials(self, now: dt.datetime, limit: int = 100) -> list[Credential]:
        """Credentials whose rotation is due and that nobody holds a live lease on, soonest first."""
        with self._read() as session:
            return leases.due(session, now, limit)

    def claim_due(self, now: dt.datetime, owner: str, lease_seconds: float, limit: int) -> list[Credential]:
        """Lease up to ``limit`` due credentials to ``owner``; no two callers get the same one."""
        with self._write() as session:
            return leases.claim_due(session, now, owner, lease_seconds, limit)

    def claim(
        self,
        credential: CredentialRef,
        owner: str,
        lease_seconds: float,
        *,
        now: dt.datetime | None = None,
    ) -> Credential:
        """Lease one credential (a manual rotation), due or not; refused if another holds it."""
        with self._write() as session:
            return leases.claim(session, credential, owner, lease_seconds, now=now)

    def claim_taking_over_dead(
        self,
        credential: CredentialRef,
        owner: str,
        lease_seconds: float,
        *,
        now: dt.datetime | None = None,
    ) -> Credential:
        """Like :meth:`claim`, but the lease of a killed process of this host is taken over.

        So ``certrotor rotate NAME`` run again after a crash is not refused until the dead
        process's lease expires. A live holder, or one on another host, still raises
        CredentialBusyError (see :func:`certrotor.store.leases.lease_holder_is_dead`).
        """
        with self._write() as session:
            return leases.claim(session, credential, owner, lease_seconds, now=now, take_over_dead=True)

    def renew_lease(
        self,
        credential: CredentialRef,
        owner: str,
        lease_seconds: float,
        *,
        now: dt.datetime | None = None,
    ) -> Credential:
        """Extend ``owner``'s lease; raises LeaseLostError if someone else holds it or none does.

        A lease past its expiry that nobody else claimed is still ours: renewing it is safe.
        """
        with self.journal_write() as write:
            return write.renew_lease(credential, owner, lease_seconds, now=now)

    def release(self, credential: CredentialRef, owner: str) -> bool:
        """Give up ``owner``'s lease; ``False`` if it did not hold one (nothing changes then)."""
        with self._write() as session:
            return leases.release(session, credential, owner)

    # ----------------------------------------------------------------- events

    def append_event(
        self,
        credential: CredentialRef | None,
        actor: str,
        action: str,
        outcome: EventOutcome | str,
        detail: Mapping[str, Any] | None = None,
    ) -> Event:
        """Append an audit record; secrets in ``detail`` are redacted before they are stored."""
        with self._write() as session:
            return audit.append(session, credential, actor, action, outcome, detail)

    def append_events(self, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append drafted audit records in one transaction, in order (none: no transaction)."""
        if not drafts:
            return []
        with self._write() as session:
            return audit.append_drafts(session, drafts)

    def events(self, credential: CredentialRef | None = None, *, limit: int = 100) -> list[Event]:
        """Audit records, newest first: of one credential (removed ones included) or of all."""
        with self._read() as session:
            return audit.newest(session, credential, limit)

    # ----------------------------------------------------------------- token broker keys

    def add_broker_key(
        self, app: str, credentials: Sequence[str], *, key_sha256: str, key_prefix: str
    ) -> BrokerKey:
        """Record the SHA-256 of a new application key (the key itself is never stored)."""
        with self._write() as session:
            return broker_keys.add(session, app, credentials, key_sha256=key_sha256, key_prefix=key_prefix)

    def broker_keys(self, *, include_revoked: bool = False) -> list[BrokerKey]:
        """The applications' broker keys (hashes and grants), live ones unless asked otherwise."""
        with self._read() as session:
            return broker_keys.listed(session, include_revoked=include_revoked)

    def revoke_broker_key(self, app: str) -> BrokerKey:
        """Revoke ``app``'s live broker key."""
        with self._write() as session:
            return broker_keys.revoke(session, app)
