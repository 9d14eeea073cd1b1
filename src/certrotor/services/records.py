"""Certificate record credentials (seed 004): which certificates vouch, the record as NetSuite holds it,
and the manual operations (show, recreate). Their rotation steps are in ``services.rotation.record``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from certrotor.client.records import RecordClient
from certrotor.errors import (
    CertrotorError,
    InputError,
    RecordNotFoundError,
)
from certrotor.health_rules import RemoteState
from certrotor.logging import get_logger
from certrotor.protocol.records import (
    DEFAULT_RECORD_ID,
    DEFAULT_RECORD_NAME,
    RECORDS_RESTLET_DEPLOYMENT_ID,
    RECORDS_RESTLET_SCRIPT,
    CertificateRecordInfo,
    placeholder_fingerprint,
    record_script_id,
)
from certrotor.receiver import Verifier
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import (
    CertificateVersion,
    Credential,
    CredentialKind,
    EventOutcome,
    RotationStep,
    Store,
    VersionState,
)

log = get_logger(__name__)

ACTOR = "cli"
VERIFIERS_FILE = "verifiers.pem"
RETIRED_VERIFIERS_KEPT = 3
"""Retired certificates still recognised, so that a late request gets the reason ``retired_key``."""


def require_record(credential: Credential) -> str:
    """The credential's record script ID; refuses an M2M credential."""
    if credential.kind is not CredentialKind.RECORD or not credential.record_script_id:
        raise InputError(
            f"Credential {credential.name!r} is not a certificate record credential.",
            hint="use `certrotor record add NAME ...` for a certificate record.",
        )
    return credential.record_script_id


def record_client(runtime: Runtime, credential: Credential) -> RecordClient:
    """A records RESTlet client for ``credential``'s account, authenticated for management."""
    return RecordClient(
        endpoints_for(credential),
        auth=runtime.management_auth(credential),
        verify_tls=credential.verify_tls,
        timeout=runtime.settings.http_timeout_seconds,
        credential_name=credential.name,
        script=credential.restlet_script_id or RECORDS_RESTLET_SCRIPT,
        deploy=credential.restlet_deploy_id or RECORDS_RESTLET_DEPLOYMENT_ID,
    )


def is_placeholder(info: CertificateRecordInfo) -> bool:
    """The record holds the bundled placeholder (by the server's word or by fingerprint)."""
    return info.is_placeholder or info.fingerprint_sha256 == placeholder_fingerprint()


# -- verifiers ---------------------------------------------------------------------------------


def _grace_ends(store: Store, credential: Credential, previous: CertificateVersion) -> dt.datetime:
    for rotation in store.rotations(credential):
        if rotation.old_version_id == previous.id and rotation.retire_after is not None:
            return rotation.retire_after
    current = store.current_version(credential)
    started = current.activated_at if current is not None and current.activated_at else previous.not_after
    return started + credential.grace


def record_verifiers(store: Store, credential: Credential) -> list[Verifier]:
    """The certificates that may vouch for ``credential``'s signed requests, and until when.

    The current one; the previous one until its grace period ends; the new one of an unfinished
    rotation once it may be in the record (a crash between upload and activation then refuses
    nothing); and the last few retired ones, only to name the refusal.
    """
    verifiers: list[Verifier] = []
    current = store.current_version(credential)
    if current is not None:
        verifiers.append(Verifier(current.certificate, "current", version_id=current.id))
    rotation = store.open_rotation(credential)
    if rotation is not None and rotation.new_version_id and rotation.step is not RotationStep.PREPARE:
        incoming = store.get_version(rotation.new_version_id)
        if incoming.state in (VersionState.PENDING, VersionState.UPLOADED):
            verifiers.append(Verifier(incoming.certificate, "incoming", version_id=incoming.id))
    for previous in store.versions(credential, states=[VersionState.PREVIOUS]):
        until = _grace_ends(store, credential, previous)
        verifiers.append(
            Verifier(previous.certificate, "previous", accept_until=until, version_id=previous.id)
        )
    retired = store.versions(credential, states=[VersionState.REVOKED])[-RETIRED_VERIFIERS_KEPT:]
    verifiers.extend(Verifier(v.certificate, "retired", version_id=v.id) for v in reversed(retired))
    return verifiers


