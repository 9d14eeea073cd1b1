"""Credentials in the store: validated specs, adding (in batches), changing, removing, and the
sealed bootstrap management token.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from certrotor.crypto import MAX_VALIDITY_DAYS, KeySpec, utcnow
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError
from certrotor.keyvault import MasterKey
from certrotor.protocol.models import SCOPES
from certrotor.protocol.records import (
    OPENAIR_RECORD_SCRIPT_ID,
    RECORDS_RESTLET_DEPLOYMENT_ID,
    RECORDS_RESTLET_SCRIPT,
    restlet_deploy_param,
    restlet_script_param,
)
from certrotor.store import accounts
from certrotor.store.domain import (
    AuthMode,
    Credential,
    CredentialKind,
    CredentialSpec,
    RecordMode,
    RotationStep,
    Strategy,
)
from certrotor.store.lookups import (
    LIST_HINT,
    CredentialRef,
    credential_row,
    current_version_row,
    live_row,
    open_rotation_row,
)
from certrotor.store.mapping import to_credential, to_spec
from certrotor.store.models import AccountRow, CredentialRow, RotationRow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,256}")
"""What may stand in the certificate URLs' path: NetSuite's client IDs are 64 hex digits."""
_NAME_BATCH = 500
"""Names looked up per query: far below any database's bound-parameter limit."""


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
    record_mode: RecordMode
    restlet_script_id: str
    restlet_deploy_id: str


CHANGEABLE = frozenset(CredentialChanges.__annotations__)


# ----------------------------------------------------------------- reading


def get(session: Session, ref: CredentialRef) -> Credential:
    return to_credential(credential_row(session, ref))


def find(session: Session, name: str) -> Credential | None:
    row = live_row(session, name)
    return None if row is None else to_credential(row)


def list_live(session: Session) -> list[Credential]:
    rows = session.scalars(
        select(CredentialRow).where(CredentialRow.removed_at.is_(None)).order_by(CredentialRow.name)
    )
    return [to_credential(row) for row in rows.unique()]


# ----------------------------------------------------------------- adding


def add_many(session: Session, master_key: MasterKey, specs: Iterable[CredentialSpec]) -> list[Credential]:
    """Validate every spec, then insert them all: names checked in one query, accounts resolved once.

    A concurrent writer taking a name after the check makes the commit raise IntegrityError;
    the caller turns it into :func:`added_concurrently`.
    """
    validated = [validated_spec(spec) for spec in specs]
    seen: set[str] = set()
    for spec in validated:
        if spec.name in seen:
            raise name_taken(spec.name)
        seen.add(spec.name)
    taken = _live_names(session, seen)
    if taken:
        raise name_taken(min(taken))
    account_rows: dict[str, AccountRow] = {}
    batch: dict[str, CredentialRow] = {}
    now = utcnow()
    for spec in validated:
        account = account_rows.get(spec.account_id.strip())
        if account is None or spec.base_url is not None or spec.verify_tls is not None:
            account = accounts.row_for_spec(session, spec)
            account_rows[account.account_id] = account
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
            auth_credential=_auth_credential_row(session, spec, batch),
            hook_command=spec.hook_command,
            delivery_dir=spec.delivery_dir,
            record_script_id=spec.record_script_id,
            record_name=spec.record_name,
            record_mode=spec.record_mode,
            restlet_script_id=spec.restlet_script_id,
            restlet_deploy_id=spec.restlet_deploy_id,
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
            row.management_token_sealed = _seal_token(master_key, row.id, spec.management_token)
    session.flush()
    return [to_credential(batch[spec.name]) for spec in validated]


def name_taken(name: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"A credential named {name!r} already exists.",
        hint="choose another name, or see it with `certrotor credential list`.",
    )


def added_concurrently() -> AlreadyExistsError:
    return AlreadyExistsError(
        "A credential of the same name was added concurrently.",
        hint="choose another name, or see it with `certrotor credential list`.",
    )


def _live_names(session: Session, names: Iterable[str]) -> set[str]:
    wanted = list(names)
    taken: set[str] = set()
    for start in range(0, len(wanted), _NAME_BATCH):
        chunk = wanted[start : start + _NAME_BATCH]
        taken.update(
            session.scalars(
                select(CredentialRow.name).where(
                    CredentialRow.name.in_(chunk), CredentialRow.removed_at.is_(None)
                )
            )
        )
    return taken


def _auth_credential_row(
    session: Session,
    spec: CredentialSpec,
    batch: dict[str, CredentialRow] | None = None,
) -> CredentialRow | None:
    """The credential ``spec`` authenticates through: in the store, or added in the same batch."""
    if spec.auth_credential is None:
        return None
    if spec.auth_credential == spec.name:
        raise InputError(
            f"Credential {spec.name!r} cannot authenticate through itself by name.",
            hint="use --auth self for a credential's own certificate.",
        )
    row = (batch or {}).get(spec.auth_credential) or live_row(session, spec.auth_credential)
    if row is None:
        raise NotFoundError(
            f"No credential named {spec.auth_credential!r} to authenticate through.",
            hint=LIST_HINT,
        )
    return row


# ----------------------------------------------------------------- changing and removing


