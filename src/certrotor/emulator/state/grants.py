"""Grants and tokens: spent client assertions (replay), issued tokens, authorization codes, refresh
tokens, and the emulator's own token signing key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, delete, event, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from certrotor.crypto import utcnow
from certrotor.emulator.state.counters import increment_counter
from certrotor.emulator.state.database import Base, Database, ReadCache, UTCDateTime
from certrotor.emulator.state.tenants import EntityInfo, IntegrationInfo, RoleInfo, party_info

SIGNING_KEY_BITS = 2048
TOKENS_KEPT_IN_MEMORY = 100_000
"""Issued tokens answered from memory; beyond that many they are read back from the file."""


class _GrantColumns:
    """Who a token, code or refresh token speaks for: the columns of a :class:`TokenGrant`."""

    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    scopes: Mapped[list[str]] = mapped_column(JSON)


class _UsedAssertionRow(Base):
    """A client assertion already spent, kept until it would have expired anyway."""

    __tablename__ = "emu_used_assertion"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class _IssuedTokenRow(_GrantColumns, Base):
    __tablename__ = "emu_issued_token"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class _AuthorizationCodeRow(_GrantColumns, Base):
    __tablename__ = "emu_authorization_code"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class _RefreshTokenRow(_GrantColumns, Base):
    __tablename__ = "emu_refresh_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class _SigningKeyRow(Base):
    """The emulator's own RSA key that signs access tokens (a test key, kept in the state file)."""

    __tablename__ = "emu_signing_key"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """Who a token (or code, or refresh token) speaks for."""

    integration: IntegrationInfo
    entity: EntityInfo
    role: RoleInfo
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    jti: str
    kind: str
    grant: TokenGrant
    expires_at: dt.datetime
    revoked: bool


