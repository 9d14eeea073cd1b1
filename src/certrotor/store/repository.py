"""The store's typed API: accounts, credentials, certificate versions, the rotation journal, leases, events.

Every method runs in its own transaction and commits before it returns, so a rotation that calls it
step by step has each step durable before its remote effect. Methods hand out frozen records
(:mod:`certrotor.store.domain`), never ORM rows, and never a secret except where asked by name
(:meth:`Store.load_private_key`, :meth:`Store.management_token`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, Unpack

from cryptography import x509
from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from certrotor.crypto import (
    MAX_VALIDITY_DAYS,
    KeySpec,
    PrivateKey,
    certificate_to_pem,
    fingerprint_sha256,
    jws_algorithm_for_key,
    keys_match,
    load_private_key_pem,
    private_key_to_pem,
    utcnow,
)
from certrotor.errors import (
    AlreadyExistsError,
    CredentialBusyError,
    InputError,
    LeaseLostError,
    MasterKeyError,
    NotFoundError,
    StoreError,
)
from certrotor.keyvault import MasterKey
from certrotor.protocol.models import SCOPES
from certrotor.protocol.urls import NetSuiteEndpoints, validate_account_id
from certrotor.store import migrate
from certrotor.store.domain import (
    FINAL_STEPS,
    Account,
    AuthMode,
    CertificateVersion,
    Credential,
    CredentialKind,
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
from certrotor.store.events import scrub_detail
from certrotor.store.models import (
    AccountRow,
    CertificateVersionRow,
    CredentialRow,
    EventRow,
    RotationRow,
    StoreMetaRow,
)

if TYPE_CHECKING:
    from certrotor.config import Settings

CredentialRef = Credential | str
"""A credential, or its name."""
VersionRef = CertificateVersion | str
"""A certificate version, or its id."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_LIST_HINT = "see the names with `certrotor credential list`."
_MASTER_KEY_META = "master_key_id"
_ACTIVATABLE = frozenset({VersionState.PENDING, VersionState.UPLOADED, VersionState.PREVIOUS})


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET: Literal[_Unset.UNSET] = _Unset.UNSET
"""Marks a keyword argument that was not given (where ``None`` is a meaningful value)."""


class CredentialChanges(TypedDict, total=False):
    """What :meth:`Store.update_credential` may change; the account has its own method."""

    client_id: str
    entity_id: int
    role_id: int
    scopes: Sequence[str]
    key_spec: KeySpec
    validity_seconds: int
    renew_before_min_seconds: int
    renew_before_max_seconds: int
    grace_seconds: int
    strategy: Strategy
    resolved_strategy: Strategy | None
    auth_mode: AuthMode
    auth_credential: str | None
    hook_command: str | None
    delivery_dir: str | None
    record_script_id: str | None
    record_name: str | None


