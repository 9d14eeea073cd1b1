"""Row mapping: ORM rows become the frozen records of :mod:`certrotor.store.domain`, and datetimes
given to the store become the aware UTC values its columns hold.
"""

from __future__ import annotations

import datetime as dt

from certrotor.errors import InputError
from certrotor.store.domain import (
    Account,
    CertificateVersion,
    Credential,
    CredentialSpec,
    Event,
    Rotation,
)
from certrotor.store.models import (
    AccountRow,
    CertificateVersionRow,
    CredentialRow,
    EventRow,
    RotationRow,
)


def aware_utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC; naive datetimes are refused (their zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"The store was given a naive datetime ({value.isoformat()}).",
            hint="pass timezone-aware datetimes, e.g. datetime.now(UTC).",
        )
    return value.astimezone(dt.UTC)


def to_account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        account_id=row.account_id,
        base_url=row.base_url,
        verify_tls=row.verify_tls,
        created_at=row.created_at,
    )


def to_spec(row: CredentialRow) -> CredentialSpec:
    """The spec a credential row would be added with again (without its sealed token)."""
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
        record_mode=row.record_mode,
        restlet_script_id=row.restlet_script_id,
        restlet_deploy_id=row.restlet_deploy_id,
    )


def to_credential(row: CredentialRow) -> Credential:
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
        record_mode=row.record_mode,
        restlet_script_id=row.restlet_script_id,
        restlet_deploy_id=row.restlet_deploy_id,
    )


def to_version(row: CertificateVersionRow) -> CertificateVersion:
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


def to_rotation(row: RotationRow) -> Rotation:
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


def to_event(row: EventRow, credential_name: str | None) -> Event:
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
