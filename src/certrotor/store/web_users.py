"""The web console's part of the store: its users (Argon2id hashes), onboardings and single-use share links.

Secrets never come back out: a password is only ever compared with its hash, a share link and an
OAuth ``state`` are kept as SHA-256 hashes, and the PKCE verifier is sealed with the master key.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certrotor.crypto import utcnow
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError
from certrotor.keyvault import MasterKey
from certrotor.store.models import WebOnboardingRow, WebUserRow
from certrotor.store.repository import Store
from certrotor.store.sealed import secrets_aad

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_HASHER = PasswordHasher()
"""Argon2id with the library's current recommended memory and time costs."""


@functools.cache
def _dummy_hash() -> str:
    """Compared against when a user does not exist, so an unknown name costs as much as a wrong password.

    Made on first use, not at import: a whole Argon2 hash (about 0.2 s) is no cost of every command.
    """
    return _HASHER.hash("certrotor: a password nobody has")


class WebRole(enum.StrEnum):
    """Viewers see; operators also rotate, check and onboard."""

    VIEWER = "viewer"
    OPERATOR = "operator"


class OnboardingOutcome(enum.StrEnum):
    CONNECTED = "connected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebUser:
    """A console user as stored, without the password hash."""

    name: str
    role: WebRole
    created_at: dt.datetime

    @property
    def actor(self) -> str:
        """How the audit trail names this person: ``web:NAME``."""
        return f"web:{self.name}"

    @property
    def may_act(self) -> bool:
        return self.role is WebRole.OPERATOR


@dataclass(frozen=True, slots=True, kw_only=True)
class Onboarding:
    """One onboarding by consent; its state and PKCE verifier come out only by :meth:`WebStore.secrets`."""

    id: int
    credential_name: str
    account_id: str
    client_id: str
    entity_id: int
    role_id: int
    base_url: str | None
    manager_credential: str | None
    redirect_uri: str
    started_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    share_used_at: dt.datetime | None
    finished_at: dt.datetime | None
    outcome: OnboardingOutcome | None
    detail: str | None = field(default=None)

    def is_expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOnboarding:
    """What the console asks for when it starts an onboarding (secrets are made by the caller)."""

    credential_name: str
    account_id: str
    client_id: str
    entity_id: int
    role_id: int
    base_url: str | None
    manager_credential: str | None
    redirect_uri: str
    started_by: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    share_token: str = field(repr=False)
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class OnboardingSecrets:
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


class ShareLinkRefused(InputError):  # noqa: N818 - reads as what happened to the link
    """A share link that is unknown, used already, or expired."""

    code = "share_link_refused"