_CHANGEABLE = frozenset(CredentialChanges.__annotations__)


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
        except OperationalError as exc:
            store.close()
            raise StoreError(
                f"Cannot open the database {store.url} ({_short_reason(exc, parsed)}).",
                hint="check CERTROTOR_DATABASE_URL, that the server runs and the user may connect.",
            ) from None
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_settings(cls, settings: Settings, *, check_master_key: bool = True) -> Store:
        """Open the store the settings name, with the master key they name (created if missing)."""
        return cls.open(
            settings.resolved_database_url,
            MasterKey.from_settings(settings),
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
        try:
            with self._writer.begin() as session:
                recorded = session.get(StoreMetaRow, _MASTER_KEY_META)
                if recorded is None:
                    session.add(StoreMetaRow(name=_MASTER_KEY_META, value=self._master_key.key_id))
                    return
                recorded_id = recorded.value
        except IntegrityError:
            # Another process opened the new store at the same instant and recorded its key first.
            with self._reader.begin() as session:
                recorded_id = session.get_one(StoreMetaRow, _MASTER_KEY_META).value
        if check and recorded_id != self._master_key.key_id:
            raise MasterKeyError(
                f"This store's secrets are sealed under master key {recorded_id}, "
                f"but the master key in use is {self._master_key.key_id}."
            )

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._unavailable_as_store_error(), self._writer.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._unavailable_as_store_error(), self._reader.begin() as session:
            yield session

    @contextmanager
    def _unavailable_as_store_error(self) -> Iterator[None]:
        """A lost server or a broken database file becomes one readable StoreError."""
        try:
            yield
        except OperationalError as exc:
            raise StoreError(
                f"The database {self.url} failed ({_short_reason(exc, self._url)}).",
                hint="check that the database is reachable and intact; the transaction was rolled back.",
            ) from None

    # ----------------------------------------------------------------- accounts

    def get_account(self, account_id: str) -> Account:
        with self._read() as session:
            return _account(self._account_row(session, account_id))

    def list_accounts(self) -> list[Account]:
        with self._read() as session:
            rows = session.scalars(select(AccountRow).order_by(AccountRow.account_id))
            return [_account(row) for row in rows]

    def update_account(
        self,
        account_id: str,
        *,
        base_url: str | _Unset | None = UNSET,
        verify_tls: bool | None = None,
    ) -> Account:
        """Change an account's base URL (``None``: derive from the account ID) or TLS checking."""
        with self._write() as session:
            row = self._account_row(session, account_id)
            if not isinstance(base_url, _Unset):
                row.base_url = _normalize_base_url(row.account_id, base_url)
            if verify_tls is not None:
                row.verify_tls = verify_tls
            session.flush()
            return _account(row)

    def _account_row(self, session: Session, account_id: str) -> AccountRow:
        row = session.scalar(select(AccountRow).where(AccountRow.account_id == account_id.strip()))
        if row is None:
            raise NotFoundError(
                f"No account {account_id!r} in the store.", hint="add a credential for it first."
            )
        return row

    def _account_for_spec(self, session: Session, spec: CredentialSpec) -> AccountRow:
        account_id = validate_account_id(spec.account_id)
        base_url = _normalize_base_url(account_id, spec.base_url)
        row = session.scalar(select(AccountRow).where(AccountRow.account_id == account_id))
        if row is None:
            row = AccountRow(
                account_id=account_id,
                base_url=base_url,
                verify_tls=True if spec.verify_tls is None else spec.verify_tls,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return row
        if base_url is not None and row.base_url != base_url:
            raise InputError(
                f"Account {account_id} already uses base URL {row.base_url or '(derived)'}.",
                hint="omit --base-url to use the account's, or change the account's base URL first.",
            )
        if spec.verify_tls is not None and row.verify_tls != spec.verify_tls:
            raise InputError(
                f"Account {account_id} has TLS verification {'on' if row.verify_tls else 'off'} already.",
                hint="omit the TLS option to use the account's setting, or change the account first.",
            )
        return row

    # ----------------------------------------------------------------- credentials

    def add_credential(self, spec: CredentialSpec) -> Credential:
        """Add a credential (and its account on first use); the name must be free."""
        return self.add_credentials([spec])[0]

    def add_credentials(self, specs: Iterable[CredentialSpec]) -> list[Credential]:
        """Add several credentials in one transaction: all or none.

        Fleets of thousands go in with a handful of statements: names are checked in one query,
        each account is resolved once, and the rows are inserted in one batch.
        """
        validated = [_validated_spec(spec) for spec in specs]
        seen: set[str] = set()
        for spec in validated:
            if spec.name in seen:
                raise _name_taken(spec.name)
            seen.add(spec.name)
        try:
            with self._write() as session:
                taken = self._live_names(session, seen)
                if taken:
                    raise _name_taken(min(taken))
                accounts: dict[str, AccountRow] = {}
                batch: dict[str, CredentialRow] = {}
                now = utcnow()
                for spec in validated:
                    account = accounts.get(spec.account_id.strip())
                    if account is None or spec.base_url is not None or spec.verify_tls is not None:
                        account = self._account_for_spec(session, spec)
                        accounts[account.account_id] = account
                    row = CredentialRow(
                        name=spec.name,
                        kind=spec.kind,
                        account=account,
                        client_id=spec.client_id,
                        entity_id=spec.entity_id,
                        role_id=spec.role_id,
                        scopes=list(spec.scopes),
                        key_spec=spec.key_spec,
                        validity_seconds=spec.validity_seconds,
                        renew_before_min_seconds=spec.renew_before_min_seconds,
                        renew_before_max_seconds=spec.renew_before_max_seconds,
                        grace_seconds=spec.grace_seconds,
                        strategy=spec.strategy,
                        auth_mode=spec.auth_mode,
                        auth_credential=self._auth_credential_row(session, spec, batch),
                        hook_command=spec.hook_command,
                        delivery_dir=spec.delivery_dir,
                        record_script_id=spec.record_script_id,
                        record_name=spec.record_name,
                        failed_attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(row)
                    batch[spec.name] = row
                session.flush()
                # Tokens are sealed bound to the row id, known only after the insert.
                for spec in validated:
                    if spec.management_token is not None:
                        row = batch[spec.name]
                        row.management_token_sealed = self._seal_token(row.id, spec.management_token)
                session.flush()
                return [_credential(batch[spec.name]) for spec in validated]
        except IntegrityError:
            # A concurrent writer took one of the names between our check and our insert.
            raise AlreadyExistsError(
                "A credential of the same name was added concurrently.",
                hint="choose another name, or see it with `certrotor credential list`.",
            ) from None

    def _live_names(self, session: Session, names: Iterable[str]) -> set[str]:
        wanted = list(names)
        taken: set[str] = set()
        for start in range(0, len(wanted), 500):  # stay far below any bound-parameter limit
            chunk = wanted[start : start + 500]
            taken.update(
                session.scalars(
                    select(CredentialRow.name).where(
                        CredentialRow.name.in_(chunk), CredentialRow.removed_at.is_(None)
                    )
                )
            )
        return taken

    def _auth_credential_row(
        self,
        session: Session,
        spec: CredentialSpec,
        batch: dict[str, CredentialRow] | None = None,
    ) -> CredentialRow | None:
        if spec.auth_credential is None:
            return None
        if spec.auth_credential == spec.name:
            raise InputError(
                f"Credential {spec.name!r} cannot authenticate through itself by name.",
                hint="use --auth self for a credential's own certificate.",
            )
        row = (batch or {}).get(spec.auth_credential) or self._live_row(session, spec.auth_credential)
        if row is None:
            raise NotFoundError(
                f"No credential named {spec.auth_credential!r} to authenticate through.",
                hint=_LIST_HINT,
            )
        return row

    def get_credential(self, name: str) -> Credential:
        with self._read() as session:
            return _credential(self._credential_row(session, name))

    def find_credential(self, name: str) -> Credential | None:
        """Like :meth:`get_credential`, but ``None`` for an unknown name."""
        with self._read() as session:
            row = self._live_row(session, name)
            return None if row is None else _credential(row)

    def list_credentials(self) -> list[Credential]:
        with self._read() as session:
            rows = session.scalars(
                select(CredentialRow).where(CredentialRow.removed_at.is_(None)).order_by(CredentialRow.name)
            )
            return [_credential(row) for row in rows.unique()]

    def update_credential(self, name: str, /, **changes: Unpack[CredentialChanges]) -> Credential:
        """Change settings of a credential; the result is validated as a whole like a new one."""
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise InputError(
                f"Cannot change {', '.join(sorted(unknown))} of a credential.",
                hint=f"changeable: {', '.join(sorted(_CHANGEABLE))}.",
            )
        with self._write() as session:
            row = self._credential_row(session, name)
            current = _spec_of(row)
            spec_changes: dict[str, Any] = {
                key: value for key, value in changes.items() if key != "resolved_strategy"
            }
            if "scopes" in spec_changes:
                spec_changes["scopes"] = tuple(spec_changes["scopes"])
            spec = _validated_spec(dataclasses.replace(current, **spec_changes))
            raw_resolved = changes.get("resolved_strategy", row.resolved_strategy)
            resolved = None if raw_resolved is None else _enum(Strategy, raw_resolved, "strategy")
            if resolved is Strategy.AUTO:
                raise InputError(
                    "The resolved strategy must be overlap or replace.",
                    hint="set resolved_strategy to Strategy.OVERLAP or Strategy.REPLACE.",
                )
            row.client_id = spec.client_id
            row.entity_id = spec.entity_id
            row.role_id = spec.role_id
            row.scopes = list(spec.scopes)
            row.key_spec = spec.key_spec
            row.validity_seconds = spec.validity_seconds
            row.renew_before_min_seconds = spec.renew_before_min_seconds
            row.renew_before_max_seconds = spec.renew_before_max_seconds
            row.grace_seconds = spec.grace_seconds
            row.strategy = spec.strategy
            row.resolved_strategy = resolved
            row.auth_mode = spec.auth_mode
            row.auth_credential = self._auth_credential_row(session, spec)
            row.hook_command = spec.hook_command
            row.delivery_dir = spec.delivery_dir
            row.record_script_id = spec.record_script_id
            row.record_name = spec.record_name
            session.flush()
            return _credential(row)

    def remove_credential(self, name: str, *, force: bool = False) -> Credential:
        """Retire a credential from use; its rows stay for the audit log and its name is freed.

        Refused while it has a current certificate, an unfinished rotation, or serves other
        credentials' management calls, unless ``force``.
        """
        with self._write() as session:
            row = self._credential_row(session, name)
            if not force:
                self._check_removable(session, row)
            now = utcnow()
            open_rotations = session.scalars(
                select(RotationRow).where(
                    RotationRow.credential_fk == row.id, RotationRow.finished_at.is_(None)
                )
            )
            for rotation in open_rotations:
                rotation.step = RotationStep.FAILED
                rotation.finished_at = now
                rotation.error = "credential removed"
            row.removed_at = now
            row.next_rotation_at = None
            row.lease_owner = None
            row.lease_expires_at = None
            session.flush()
            return _credential(row)

    def _check_removable(self, session: Session, row: CredentialRow) -> None:
        hint = f"pass --force to remove {row.name!r} anyway (its certificates stay on NetSuite)."
        if self._current_row(session, row.id) is not None:
            raise InputError(f"Credential {row.name!r} still has a current certificate.", hint=hint)
        if session.scalar(
            select(RotationRow.id).where(
                RotationRow.credential_fk == row.id, RotationRow.finished_at.is_(None)
            )
        ):
            raise InputError(f"Credential {row.name!r} has an unfinished rotation.", hint=hint)
        dependant = session.scalar(
            select(CredentialRow.name).where(
                CredentialRow.auth_credential_fk == row.id, CredentialRow.removed_at.is_(None)
            )
        )
        if dependant is not None:
            raise InputError(
                f"Credential {dependant!r} authenticates through {row.name!r}.",
                hint=f"change {dependant!r} to another authentication first, or pass --force.",
            )

    def set_management_token(self, credential: CredentialRef, token: str | None) -> Credential:
        """Seal and keep a bootstrap management token for the credential (``None`` forgets it)."""
        if token is not None and not token.strip():
            raise InputError("The management token is empty.", hint="give the access token itself.")
        with self._write() as session:
            row = self._credential_row(session, credential)
            row.management_token_sealed = None if token is None else self._seal_token(row.id, token.strip())
            session.flush()
            return _credential(row)

    def management_token(self, credential: CredentialRef) -> str | None:
        """The credential's bootstrap management token, decrypted, or ``None``."""
        with self._read() as session:
            row = self._credential_row(session, credential)
            if row.management_token_sealed is None:
                return None
            sealed, credential_id = row.management_token_sealed, row.id
        plain = self._master_key.open_sealed(sealed, aad=_token_aad(credential_id))
        return plain.decode("utf-8")

    def _seal_token(self, credential_id: int, token: str) -> bytes:
        return self._master_key.seal(token.encode("utf-8"), aad=_token_aad(credential_id))

    def _live_row(self, session: Session, name: str) -> CredentialRow | None:
        return session.scalar(
            select(CredentialRow).where(CredentialRow.name == name, CredentialRow.removed_at.is_(None))
        )

    def _credential_row(self, session: Session, ref: CredentialRef) -> CredentialRow:
        if isinstance(ref, Credential):
            row = session.get(CredentialRow, ref.id)
            name = ref.name
            if row is not None and row.removed_at is not None:
                row = None
        else:
            row = self._live_row(session, ref)
            name = ref
        if row is None:
            raise NotFoundError(f"No credential named {name!r}.", hint=_LIST_HINT)
        return row

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
        try:
            with self._write() as session:
                credential_row = self._credential_row(session, credential)
                if self._version_by_fingerprint(session, fingerprint) is not None:
                    raise _duplicate_certificate(fingerprint)
                key_sealed = self._master_key.seal(
                    private_key_to_pem(private_key),
                    aad=_version_aad(version_id, credential_row.id, fingerprint),
                )
                row = CertificateVersionRow(
                    id=version_id,
                    credential_fk=credential_row.id,
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
                return _version(row)
        except IntegrityError:
            raise _duplicate_certificate(fingerprint) from None

    def load_private_key(self, version: VersionRef) -> PrivateKey:
        """Decrypt a version's private key; a wrong master key or a tampered row raises."""
        with self._read() as session:
            row = self._version_row(session, version)
            sealed = row.key_sealed
            aad = _version_aad(row.id, row.credential_fk, row.fingerprint_sha256)
        return load_private_key_pem(self._master_key.open_sealed(sealed, aad=aad))

    def get_version(self, version: VersionRef) -> CertificateVersion:
        with self._read() as session:
            return _version(self._version_row(session, version))

    def set_version_state(
        self,
        version: VersionRef,
        state: VersionState,
        *,
        activated_at: dt.datetime | None = None,
        revoked_at: dt.datetime | None = None,
    ) -> CertificateVersion:
        """Move a version to ``state`` (``revoked`` stamps ``revoked_at`` unless given)."""
        if state is VersionState.CURRENT:
            raise InputError(
                "A version becomes current only through activate().",
                hint="call activate(credential, version_id), which also demotes the old one.",
            )
        with self._write() as session:
            row = self._version_row(session, version)
            row.state = state
            if activated_at is not None:
                row.activated_at = _utc(activated_at)
            if state is VersionState.REVOKED:
                row.revoked_at = _utc(revoked_at) if revoked_at else row.revoked_at or utcnow()
            elif revoked_at is not None:
                row.revoked_at = _utc(revoked_at)
            session.flush()
            return _version(row)

    def set_remote_certificate_id(
        self,
        version: VersionRef,
        certificate_id: str,
        *,
        state: VersionState | None = None,
    ) -> CertificateVersion:
        """Record the certificate ID NetSuite gave this version (and its new state, atomically)."""
        if not certificate_id.strip():
            raise InputError("The certificate ID is empty.", hint="give NetSuite's certificate_id.")
        if state is VersionState.CURRENT:
            raise InputError(
                "A version becomes current only through activate().",
                hint="record the certificate ID with state uploaded, then call activate().",
            )
        try:
            with self._write() as session:
                row = self._version_row(session, version)
                if row.certificate_id not in (None, certificate_id):
                    raise StoreError(
                        f"Version {row.id} already has certificate ID {row.certificate_id}.",
                        hint="a version maps to exactly one remote certificate; add a new version.",
                    )
                row.certificate_id = certificate_id
                if state is not None:
                    row.state = state
                session.flush()
                return _version(row)
        except IntegrityError:
            raise AlreadyExistsError(
                f"Another version of this credential already has certificate ID {certificate_id}.",
                hint="look it up with version_by_certificate_id() and reuse it.",
            ) from None

    def versions(
        self, credential: CredentialRef, *, states: Iterable[VersionState] | None = None
    ) -> list[CertificateVersion]:
        """The credential's versions, oldest first (optionally only in some states)."""
        with self._read() as session:
            row = self._credential_row(session, credential)
            query = select(CertificateVersionRow).where(CertificateVersionRow.credential_fk == row.id)
            if states is not None:
                query = query.where(CertificateVersionRow.state.in_(list(states)))
            query = query.order_by(CertificateVersionRow.created_at, CertificateVersionRow.id)
            return [_version(version) for version in session.scalars(query)]

    def current_version(self, credential: CredentialRef) -> CertificateVersion | None:
        with self._read() as session:
            row = self._current_row(session, self._credential_row(session, credential).id)
            return None if row is None else _version(row)

    def version_by_fingerprint(self, fingerprint: str) -> CertificateVersion | None:
        """The version with this SHA-256 fingerprint (hex, any case, colons allowed)."""
        normalized = fingerprint.replace(":", "").strip().lower()
        if not _FINGERPRINT.match(normalized):
            raise InputError(f"{fingerprint!r} is not a SHA-256 fingerprint.", hint="give 64 hex digits.")
        with self._read() as session:
            row = self._version_by_fingerprint(session, normalized)
            return None if row is None else _version(row)

    def version_by_certificate_id(
        self, credential: CredentialRef, certificate_id: str
    ) -> CertificateVersion | None:
        with self._read() as session:
            credential_row = self._credential_row(session, credential)
            row = session.scalar(
                select(CertificateVersionRow).where(
                    CertificateVersionRow.credential_fk == credential_row.id,
                    CertificateVersionRow.certificate_id == certificate_id,
                )
            )
            return None if row is None else _version(row)

    def activate(self, credential: CredentialRef, new_version: VersionRef) -> CertificateVersion:
        """Make ``new_version`` current and the old current one previous, in one transaction.

        Idempotent: activating the version that is already current changes nothing.
        """
        with self._write() as session:
            credential_row = self._lock_credential(session, credential)
            row = self._version_row(session, new_version)
            if row.credential_fk != credential_row.id:
                raise InputError(
                    f"Version {row.id} does not belong to credential {credential_row.name!r}.",
                    hint="activate a version of the same credential.",
                )
            if row.state is VersionState.CURRENT:
                return _version(row)
            if row.state not in _ACTIVATABLE:
                raise InputError(
                    f"Version {row.id} is {row.state.value} and cannot become current.",
                    hint="rotate to get a new certificate (`certrotor rotate NAME`).",
                )
            old = self._current_row(session, credential_row.id)
            now = utcnow()
            if old is not None:
                old.state = VersionState.PREVIOUS
                # Flush the demotion first: the one-current index is checked row by row.
                session.flush()
            row.state = VersionState.CURRENT
            row.activated_at = now
            session.flush()
            return _version(row)

    def _lock_credential(self, session: Session, ref: CredentialRef) -> CredentialRow:
        """The credential row, locked until commit on PostgreSQL (SQLite holds the write lock)."""
        row = self._credential_row(session, ref)
        if self.dialect == "postgresql":
            session.execute(select(CredentialRow.id).where(CredentialRow.id == row.id).with_for_update())
            # What was read before the lock may be stale: read it again under the lock.
            session.refresh(row)
        return row

    def _version_row(self, session: Session, ref: VersionRef) -> CertificateVersionRow:
        version_id = ref.id if isinstance(ref, CertificateVersion) else ref
        row = session.get(CertificateVersionRow, version_id)
        if row is None:
            raise NotFoundError(
                f"No certificate version {version_id!r}.",
                hint="list versions with `certrotor list NAME`.",
            )
        return row

    def _current_row(self, session: Session, credential_id: int) -> CertificateVersionRow | None:
        return session.scalar(
            select(CertificateVersionRow).where(
                CertificateVersionRow.credential_fk == credential_id,
                CertificateVersionRow.state == VersionState.CURRENT,
            )
        )

    def _version_by_fingerprint(self, session: Session, fingerprint: str) -> CertificateVersionRow | None:
        return session.scalar(
            select(CertificateVersionRow).where(CertificateVersionRow.fingerprint_sha256 == fingerprint)
        )

    # ----------------------------------------------------------------- rotation journal

    def start_rotation(
        self,
        credential: CredentialRef,
        trigger: RotationTrigger,
        strategy: Strategy,
        old_version: VersionRef | None,
    ) -> Rotation:
        """Open a journal entry at step ``prepare``; refused while another one is unfinished."""
        if strategy is Strategy.AUTO:
            raise InputError(
                "A rotation needs a concrete strategy.",
                hint="resolve auto to overlap or replace before starting.",
            )
        try:
            with self._write() as session:
                credential_row = self._lock_credential(session, credential)
                existing = self._open_rotation_row(session, credential_row.id)
                if existing is not None:
                    raise _rotation_open(credential_row.name, existing.id)
                old_id = None
                if old_version is not None:
                    old_id = self._version_row(session, old_version).id
                now = utcnow()
                row = RotationRow(
                    credential_fk=credential_row.id,
                    trigger=trigger,
                    strategy=strategy,
                    step=RotationStep.PREPARE,
                    old_version_fk=old_id,
                    started_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                return _rotation(row)
        except IntegrityError:
            name = credential.name if isinstance(credential, Credential) else credential
            raise _rotation_open(name, None) from None

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
        if step in FINAL_STEPS:
            raise InputError(f"Step {step.value} ends a rotation.", hint="call finish_rotation() instead.")
        with self._write() as session:
            row = self._rotation_row(session, rotation_id)
            if row.finished_at is not None:
                raise StoreError(
                    f"Rotation {rotation_id} is already finished ({row.step.value}).",
                    hint="start a new rotation.",
                )
            row.step = step
            if new_version_id is not None:
                row.new_version_fk = self._version_row(session, new_version_id).id
            if old_version_id is not None:
                row.old_version_fk = self._version_row(session, old_version_id).id
            if retire_after is not None:
                row.retire_after = _utc(retire_after)
            if error is not None:
                row.error = error
            if strategy is not None:
                row.strategy = strategy
            row.updated_at = utcnow()
            session.flush()
            return _rotation(row)

    def mark_token_prefetched(self, rotation_id: int) -> Rotation:
        """Record that the rotation fetched a fresh token with the old certificate (kept if set)."""
        with self._write() as session:
            row = self._rotation_row(session, rotation_id)
            if row.token_prefetched_at is None:
                row.token_prefetched_at = utcnow()
                row.updated_at = row.token_prefetched_at
                session.flush()
            return _rotation(row)

    def finish_rotation(self, rotation_id: int, ok: bool, error: str | None = None) -> Rotation:
        """Close the journal entry as ``done`` or ``failed``; finishing twice changes nothing."""
        with self._write() as session:
            row = self._rotation_row(session, rotation_id)
            if row.finished_at is None:
                now = utcnow()
                row.step = RotationStep.DONE if ok else RotationStep.FAILED
                row.error = error
                row.finished_at = now
                row.updated_at = now
                session.flush()
            return _rotation(row)

    def open_rotation(self, credential: CredentialRef) -> Rotation | None:
        """The credential's unfinished rotation, to resume after a crash."""
        with self._read() as session:
            row = self._open_rotation_row(session, self._credential_row(session, credential).id)
            return None if row is None else _rotation(row)

    def get_rotation(self, rotation_id: int) -> Rotation:
        with self._read() as session:
            return _rotation(self._rotation_row(session, rotation_id))

    def rotations(self, credential: CredentialRef, *, limit: int = 20) -> list[Rotation]:
        """The credential's rotations, newest first."""
        with self._read() as session:
            credential_row = self._credential_row(session, credential)
            rows = session.scalars(
                select(RotationRow)
                .where(RotationRow.credential_fk == credential_row.id)
                .order_by(RotationRow.id.desc())
                .limit(limit)
            )
            return [_rotation(row) for row in rows]

    def _rotation_row(self, session: Session, rotation_id: int) -> RotationRow:
        row = session.get(RotationRow, rotation_id)
        if row is None:
            raise NotFoundError(
                f"No rotation {rotation_id}.", hint="see rotations with `certrotor events NAME`."
            )
        return row

    def _open_rotation_row(self, session: Session, credential_id: int) -> RotationRow | None:
        return session.scalar(
            select(RotationRow).where(
                RotationRow.credential_fk == credential_id, RotationRow.finished_at.is_(None)
            )
        )

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
        if failed_attempts < 0:
            raise InputError("failed_attempts cannot be negative.", hint="pass 0 after a success.")
        with self._write() as session:
            row = self._credential_row(session, credential)
            row.next_rotation_at = None if next_rotation_at is None else _utc(next_rotation_at)
            row.failed_attempts = failed_attempts
            row.last_error = last_error
            if last_rotation_at is not None:
                row.last_rotation_at = _utc(last_rotation_at)
            session.flush()
            return _credential(row)

    def due_credentials(self, now: dt.datetime, limit: int = 100) -> list[Credential]:
        """Credentials whose rotation is due and that nobody holds a live lease on, soonest first."""
        with self._read() as session:
            rows = session.scalars(_due_query(_utc(now)).limit(limit))
            return [_credential(row) for row in rows.unique()]

    def claim_due(self, now: dt.datetime, owner: str, lease_seconds: float, limit: int) -> list[Credential]:
        """Lease up to ``limit`` due credentials to ``owner``; no two callers get the same one.

        PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` then the lease, in one transaction, so
        concurrent daemons pass each other's rows by. SQLite: one guarded ``UPDATE``.
        """
        _check_owner(owner)
        now = _utc(now)
        expires = now + dt.timedelta(seconds=lease_seconds)
        with self._write() as session:
            if self.dialect == "postgresql":
                ids = list(
                    session.scalars(
                        select(CredentialRow.id)
                        .where(*_due_conditions(now))
                        .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True, of=CredentialRow)
                    )
                )
                if not ids:
                    return []
                target = CredentialRow.id.in_(ids)
            else:
                target = CredentialRow.id.in_(
                    select(CredentialRow.id)
                    .where(*_due_conditions(now))
                    .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
                    .limit(limit)
                    .scalar_subquery()
                )
            claimed = list(
                session.scalars(
                    update(CredentialRow)
                    .where(target, *_lease_free(now))
                    .values(lease_owner=owner, lease_expires_at=expires)
                    .returning(CredentialRow.id)
                    .execution_options(synchronize_session=False)
                )
            )
            if not claimed:
                return []
            rows = session.scalars(
                select(CredentialRow)
                .where(CredentialRow.id.in_(claimed))
                .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
                .execution_options(populate_existing=True)
            )
            return [_credential(row) for row in rows.unique()]

    def claim(
        self,
        credential: CredentialRef,
        owner: str,
        lease_seconds: float,
        *,
        now: dt.datetime | None = None,
    ) -> Credential:
        """Lease one credential (a manual rotation), due or not; refused if another holds it."""
        _check_owner(owner)
        moment = utcnow() if now is None else _utc(now)
        with self._write() as session:
            row = self._lock_credential(session, credential)
            free = row.lease_owner is None or row.lease_owner == owner
            if not free and row.lease_expires_at is not None and row.lease_expires_at <= moment:
                free = True
            if not free:
                until = row.lease_expires_at.isoformat() if row.lease_expires_at else "unknown"
                raise CredentialBusyError(
                    f"Credential {row.name!r} is held by {row.lease_owner} until {until}."
                )
            row.lease_owner = owner
            row.lease_expires_at = moment + dt.timedelta(seconds=lease_seconds)
            session.flush()
            return _credential(row)

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
        moment = utcnow() if now is None else _utc(now)
        with self._write() as session:
            row = self._credential_row(session, credential)
            renewed = session.execute(
                update(CredentialRow)
                .where(CredentialRow.id == row.id, CredentialRow.lease_owner == owner)
                .values(lease_expires_at=moment + dt.timedelta(seconds=lease_seconds))
                .execution_options(synchronize_session=False)
            )
            if renewed.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLostError(f"The lease of {owner} on credential {row.name!r} was lost.")
            session.refresh(row)
            return _credential(row)

    def release(self, credential: CredentialRef, owner: str) -> bool:
        """Give up ``owner``'s lease; ``False`` if it did not hold one (nothing changes then)."""
        with self._write() as session:
            row = self._credential_row(session, credential)
            released = session.execute(
                update(CredentialRow)
                .where(CredentialRow.id == row.id, CredentialRow.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return bool(released.rowcount == 1)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- events

    def record_event(
        self,
        credential: CredentialRef | None,
        actor: str,
        action: str,
        outcome: EventOutcome | str,
        detail: Mapping[str, Any] | None = None,
    ) -> Event:
        """Append an audit record; secrets in ``detail`` are redacted before they are stored."""
        if not actor.strip() or len(actor) > 128:
            raise InputError("An event actor must be 1 to 128 characters.", hint="e.g. cli:alice.")
        if not action.strip() or len(action) > 64:
            raise InputError("An event action must be 1 to 64 characters.", hint="e.g. rotation.upload.")
        try:
            checked_outcome = EventOutcome(outcome)
        except ValueError:
            raise InputError(
                f"Unknown event outcome {outcome!r}.",
                hint=f"use one of: {', '.join(o.value for o in EventOutcome)}.",
            ) from None
        clean = scrub_detail(detail or {})
        with self._write() as session:
            credential_id = None
            if credential is not None:
                credential_id = self._audit_credential_id(session, credential)
            row = EventRow(
                credential_fk=credential_id,
                at=utcnow(),
                actor=actor,
                action=action,
                outcome=checked_outcome,
                detail=clean,
            )
            session.add(row)
            session.flush()
            name = None
            if credential_id is not None:
                name = session.scalar(select(CredentialRow.name).where(CredentialRow.id == credential_id))
            return _event(row, name)

    def events(self, credential: CredentialRef | None = None, *, limit: int = 100) -> list[Event]:
        """Audit records, newest first: of one credential (removed ones included) or of all."""
        named = aliased(CredentialRow)
        with self._read() as session:
            query: Select[EventRow, str | None] = select(EventRow, named.name).outerjoin(
                named, named.id == EventRow.credential_fk
            )
            if credential is not None:
                query = query.where(
                    EventRow.credential_fk.in_(self._event_credential_ids(session, credential))
                )
            rows = session.execute(query.order_by(EventRow.id.desc()).limit(limit))
            return [_event(row, name) for row, name in rows]

    def _audit_credential_id(self, session: Session, ref: CredentialRef) -> int:
        """The row an event is about: removed credentials too, so their removal can be audited."""
        if isinstance(ref, Credential):
            if session.get(CredentialRow, ref.id) is None:
                raise NotFoundError(f"No credential named {ref.name!r}.", hint=_LIST_HINT)
            return ref.id
        credential_id = session.scalar(
            select(CredentialRow.id)
            .where(CredentialRow.name == ref)
            .order_by(CredentialRow.removed_at.is_not(None), CredentialRow.id.desc())
            .limit(1)
        )
        if credential_id is None:
            raise NotFoundError(f"No credential named {ref!r}.", hint=_LIST_HINT)
        return credential_id

    def _event_credential_ids(self, session: Session, ref: CredentialRef) -> list[int]:
        if isinstance(ref, Credential):
            return [ref.id]
        ids = list(session.scalars(select(CredentialRow.id).where(CredentialRow.name == ref)))
        if not ids:
            raise NotFoundError(f"No credential named {ref!r}.", hint=_LIST_HINT)
        return ids


# --------------------------------------------------------------------- helpers


def _due_conditions(now: dt.datetime) -> tuple[Any, ...]:
    return (
        CredentialRow.removed_at.is_(None),
        CredentialRow.next_rotation_at.is_not(None),
        CredentialRow.next_rotation_at <= now,
        *_lease_free(now),
    )


def _lease_free(now: dt.datetime) -> tuple[Any, ...]:
    return (
        or_(
            CredentialRow.lease_owner.is_(None),
            and_(CredentialRow.lease_expires_at.is_not(None), CredentialRow.lease_expires_at <= now),
        ),
    )


def _due_query(now: dt.datetime) -> Select[CredentialRow]:
    return (
        select(CredentialRow)
        .where(*_due_conditions(now))
        .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC; naive datetimes are refused (their zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"The store was given a naive datetime ({value.isoformat()}).",
            hint="pass timezone-aware datetimes, e.g. datetime.now(UTC).",
        )
    return value.astimezone(dt.UTC)


def _check_owner(owner: str) -> None:
    if not owner.strip() or len(owner) > 128:
        raise InputError("A lease owner must be 1 to 128 characters.", hint="e.g. host:pid:random suffix.")


def _version_aad(version_id: str, credential_id: int, fingerprint: str) -> bytes:
    return f"certrotor/version/v1|{version_id}|{credential_id}|{fingerprint}".encode()


def _token_aad(credential_id: int) -> bytes:
    return f"certrotor/management-token/v1|{credential_id}".encode()


def _normalize_base_url(account_id: str, base_url: str | None) -> str | None:
    if base_url is None or not base_url.strip():
        return None
    return NetSuiteEndpoints.for_account(account_id, base_url).api_base


def _short_reason(exc: DBAPIError, url: URL) -> str:
    """The first line of the driver's complaint, without the password if it echoes it."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason[:200]


def _name_taken(name: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"A credential named {name!r} already exists.",
        hint="choose another name, or see it with `certrotor credential list`.",
    )


def _duplicate_certificate(fingerprint: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"The store already holds the certificate with fingerprint {fingerprint[:16]}...",
        hint="generate a new key pair; a certificate can belong to one version only.",
    )


def _rotation_open(name: str, rotation_id: int | None) -> AlreadyExistsError:
    which = f" (#{rotation_id})" if rotation_id is not None else ""
    return AlreadyExistsError(
        f"Credential {name!r} already has an unfinished rotation{which}.",
        hint="resume it (the daemon and `certrotor rotate NAME` do) instead of starting another.",
    )


def _validated_spec(spec: CredentialSpec) -> CredentialSpec:
    """Check a spec as a whole and return it normalised (enums coerced, scopes deduplicated)."""
    if not _NAME.match(spec.name):
        raise InputError(
            f"Invalid credential name {spec.name!r}.",
            hint="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    if not spec.client_id.strip():
        raise InputError("The client ID is empty.", hint="give the integration record's client ID.")
    for label, value in (("entity", spec.entity_id), ("role", spec.role_id)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"The {label} ID must be a number.", hint=f"e.g. --{label} 1000.")
    scopes = tuple(dict.fromkeys(scope.strip() for scope in spec.scopes))
    if not scopes or any(scope not in SCOPES for scope in scopes):
        raise InputError(
            f"Invalid scopes {', '.join(spec.scopes) or '(none)'}.",
            hint=f"choose one or more of: {', '.join(SCOPES)}.",
        )
    max_validity = MAX_VALIDITY_DAYS * 86400
    if not 0 < spec.validity_seconds <= max_validity:
        raise InputError(
            f"A validity of {spec.validity_seconds} s is outside 1 s .. {MAX_VALIDITY_DAYS} days.",
            hint=f"use at most --validity-days {MAX_VALIDITY_DAYS}.",
        )
    if spec.renew_before_min_seconds < 0 or spec.renew_before_max_seconds < spec.renew_before_min_seconds:
        raise InputError(
            "The renewal window must satisfy 0 <= min <= max.",
            hint="e.g. renew between 14d and 7d before expiry.",
        )
    if spec.grace_seconds < 0:
        raise InputError("The grace period cannot be negative.", hint="e.g. 1d.")
    kind = _enum(CredentialKind, spec.kind, "credential kind")
    auth_mode = _enum(AuthMode, spec.auth_mode, "authentication mode")
    if auth_mode is AuthMode.CREDENTIAL and not spec.auth_credential:
        raise InputError(
            "Authentication through another credential needs its name.",
            hint="give --auth-credential NAME.",
        )
    if auth_mode is not AuthMode.CREDENTIAL and spec.auth_credential is not None:
        raise InputError(
            "An authenticating credential is only used with --auth credential.",
            hint="drop --auth-credential or choose --auth credential.",
        )
    if kind is CredentialKind.RECORD and not spec.record_script_id:
        raise InputError(
            "A certificate record credential needs the record's script ID.",
            hint="give --record custcertificate_... (Setup > Company > Certificates).",
        )
    if spec.management_token is not None and not spec.management_token.strip():
        raise InputError("The management token is empty.", hint="give the access token itself.")
    if spec.delivery_dir is not None and not Path(spec.delivery_dir).is_absolute():
        raise InputError(
            f"The delivery directory {spec.delivery_dir!r} is not absolute.",
            hint="give an absolute path.",
        )
    return dataclasses.replace(
        spec,
        name=spec.name,
        client_id=spec.client_id.strip(),
        scopes=scopes,
        kind=kind,
        auth_mode=auth_mode,
        key_spec=_enum(KeySpec, spec.key_spec, "key type"),
        strategy=_enum(Strategy, spec.strategy, "strategy"),
    )


_E = TypeVar("_E", bound=enum.StrEnum)


def _enum(enum_type: type[_E], value: str, label: str) -> _E:
    """``value`` as a member of ``enum_type``, or an InputError listing the choices."""
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum_type)
        raise InputError(f"Unknown {label} {value!r}.", hint=f"choose one of: {choices}.") from None


def _spec_of(row: CredentialRow) -> CredentialSpec:
    return CredentialSpec(
        name=row.name,
        account_id=row.account.account_id,
        client_id=row.client_id,
        entity_id=row.entity_id,
        role_id=row.role_id,
        kind=row.kind,
        scopes=tuple(row.scopes),
        key_spec=row.key_spec,
        validity_seconds=row.validity_seconds,
        renew_before_min_seconds=row.renew_before_min_seconds,
        renew_before_max_seconds=row.renew_before_max_seconds,
        grace_seconds=row.grace_seconds,
        strategy=row.strategy,
        auth_mode=row.auth_mode,
        auth_credential=row.auth_credential.name if row.auth_credential is not None else None,
        hook_command=row.hook_command,
        delivery_dir=row.delivery_dir,
        record_script_id=row.record_script_id,
        record_name=row.record_name,
    )


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        account_id=row.account_id,
        base_url=row.base_url,
        verify_tls=row.verify_tls,
        created_at=row.created_at,
    )


def _credential(row: CredentialRow) -> Credential:
    return Credential(
        id=row.id,
        name=row.name,
        kind=row.kind,
        account_id=row.account.account_id,
        base_url=row.account.base_url,
        verify_tls=row.account.verify_tls,
        client_id=row.client_id,
        entity_id=row.entity_id,
        role_id=row.role_id,
        scopes=tuple(row.scopes),
        key_spec=row.key_spec,
        validity_seconds=row.validity_seconds,
        renew_before_min_seconds=row.renew_before_min_seconds,
        renew_before_max_seconds=row.renew_before_max_seconds,
        grace_seconds=row.grace_seconds,
        strategy=row.strategy,
        resolved_strategy=row.resolved_strategy,
        auth_mode=row.auth_mode,
        auth_credential_name=row.auth_credential.name if row.auth_credential is not None else None,
        has_management_token=row.management_token_sealed is not None,
        hook_command=row.hook_command,
        delivery_dir=row.delivery_dir,
        record_script_id=row.record_script_id,
        record_name=row.record_name,
        next_rotation_at=row.next_rotation_at,
        failed_attempts=row.failed_attempts,
        last_error=row.last_error,
        last_rotation_at=row.last_rotation_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version(row: CertificateVersionRow) -> CertificateVersion:
    return CertificateVersion(
        id=row.id,
        credential_id=row.credential_fk,
        state=row.state,
        certificate_id=row.certificate_id,
        fingerprint_sha256=row.fingerprint_sha256,
        certificate_pem=row.certificate_pem,
        algorithm=row.algorithm,
        not_before=row.not_before,
        not_after=row.not_after,
        created_at=row.created_at,
        activated_at=row.activated_at,
        revoked_at=row.revoked_at,
    )


def _rotation(row: RotationRow) -> Rotation:
    return Rotation(
        id=row.id,
        credential_id=row.credential_fk,
        trigger=row.trigger,
        strategy=row.strategy,
        step=row.step,
        new_version_id=row.new_version_fk,
        old_version_id=row.old_version_fk,
        retire_after=row.retire_after,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        error=row.error,
        token_prefetched_at=row.token_prefetched_at,
    )


def _event(row: EventRow, credential_name: str | None) -> Event:
    return Event(
        id=row.id,
        credential_id=row.credential_fk,
        credential_name=credential_name,
        at=row.at,
        actor=row.actor,
        action=row.action,
        outcome=row.outcome,
        detail=dict(row.detail),
    )