def update(session: Session, name: str, changes: CredentialChanges) -> Credential:
    """Apply ``changes``; the result is validated as a whole like a new credential."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise InputError(
            f"Cannot change {', '.join(sorted(unknown))} of a credential.",
            hint=f"changeable: {', '.join(sorted(CHANGEABLE))}.",
        )
    row = credential_row(session, name)
    current = to_spec(row)
    spec_changes: dict[str, Any] = {
        key: value for key, value in changes.items() if key != "resolved_strategy"
    }
    if "scopes" in spec_changes:
        spec_changes["scopes"] = tuple(spec_changes["scopes"])
    spec = validated_spec(dataclasses.replace(current, **spec_changes))
    raw_resolved = changes.get("resolved_strategy", row.resolved_strategy)
    resolved = None if raw_resolved is None else parse_enum(Strategy, raw_resolved, "strategy")
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
    row.auth_credential = _auth_credential_row(session, spec)
    row.hook_command = spec.hook_command
    row.delivery_dir = spec.delivery_dir
    row.record_script_id = spec.record_script_id
    row.record_name = spec.record_name
    was_watched = row.record_mode is RecordMode.MONITOR
    row.record_mode = spec.record_mode
    row.restlet_script_id = spec.restlet_script_id
    row.restlet_deploy_id = spec.restlet_deploy_id
    if spec.record_mode is RecordMode.MONITOR:
        # certrotor never writes a watched record: nothing to plan.
        row.next_rotation_at = None
    elif was_watched and spec.record_mode is RecordMode.ROTATE and row.next_rotation_at is None:
        row.next_rotation_at = utcnow()  # rotated from now on: the first rotation is due at once
    session.flush()
    return to_credential(row)


def remove(session: Session, name: str, *, force: bool) -> Credential:
    """Mark the credential removed, fail its open rotation and drop its schedule and lease."""
    row = credential_row(session, name)
    if not force:
        _check_removable(session, row)
    now = utcnow()
    open_rotations = session.scalars(
        select(RotationRow).where(RotationRow.credential_fk == row.id, RotationRow.finished_at.is_(None))
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
    return to_credential(row)


def _check_removable(session: Session, row: CredentialRow) -> None:
    hint = f"pass --force to remove {row.name!r} anyway (its certificates stay on NetSuite)."
    if current_version_row(session, row.id) is not None:
        raise InputError(f"Credential {row.name!r} still has a current certificate.", hint=hint)
    if open_rotation_row(session, row.id) is not None:
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


# ----------------------------------------------------------------- management token


def set_management_token(
    session: Session, master_key: MasterKey, ref: CredentialRef, token: str | None
) -> Credential:
    """Seal ``token`` bound to the credential's row (``None`` forgets it)."""
    if token is not None and not token.strip():
        raise InputError("The management token is empty.", hint="give the access token itself.")
    row = credential_row(session, ref)
    row.management_token_sealed = None if token is None else _seal_token(master_key, row.id, token.strip())
    session.flush()
    return to_credential(row)


def management_token(session: Session, master_key: MasterKey, ref: CredentialRef) -> str | None:
    """The credential's management token, opened; a wrong master key or a tampered row raises."""
    row = credential_row(session, ref)
    if row.management_token_sealed is None:
        return None
    plain = master_key.open_sealed(row.management_token_sealed, aad=_token_aad(row.id))
    return plain.decode("utf-8")


def _seal_token(master_key: MasterKey, credential_id: int, token: str) -> bytes:
    return master_key.seal(token.encode("utf-8"), aad=_token_aad(credential_id))


def _token_aad(credential_id: int) -> bytes:
    return f"certrotor/management-token/v1|{credential_id}".encode()


# ----------------------------------------------------------------- validation


def validated_spec(spec: CredentialSpec) -> CredentialSpec:
    """Check a spec as a whole and return it normalised (enums coerced, scopes deduplicated)."""
    if not _NAME.fullmatch(spec.name):
        raise InputError(
            f"Invalid credential name {spec.name!r}.",
            hint="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    if not spec.client_id.strip():
        raise InputError("The client ID is empty.", hint="give the integration record's client ID.")
    if not _CLIENT_ID.fullmatch(spec.client_id.strip()):
        raise InputError(
            f"Invalid client ID {spec.client_id!r}.",
            hint="give the integration record's client ID (letters, digits, '.', '_', '~' or '-').",
        )
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
    kind = parse_enum(CredentialKind, spec.kind, "credential kind")
    auth_mode = parse_enum(AuthMode, spec.auth_mode, "authentication mode")
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
    record_settings = _record_settings(spec, kind)
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
        key_spec=parse_enum(KeySpec, spec.key_spec, "key type"),
        strategy=parse_enum(Strategy, spec.strategy, "strategy"),
        **record_settings,
    )


def _record_settings(spec: CredentialSpec, kind: CredentialKind) -> dict[str, Any]:
    """A record credential's mode and RESTlet (defaults filled in); an M2M credential has none."""
    if kind is not CredentialKind.RECORD:
        if spec.record_mode is not None:
            raise InputError(
                "Only a certificate record credential has a mode (rotate or monitor).",
                hint="drop --mode for an M2M credential.",
            )
        return {"record_mode": None, "restlet_script_id": None, "restlet_deploy_id": None}
    if spec.record_mode is not None:
        mode = parse_enum(RecordMode, spec.record_mode, "record mode")
    elif (spec.record_script_id or "").lower() == OPENAIR_RECORD_SCRIPT_ID:
        mode = RecordMode.MONITOR  # OpenAir's connector rotates its own record
    else:
        mode = RecordMode.ROTATE
    return {
        "record_mode": mode,
        "restlet_script_id": restlet_script_param(spec.restlet_script_id or RECORDS_RESTLET_SCRIPT),
        "restlet_deploy_id": restlet_deploy_param(spec.restlet_deploy_id or RECORDS_RESTLET_DEPLOYMENT_ID),
    }


_E = TypeVar("_E", bound=enum.StrEnum)


def parse_enum(enum_type: type[_E], value: str, label: str) -> _E:
    """``value`` as a member of ``enum_type``, or an InputError listing the choices."""
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum_type)
        raise InputError(f"Unknown {label} {value!r}.", hint=f"choose one of: {choices}.") from None