# -- health ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordState:
    """What the record says compared with the local versions."""

    remote_state: RemoteState
    placeholder: bool
    info: CertificateRecordInfo | None
    error: CertrotorError | None = None


def record_state(runtime: Runtime, credential: Credential) -> RecordState:
    """Read the record and compare it with the current (or incoming) version."""
    script_id = require_record(credential)
    try:
        with record_client(runtime, credential) as client:
            info = client.get(script_id)
    except RecordNotFoundError as exc:
        return RecordState("missing", False, None, exc)
    except CertrotorError as exc:
        log.warning("record health check failed", credential=credential.name, error=exc.message)
        return RecordState("unknown", False, None, exc)
    placeholder = is_placeholder(info)
    current = runtime.store.current_version(credential)
    if current is None or placeholder:
        return RecordState("unknown", placeholder, info)
    if info.fingerprint_sha256 == current.fingerprint_sha256:
        return RecordState("active", False, info)
    incoming = next((v for v in record_verifiers(runtime.store, credential) if v.role == "incoming"), None)
    if incoming is not None and incoming.fingerprint == info.fingerprint_sha256:
        # Uploaded, not yet activated (a rotation in progress, or one interrupted by a crash).
        return RecordState("active", False, info)
    return RecordState("revoked", False, info)


# -- manual operations ---------------------------------------------------------------------------


def recreate_record(
    runtime: Runtime,
    name: str,
    *,
    record_name: str | None = None,
    record_id: str | None = None,
) -> tuple[Credential, CertificateRecordInfo]:
    """Recreate a deleted record holding the bundled placeholder (seed 004); the next rotation replaces it.

    The record's name and ID default to the credential's (else "OpenAir real-time", ``_oa_realtime``);
    given ones are kept on the credential. The credential becomes due at once.
    """
    store = runtime.store
    credential = store.get_credential(name)
    require_record(credential)
    script_id = record_script_id(record_id or credential.record_script_id or DEFAULT_RECORD_ID)
    title = (record_name or credential.record_name or DEFAULT_RECORD_NAME).strip()
    if not title:
        raise InputError("The record name is empty.", hint=f'e.g. --record-name "{DEFAULT_RECORD_NAME}".')
    with record_client(runtime, credential) as client:
        info = client.create(script_id, title)
    if script_id != credential.record_script_id or title != credential.record_name:
        credential = store.update_credential(name, record_script_id=script_id, record_name=title)
    if not credential.watches_only:
        credential = store.set_schedule(
            credential.name, runtime.now(), credential.failed_attempts, credential.last_error
        )
    store.append_event(
        credential, ACTOR, "record-recreate", EventOutcome.OK, {"record": script_id, "name": title}
    )
    return credential, info


@dataclass(frozen=True, slots=True)
class RecordView:
    """``certrotor record show``: the credential, its local verifiers and the record as NetSuite holds it."""

    credential: Credential
    verifiers: tuple[Verifier, ...]
    state: RecordState


def show_record(runtime: Runtime, name: str, *, remote: bool = True) -> RecordView:
    store = runtime.store
    credential = store.get_credential(name)
    require_record(credential)
    state = record_state(runtime, credential) if remote else RecordState("unknown", False, None)
    return RecordView(credential, tuple(record_verifiers(store, credential)), state)


__all__ = [
    "VERIFIERS_FILE",
    "RecordState",
    "RecordView",
    "is_placeholder",
    "record_client",
    "record_state",
    "record_verifiers",
    "recreate_record",
    "require_record",
    "show_record",
]