def hash_secret(value: str) -> str:
    """Codes and refresh tokens are stored hashed: the state file never holds them usable."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Grants:
    """Reads and writes of what tokens speak for, and of the key that signs them."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._signing_key: tuple[str, dt.datetime, rsa.RSAPrivateKey] | None = None
        # Replay memory and issued tokens are answered from memory and written behind (one
        # transaction every 0.2 s, one multi-row statement per table): the rules are the same,
        # without a commit per token request.
        self._memory = threading.Lock()
        self._spent: dict[str, dt.datetime] | None = None
        self._next_prune: dt.datetime | None = None
        self._tokens: dict[str, IssuedToken] = {}
        self._stored_tokens: ReadCache[str, IssuedToken | None] = ReadCache(database)
        self._unwritten_spent: dict[str, dt.datetime] = {}
        self._unwritten_tokens: list[dict[str, Any]] = []
        self._unwritten_grants: Counter[str] = Counter()
        self._write_scheduled = False

    def consume_assertion(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        """Remember a spent assertion; ``False`` when it was spent before (a replay)."""
        _require_aware(expires_at, now)
        # Lock order is the database's lock, then memory (a flush holds the first and, after its
        # commit, takes the second): the spent assertions are loaded before memory is locked.
        with self._memory:
            loaded = self._spent is not None
        if not loaded:
            with self._database.transaction() as session:
                rows = session.execute(
                    select(_UsedAssertionRow.key, _UsedAssertionRow.expires_at).where(
                        _UsedAssertionRow.expires_at >= now
                    )
                )
                stored = {row.key: row.expires_at for row in rows}
            with self._memory:
                if self._spent is None:
                    self._spent = stored
        with self._memory:
            assert self._spent is not None
            spent_until = self._spent.get(key)
            if spent_until is not None and spent_until >= now:
                return False
            self._spent[key] = expires_at
            if self._next_prune is None or now >= self._next_prune:
                self._next_prune = now + dt.timedelta(seconds=60)
                self._spent = {k: until for k, until in self._spent.items() if until >= now}
                self._database.defer(
                    lambda session: session.execute(
                        delete(_UsedAssertionRow).where(_UsedAssertionRow.expires_at < now)
                    )
                )
            self._unwritten_spent[key] = expires_at
            self._schedule_write()
        return True

    def store_issued_token(
        self,
        *,
        jti: str,
        kind: str,
        grant: TokenGrant,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
        counter: str | None = None,
    ) -> None:
        """Known at once to :meth:`find_token` (from memory until written, then from the file);
        written to the file with the next deferred writes."""
        _require_aware(issued_at, expires_at)
        row = {
            "jti": jti,
            "kind": kind,
            **_grant_columns(grant),
            "issued_at": issued_at,
            "expires_at": expires_at,
            "revoked": False,
        }
        if len(self._tokens) >= TOKENS_KEPT_IN_MEMORY:
            self._database.flush()
            with self._memory:
                self._tokens.clear()
        with self._memory:
            self._tokens[jti] = IssuedToken(
                jti=jti, kind=kind, grant=grant, expires_at=expires_at, revoked=False
            )
            self._unwritten_tokens.append(row)
            if counter is not None:
                self._unwritten_grants[counter] += 1
            self._schedule_write()

    def _schedule_write(self) -> None:
        """One deferred write carries every spent assertion, token and grant count since the last
        (the caller holds ``_memory``)."""
        if not self._write_scheduled:
            self._write_scheduled = True
            self._database.defer(self._write_unwritten)

    def _write_unwritten(self, session: Session) -> None:
        with self._memory:
            spent, self._unwritten_spent = self._unwritten_spent, {}
            tokens, self._unwritten_tokens = self._unwritten_tokens, []
            grants, self._unwritten_grants = self._unwritten_grants, Counter()
            self._write_scheduled = False
        if spent:
            upsert = sqlite_insert(Base.metadata.tables[_UsedAssertionRow.__tablename__])
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["key"], set_={"expires_at": upsert.excluded.expires_at}
                ),
                [{"key": key, "expires_at": until} for key, until in spent.items()],
            )
        if tokens:
            session.execute(insert(Base.metadata.tables[_IssuedTokenRow.__tablename__]), tokens)
            written = [token["jti"] for token in tokens]

            def forget_written(_session: Session) -> None:
                # Once in the file, a token is read from it (cached until any commit), so a
                # revocation by another process over the same file is seen.
                with self._memory:
                    for jti in written:
                        self._tokens.pop(jti, None)

            event.listen(session, "after_commit", forget_written, once=True)
        for counter, count in sorted(grants.items()):
            increment_counter(session, "token_grants", counter, by=count)

    def find_token(self, jti: str) -> IssuedToken | None:
        with self._memory:
            remembered = self._tokens.get(jti)
        if remembered is not None:
            return remembered
        return self._stored_tokens.get(jti, lambda: self._load_token(jti))

    def _load_token(self, jti: str) -> IssuedToken | None:
        with self._database.transaction() as session:
            row = session.get(_IssuedTokenRow, jti)
            if row is None:
                return None
            return IssuedToken(
                jti=row.jti,
                kind=row.kind,
                grant=_grant(session, row),
                expires_at=row.expires_at,
                revoked=row.revoked,
            )

    def revoke_token(self, jti: str) -> bool:
        self._database.flush()
        with self._memory:
            remembered = self._tokens.get(jti)
            if remembered is not None:
                self._tokens[jti] = dataclasses.replace(remembered, revoked=True)
        with self._database.transaction() as session:
            row = session.get(_IssuedTokenRow, jti)
            if row is None:
                return False
            row.revoked = True
            return True

    def store_authorization_code(
        self, code: str, *, grant: TokenGrant, redirect_uri: str, code_challenge: str, expires_at: dt.datetime
    ) -> None:
        with self._database.transaction() as session:
            session.add(
                _AuthorizationCodeRow(
                    code_hash=hash_secret(code),
                    redirect_uri=redirect_uri,
                    code_challenge=code_challenge,
                    **_grant_columns(grant),
                    expires_at=expires_at,
                    used=False,
                )
            )

    def redeem_authorization_code(self, code: str, *, now: dt.datetime) -> tuple[TokenGrant, str, str] | None:
        """Spend a code once: (grant, redirect URI, PKCE challenge), or ``None`` if unusable."""
        with self._database.transaction() as session:
            row = session.get(_AuthorizationCodeRow, hash_secret(code))
            if row is None or row.used or row.expires_at <= now:
                return None
            row.used = True
            return _grant(session, row), row.redirect_uri, row.code_challenge

    def store_refresh_token(self, token: str, *, grant: TokenGrant, expires_at: dt.datetime) -> None:
        with self._database.transaction() as session:
            session.add(
                _RefreshTokenRow(
                    token_hash=hash_secret(token),
                    **_grant_columns(grant),
                    expires_at=expires_at,
                    revoked=False,
                )
            )

    def find_refresh_token(self, token: str, *, now: dt.datetime) -> TokenGrant | None:
        with self._database.transaction() as session:
            row = session.get(_RefreshTokenRow, hash_secret(token))
            if row is None or row.revoked or row.expires_at <= now:
                return None
            return _grant(session, row)

    def signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        """(kid, key) of the key that signs access tokens, created on first use."""
        kid, _created_at, key = self.signing_key_info()
        return kid, key

    def signing_key_info(self) -> tuple[str, dt.datetime, rsa.RSAPrivateKey]:
        """(kid, creation time, key) of the key that signs access tokens, created on first use."""
        with self._database.transaction() as session:
            if self._signing_key is not None:
                return self._signing_key
            row = session.scalar(select(_SigningKeyRow).order_by(_SigningKeyRow.created_at.desc()))
            if row is None:
                key = _process_signing_key()
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode("ascii")
                row = _SigningKeyRow(kid=secrets.token_urlsafe(16), private_pem=pem, created_at=utcnow())
                session.add(row)
            else:
                loaded = serialization.load_pem_private_key(row.private_pem.encode("ascii"), None)
                assert isinstance(loaded, rsa.RSAPrivateKey)
                key = loaded
            self._signing_key = (row.kid, row.created_at, key)
            return self._signing_key


def _require_aware(*moments: dt.datetime) -> None:
    """Deferred writes are checked now: a naive datetime never reaches the file (nor memory)."""
    if any(moment.tzinfo is None for moment in moments):
        raise ValueError("naive datetime given to the emulator state")


def _grant_columns(grant: TokenGrant) -> dict[str, Any]:
    """The :class:`_GrantColumns` values of ``grant``."""
    return {
        "integration_pk": grant.integration.pk,
        "entity_pk": grant.entity.pk,
        "role_pk": grant.role.pk,
        "scopes": list(grant.scopes),
    }


def _grant(session: Session, row: _GrantColumns) -> TokenGrant:
    integration, entity, role = party_info(session, row.integration_pk, row.entity_pk, row.role_pk)
    return TokenGrant(integration=integration, entity=entity, role=role, scopes=tuple(row.scopes))


@functools.cache
def _process_signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process for new state files: generating one costs ~0.3 s, and tests start
    hundreds of emulators. Each state still has its own ``kid`` and token registry, so a token of
    one emulator is refused by another."""
    return rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)


__all__ = ["Grants", "IssuedToken", "TokenGrant", "hash_secret"]
