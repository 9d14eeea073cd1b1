"""Every sealed column of the store in one table: whether anything is sealed, which master key the
store expects, the master key a command may use (never a silently new one), and re-sealing all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from certrotor.errors import MasterKeyError
from certrotor.keyvault import MasterKey, pending_key_path, promote_pending_key_file
from certrotor.store.credentials import _token_aad as token_aad
from certrotor.store.engine import create_store_engine, parse_url, sqlite_path
from certrotor.store.failures import failure_error, storage_cause
from certrotor.store.meta import MASTER_KEY_ID
from certrotor.store.models import CertificateVersionRow, CredentialRow, StoreMetaRow, WebOnboardingRow
from certrotor.store.versions import _version_aad as version_aad

if TYPE_CHECKING:
    from certrotor.config import Settings


def secrets_aad(onboarding_id: int) -> bytes:
    """The associated data that binds a console onboarding's sealed secrets to its row."""
    return f"certrotor:web-onboarding:{onboarding_id}".encode()


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column holding blobs sealed with the master key, and the AAD that binds each to its row."""

    model: Any
    column: str
    aad: Callable[[Any], bytes]

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        CertificateVersionRow,
        "key_sealed",
        lambda row: version_aad(row.id, row.credential_fk, row.fingerprint_sha256),
    ),
    SealedColumn(CredentialRow, "management_token_sealed", lambda row: token_aad(row.id)),
    SealedColumn(WebOnboardingRow, "secrets_sealed", lambda row: secrets_aad(row.id)),
)
"""Every secret the store seals: version keys, management tokens, console onboarding secrets."""


def sealed_rows(session: Session) -> list[tuple[SealedColumn, Any]]:
    """Every row with a sealed value, with its column."""
    found = []
    for sealed in SEALED_COLUMNS:
        column = getattr(sealed.model, sealed.column)
        for row in session.scalars(select(sealed.model).where(column.is_not(None))):
            if getattr(row, sealed.column):
                found.append((sealed, row))
    return found


def reseal_all(session: Session, old: MasterKey, new: MasterKey) -> int:
    """Open every sealed value with ``old`` and seal it with ``new``; record ``new`` as the store's key.

    All in the caller's transaction: a crash leaves every secret under exactly one of the two keys.
    """
    count = 0
    for sealed, row in sealed_rows(session):
        aad = sealed.aad(row)
        setattr(row, sealed.column, new.seal(old.open_sealed(getattr(row, sealed.column), aad=aad), aad=aad))
        count += 1
    record_master_key_id(session, new.key_id)
    return count


def record_master_key_id(session: Session, key_id: str) -> None:
    """The store's secrets are (from this transaction on) sealed under ``key_id``."""
    row = session.get(StoreMetaRow, MASTER_KEY_ID)
    if row is None:
        session.add(StoreMetaRow(name=MASTER_KEY_ID, value=key_id))
    else:
        row.value = key_id


@dataclass(frozen=True, slots=True)
class StoreKeyFacts:
    """What a store says about its master key before it is opened: recorded id, anything sealed."""

    recorded_key_id: str | None
    sealed: bool


def peek(url: str | URL) -> StoreKeyFacts:
    """Read the recorded master key id and whether anything is sealed, creating and migrating nothing."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is None or not path.exists() or path.stat().st_size == 0:
            return StoreKeyFacts(None, sealed=False)
    engine = create_store_engine(parsed)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            if StoreMetaRow.__tablename__ not in tables:
                return StoreKeyFacts(None, sealed=False)
            with Session(connection) as session:
                recorded = session.get(StoreMetaRow, MASTER_KEY_ID)
                sealed = any(
                    session.scalar(
                        select(getattr(item.model, item.column))
                        .where(getattr(item.model, item.column).is_not(None))
                        .limit(1)
                    )
                    for item in SEALED_COLUMNS
                    if item.table in tables
                )
                return StoreKeyFacts(recorded.value if recorded else None, sealed=sealed)
    except DBAPIError as exc:
        # The store cannot be read: say why now, before any key file is made.
        what = f"Cannot open the database {parsed.render_as_string(hide_password=True)}"
        raise failure_error(exc, parsed, what, storage_cause(exc, parsed)) from None
    finally:
        engine.dispose()


def forget_master_key_id(url: str | URL) -> None:
    """Drop the recorded key id of a store with nothing sealed, so that a new key may take over."""
    engine = create_store_engine(parse_url(url))
    try:
        with Session(engine) as session, session.begin():
            row = session.get(StoreMetaRow, MASTER_KEY_ID)
            if row is not None:
                session.delete(row)
    finally:
        engine.dispose()


def master_key_for(settings: Settings, *, recovering: bool = False) -> MasterKey:
    """The master key for the settings' store: ``CERTROTOR_MASTER_KEY``, else the key file.

    A key file is created only for a store with nothing sealed in it (or by ``recovering``, the
    explicit ``certrotor credential recover``); a missing key file of a store that holds secrets
    is an error naming the file and the restore, never a silently new key. A ``master-key rotate``
    killed between its commit and replacing the key file is completed here.
    """
    if settings.master_key is not None:
        return MasterKey.from_base64url(settings.master_key.get_secret_value())
    path = settings.resolved_master_key_file
    url = settings.resolved_database_url
    pending = pending_key_path(path)
    if pending.exists():
        facts = peek(url)
        if facts.recorded_key_id == MasterKey.from_file(pending, create=False).key_id:
            promote_pending_key_file(path)  # the re-sealing committed: finish the rotation
        else:
            pending.unlink(missing_ok=True)  # the re-sealing never committed: the old key stands
    if path.exists() or path.is_symlink():
        return MasterKey.from_file(path, create=False)
    facts = peek(url)
    if facts.sealed and not recovering:
        raise missing_key_file(path, facts.recorded_key_id)
    if facts.recorded_key_id is not None and not facts.sealed:
        forget_master_key_id(url)
    return MasterKey.from_file(path, create=True)


def missing_key_file(path: Path, recorded_key_id: str | None) -> MasterKeyError:
    under = f" under master key {recorded_key_id}" if recorded_key_id else ""
    return MasterKeyError(
        f"The master key file {path} is missing, but this store holds secrets sealed{under}; "
        "no new key was made, since it could not open them.",
        hint=f"restore the key file to {path} from your backup (mode 0600), or set CERTROTOR_MASTER_KEY to "
        "the key `certrotor master-key export` wrote; without a backup, `certrotor credential recover "
        "NAME --token TOKEN` gives each credential a new key pair.",
    )


__all__ = [
    "SEALED_COLUMNS",
    "SealedColumn",
    "StoreKeyFacts",
    "master_key_for",
    "missing_key_file",
    "peek",
    "record_master_key_id",
    "reseal_all",
    "sealed_rows",
]
