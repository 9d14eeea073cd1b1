"""Compare a credential's local versions with NetSuite's certificate list; adopt, flag, report.

A certificate uploaded by this store but never recorded (a crash between upload and commit) is
adopted by proof: the pending key obtains a token with the candidate's certificate ID as ``kid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from certrotor.client.netsuite import NetSuiteClient
from certrotor.errors import TokenRequestError
from certrotor.health_rules import RemoteState
from certrotor.protocol.models import CertificateListItem
from certrotor.services.runtime import Runtime
from certrotor.store import CertificateVersion, Credential, EventOutcome, VersionState, default_owner

ACTOR = "reconcile"
RECONCILE_LEASE_SECONDS = 120.0
"""How long reconcile holds a credential: one list, a few adoptions and events."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What the server's list told about one credential."""

    credential: str
    adopted: tuple[tuple[str, str], ...] = ()
    """(version id, certificate ID) pairs adopted from the server."""
    foreign: tuple[str, ...] = ()
    """Active certificates of this (entity, role) that no version here knows."""
    current_remote_state: RemoteState = "unknown"
    remote_items: tuple[CertificateListItem, ...] = field(default=(), repr=False)


def combination_items(credential: Credential, items: list[CertificateListItem]) -> list[CertificateListItem]:
    """The certificates of ``credential``'s own (entity, role) on its integration."""
    return [i for i in items if i.entity.id == credential.entity_id and i.role.id == credential.role_id]


def _proves(
    runtime: Runtime, credential: Credential, version: CertificateVersion, certificate_id: str
) -> bool:
    """Whether ``version``'s key obtains a token as ``certificate_id``: then that certificate is ours."""
    with runtime.token_client(credential) as token_client:
        try:
            token_client.request_token(
                runtime.private_key(version), certificate_id=certificate_id, scopes=credential.scopes
            )
        except TokenRequestError:
            return False
    return True


def adopt_unrecorded_uploads(
    runtime: Runtime, credential: Credential, items: list[CertificateListItem]
) -> list[tuple[str, str]]:
    """Give pending versions the certificate IDs the server holds for them (proved by a token)."""
    store = runtime.store
    versions = store.versions(credential)
    known_ids = {v.certificate_id for v in versions if v.certificate_id}
    candidates = [
        item
        for item in combination_items(credential, items)
        if not item.revoked and item.certificate_id not in known_ids
    ]
    adopted: list[tuple[str, str]] = []
    for version in versions:
        if version.state is not VersionState.PENDING or version.certificate_id or not candidates:
            continue
        plausible = [
            c
            for c in candidates
            if c.valid_from == version.not_before.date() and c.valid_until <= version.not_after.date()
        ]
        for item in plausible:
            if _proves(runtime, credential, version, item.certificate_id):
                store.set_remote_certificate_id(version, item.certificate_id, state=VersionState.UPLOADED)
                store.record_event(
                    credential,
                    ACTOR,
                    "adopt",
                    EventOutcome.OK,
                    {"version": version.id, "certificate_id": item.certificate_id},
                )
                adopted.append((version.id, item.certificate_id))
                candidates.remove(item)
                break
    return adopted


def reconcile(runtime: Runtime, credential: Credential, client: NetSuiteClient) -> ReconcileReport:
    """List the server's certificates, adopt unrecorded uploads, find foreign ones and the current's state.

    All of it happens under the credential's lease (a dead local process's lease is taken over), and
    the versions are read once it is held: a rotation in progress elsewhere makes it raise
    CredentialBusyError and change nothing, instead of writing from a snapshot the rotation outdates.
    """
    store = runtime.store
    owner = default_owner()
    held = store.claim_taking_over_dead(credential, owner, RECONCILE_LEASE_SECONDS)
    try:
        return _reconcile_held(runtime, held, client)
    finally:
        store.release(held, owner)


def _reconcile_held(runtime: Runtime, credential: Credential, client: NetSuiteClient) -> ReconcileReport:
    items = client.list_certificates()
    adopted = adopt_unrecorded_uploads(runtime, credential, items)
    store = runtime.store
    versions = store.versions(credential)
    known_ids = {v.certificate_id for v in versions if v.certificate_id}
    foreign = tuple(
        i.certificate_id
        for i in combination_items(credential, items)
        if not i.revoked and i.certificate_id not in known_ids
    )
    current = store.current_version(credential)
    state: RemoteState = "unknown"
    if current is not None and current.certificate_id:
        remote = next((i for i in items if i.certificate_id == current.certificate_id), None)
        state = "missing" if remote is None else ("revoked" if remote.revoked else "active")
        if state != "active":
            store.record_event(
                credential,
                ACTOR,
                "current-" + state,
                EventOutcome.ERROR,
                {"certificate_id": current.certificate_id},
            )
    return ReconcileReport(
        credential=credential.name,
        adopted=tuple(adopted),
        foreign=foreign,
        current_remote_state=state,
        remote_items=tuple(items),
    )
