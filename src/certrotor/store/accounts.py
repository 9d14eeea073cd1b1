"""Accounts in the store: a NetSuite account ID, its base URL (derived or given) and TLS checking."""

from __future__ import annotations

import enum
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from certrotor.crypto import utcnow
from certrotor.errors import InputError, NotFoundError
from certrotor.protocol.urls import NetSuiteEndpoints, check_transport, validate_account_id
from certrotor.store.domain import Account, CredentialSpec
from certrotor.store.mapping import to_account
from certrotor.store.models import AccountRow


class Unset(enum.Enum):
    UNSET = enum.auto()


UNSET: Literal[Unset.UNSET] = Unset.UNSET
"""Marks a keyword argument that was not given (where ``None`` is a meaningful value)."""


def get(session: Session, account_id: str) -> Account:
    return to_account(account_row(session, account_id))


def list_all(session: Session) -> list[Account]:
    rows = session.scalars(select(AccountRow).order_by(AccountRow.account_id))
    return [to_account(row) for row in rows]


def update(
    session: Session,
    account_id: str,
    *,
    base_url: str | Unset | None,
    verify_tls: bool | None,
) -> Account:
    """Change the base URL (``None``: derive it; ``UNSET``: keep it) or TLS checking (``None``: keep)."""
    row = account_row(session, account_id)
    if not isinstance(base_url, Unset):
        row.base_url = normalize_base_url(row.account_id, base_url)
    if verify_tls is not None:
        row.verify_tls = verify_tls
    check_transport(row.base_url, insecure=not row.verify_tls)
    session.flush()
    return to_account(row)


def account_row(session: Session, account_id: str) -> AccountRow:
    row = session.scalar(select(AccountRow).where(AccountRow.account_id == account_id.strip()))
    if row is None:
        raise NotFoundError(f"No account {account_id!r} in the store.", hint="add a credential for it first.")
    return row


def row_for_spec(session: Session, spec: CredentialSpec) -> AccountRow:
    """The spec's account row, added on first use; a spec contradicting the account is refused."""
    account_id = validate_account_id(spec.account_id)
    base_url = normalize_base_url(account_id, spec.base_url)
    row = session.scalar(select(AccountRow).where(AccountRow.account_id == account_id))
    if row is None:
        check_transport(base_url, insecure=spec.verify_tls is False)
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


def normalize_base_url(account_id: str, base_url: str | None) -> str | None:
    if base_url is None or not base_url.strip():
        return None
    return NetSuiteEndpoints.for_account(account_id, base_url).api_base