def secret_digest(value: str) -> str:
    """SHA-256 of a high-entropy secret (share link, OAuth state): what the store keeps of it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_user_name(name: str) -> str:
    if not _USER_NAME.fullmatch(name):
        raise InputError(
            f"{name!r} is not a valid console user name.",
            hint="use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"The password is shorter than {MIN_PASSWORD_LENGTH} characters.",
            hint=f"choose a password of at least {MIN_PASSWORD_LENGTH} characters (a passphrase is best).",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError("The password is too long.", hint=f"use at most {MAX_PASSWORD_LENGTH} characters.")
    return password


class WebStore:
    """The console's tables in the certrotor database, through the one :class:`Store` (same engine,
    same opening, migration and error reporting)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._master_key = store.master_key

    @classmethod
    def open(cls, url: str | URL, master_key: MasterKey) -> WebStore:
        """Open the database at ``url``, migrating it first if needed (``Store.open`` does it)."""
        return cls(Store.open(url, master_key))

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> WebStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebStore(url={self._store.url!r})"

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._store._write() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._store._read() as session:
            yield session

    # ----------------------------------------------------------------- users

    def add_user(self, name: str, role: WebRole | str, password: str) -> WebUser:
        """Create a console user; the password is kept only as an Argon2id hash."""
        check_user_name(name)
        checked_role = _role(role)
        password_hash = _HASHER.hash(check_password(password))
        try:
            with self._write() as session:
                row = WebUserRow(name=name, role=checked_role.value, password_hash=password_hash)
                session.add(row)
                session.flush()
                return _user(row)
        except IntegrityError:
            raise AlreadyExistsError(
                f"A console user named {name!r} already exists.",
                hint="choose another name, or remove it first with `certrotor web user remove`.",
            ) from None

    def set_password(self, name: str, password: str) -> WebUser:
        password_hash = _HASHER.hash(check_password(password))
        with self._write() as session:
            row = self._user_row(session, name)
            row.password_hash = password_hash
            return _user(row)

    def remove_user(self, name: str) -> WebUser:
        with self._write() as session:
            row = self._user_row(session, name)
            user = _user(row)
            session.delete(row)
            return user

    def find_user(self, name: str) -> WebUser | None:
        with self._read() as session:
            row = session.scalar(select(WebUserRow).where(WebUserRow.name == name))
            return _user(row) if row is not None else None

    def list_users(self) -> list[WebUser]:
        with self._read() as session:
            return [_user(row) for row in session.scalars(select(WebUserRow).order_by(WebUserRow.name))]

    def authenticate(self, name: str, password: str) -> WebUser | None:
        """The user if ``password`` is theirs; ``None`` otherwise (an unknown name costs the same time)."""
        with self._read() as session:
            row = session.scalar(select(WebUserRow).where(WebUserRow.name == name))
            stored_hash = row.password_hash if row is not None else _dummy_hash()
            user = _user(row) if row is not None else None
        try:
            _HASHER.verify(stored_hash, password[:MAX_PASSWORD_LENGTH])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        if _HASHER.check_needs_rehash(stored_hash):
            self.set_password(name, password)
        return user

    def _user_row(self, session: Session, name: str) -> WebUserRow:
        row = session.scalar(select(WebUserRow).where(WebUserRow.name == name))
        if row is None:
            raise NotFoundError(
                f"No console user named {name!r}.", hint="see the users with `certrotor web user list`."
            )
        return row

    # ----------------------------------------------------------------- onboardings

    def start_onboarding(self, new: NewOnboarding) -> Onboarding:
        """Record a pending onboarding with its hashed state and share link and sealed PKCE verifier."""
        with self._write() as session:
            row = WebOnboardingRow(
                credential_name=new.credential_name,
                account_id=new.account_id,
                client_id=new.client_id,
                entity_id=new.entity_id,
                role_id=new.role_id,
                base_url=new.base_url,
                manager_credential=new.manager_credential,
                redirect_uri=new.redirect_uri,
                state_hash=secret_digest(new.state),
                secrets_sealed=b"",
                share_token_hash=secret_digest(new.share_token),
                started_by=new.started_by,
                expires_at=new.expires_at,
            )
            session.add(row)
            session.flush()
            sealed = json.dumps({"state": new.state, "code_verifier": new.code_verifier}).encode()
            row.secrets_sealed = self._master_key.seal(sealed, aad=secrets_aad(row.id))
            return _onboarding(row)

    def get_onboarding(self, onboarding_id: int) -> Onboarding:
        with self._read() as session:
            row = session.get(WebOnboardingRow, onboarding_id)
            if row is None:
                raise NotFoundError(f"No onboarding number {onboarding_id}.", hint="start one at /connect.")
            return _onboarding(row)

    def onboarding_by_state(self, state: str) -> Onboarding | None:
        with self._read() as session:
            row = session.scalar(
                select(WebOnboardingRow).where(WebOnboardingRow.state_hash == secret_digest(state))
            )
            return _onboarding(row) if row is not None else None

    def recent_onboardings(self, limit: int = 20) -> list[Onboarding]:
        with self._read() as session:
            rows = session.scalars(select(WebOnboardingRow).order_by(WebOnboardingRow.id.desc()).limit(limit))
            return [_onboarding(row) for row in rows]

    def secrets(self, onboarding: Onboarding) -> OnboardingSecrets:
        """The OAuth state and PKCE verifier of ``onboarding`` (for the authorize URL and the exchange)."""
        with self._read() as session:
            sealed = session.get_one(WebOnboardingRow, onboarding.id).secrets_sealed
        opened = json.loads(self._master_key.open_sealed(sealed, aad=secrets_aad(onboarding.id)))
        return OnboardingSecrets(state=opened["state"], code_verifier=opened["code_verifier"])

    def use_share_link(self, token: str, now: dt.datetime) -> Onboarding:
        """Spend a share link: it works once, before it expires, while its onboarding is unfinished."""
        digest = secret_digest(token)
        with self._write() as session:
            row = session.scalar(select(WebOnboardingRow).where(WebOnboardingRow.share_token_hash == digest))
            if row is None:
                raise ShareLinkRefused(
                    "This link is not known to this console.",
                    hint="ask the operator who sent it for a new link.",
                )
            if row.share_used_at is not None or row.finished_at is not None:
                raise ShareLinkRefused(
                    "This link was already used; it works only once.",
                    hint="ask the operator who sent it for a new link.",
                )
            if now >= row.expires_at:
                raise ShareLinkRefused(
                    "This link has expired.", hint="ask the operator who sent it for a new link."
                )
            claimed = session.execute(
                update(WebOnboardingRow)
                .where(WebOnboardingRow.id == row.id, WebOnboardingRow.share_used_at.is_(None))
                .values(share_used_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise ShareLinkRefused(
                    "This link was already used; it works only once.",
                    hint="ask the operator who sent it for a new link.",
                )
            session.refresh(row)
            return _onboarding(row)

    def claim_onboarding(self, onboarding: Onboarding, now: dt.datetime) -> bool:
        """Mark an unfinished onboarding as being finished; ``False`` if another callback got it first."""
        with self._write() as session:
            claimed = session.execute(
                update(WebOnboardingRow)
                .where(WebOnboardingRow.id == onboarding.id, WebOnboardingRow.finished_at.is_(None))
                .values(finished_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    def finish_onboarding(
        self, onboarding: Onboarding, outcome: OnboardingOutcome, detail: str
    ) -> Onboarding:
        with self._write() as session:
            row = session.get_one(WebOnboardingRow, onboarding.id)
            row.outcome = outcome.value
            row.detail = detail[:2000]
            if row.finished_at is None:
                row.finished_at = utcnow()
            return _onboarding(row)


def _role(value: WebRole | str) -> WebRole:
    try:
        return WebRole(value)
    except ValueError:
        raise InputError(
            f"Unknown console role {value!r}.", hint="use --role viewer or --role operator."
        ) from None


def _user(row: WebUserRow) -> WebUser:
    return WebUser(name=row.name, role=WebRole(row.role), created_at=row.created_at)


def _onboarding(row: WebOnboardingRow) -> Onboarding:
    return Onboarding(
        id=row.id,
        credential_name=row.credential_name,
        account_id=row.account_id,
        client_id=row.client_id,
        entity_id=row.entity_id,
        role_id=row.role_id,
        base_url=row.base_url,
        manager_credential=row.manager_credential,
        redirect_uri=row.redirect_uri,
        started_by=row.started_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        share_used_at=row.share_used_at,
        finished_at=row.finished_at,
        outcome=OnboardingOutcome(row.outcome) if row.outcome else None,
        detail=row.detail,
    )
