"""Compare a credential's local versions with NetSuite's certificate list; adopt, flag, report.

A certificate recorded by any credential of this store on the same integration is never foreign. A
certificate uploaded by this store but never recorded (a crash between upload and commit) is adopted
only when it matches a pending version of the credential: by fingerprint when the list carries the
certificate, else by the validity NetSuite keeps; the pending key then proves it with one token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certrotor.crypto import fingerprint_sha256, load_certificate_pem
from certrotor.errors import CertrotorError, TokenRequestError
from certrotor.health_rules import RemoteState
from certrotor.protocol.models import CertificateListItem
from certrotor.services.runtime import Runtime
from certrotor.store import CertificateVersion, Credential, EventOutcome, VersionState, default_owner

if TYPE_CHECKING:
    from certrotor.client.netsuite import NetSuiteClient

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
    pending_adoption: tuple[str, ...] = ()
    """Unknown certificates that may be a pending version's unrecorded upload (never foreign)."""
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


def unknown_certificates(
    runtime: Runtime, credential: Credential, items: list[CertificateListItem]
) -> list[CertificateListItem]:
    """Active certificates of the credential's (entity, role) that no credential of this store on the
    same integration has recorded: another credential's certificate is never foreign to this one."""
    known = runtime.store.certificate_ids_on_integration(credential)
    mine = combination_items(credential, items)
    return [item for item in mine if not item.revoked and item.certificate_id not in known]


def listed_fingerprint(item: CertificateListItem) -> str | None:
    """The SHA-256 fingerprint of the certificate a list item carries (``certificate``), if it does."""
    pem = (item.model_extra or {}).get("certificate")
    if not isinstance(pem, str):
        return None
    try:
        return fingerprint_sha256(load_certificate_pem(pem))
    except CertrotorError:
        return None


def could_be_upload_of(item: CertificateListItem, version: CertificateVersion) -> bool:
    """Whether the listed certificate can be ``version``'s upload: the same fingerprint when the list
    carries the certificate; otherwise the validity NetSuite keeps (from the version's first day, to
    no later than its last: NetSuite shortens a validity over two years)."""
    fingerprint = listed_fingerprint(item)
    if fingerprint is not None:
        return fingerprint == version.fingerprint_sha256
    return item.valid_from == version.not_before.date() and item.valid_until <= version.not_after.date()


def sort_unknown(
    runtime: Runtime,
    credential: Credential,
    items: list[CertificateListItem],
    disproved: frozenset[str] = frozenset(),
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(foreign, pending adoption): the unknown certificates of the credential's (entity, role) that
    match no pending version of this store, and those that may be such a version's unrecorded upload
    (the next rotation adopts them; revoking one would waste it). ``disproved`` are certificates a
    pending key failed to obtain a token for: they are foreign whatever their validity."""
    pending = runtime.store.pending_on_integration(credential)
    foreign: list[str] = []
    adoptable: list[str] = []
    for item in unknown_certificates(runtime, credential, items):
        matched = item.certificate_id not in disproved and any(
            could_be_upload_of(item, version) for version in pending
        )
        (adoptable if matched else foreign).append(item.certificate_id)
    return tuple(foreign), tuple(adoptable)


def adopt_unrecorded_uploads(
    runtime: Runtime, credential: Credential, items: list[CertificateListItem]
) -> list[tuple[str, str]]:
    """Give pending versions the certificate IDs the server holds for them. Only certificates unknown
    to the whole store that match a pending version are candidates: a fingerprint match is adopted as
    it is, a validity match is proved by one token (never a token tried on any other certificate)."""
    return _adopt(runtime, credential, items)[0]


def _adopt(
    runtime: Runtime, credential: Credential, items: list[CertificateListItem]
) -> tuple[list[tuple[str, str]], frozenset[str]]:
    """(adopted (version, certificate ID) pairs, certificates whose token proof failed)."""
    store = runtime.store
    candidates = unknown_certificates(runtime, credential, items)
    adopted: list[tuple[str, str]] = []
    disproved: set[str] = set()
    for version in store.versions(credential, states=[VersionState.PENDING]):
        if version.certificate_id or not candidates:
            continue
        for item in [c for c in candidates if could_be_upload_of(c, version)]:
            by_fingerprint = listed_fingerprint(item) is not None
            proved = by_fingerprint or _proves(runtime, credential, version, item.certificate_id)
            if not proved:
                disproved.add(item.certificate_id)
            if proved:
                store.set_remote_certificate_id(version, item.certificate_id, state=VersionState.UPLOADED)
                store.append_event(
                    credential,
                    ACTOR,
                    "adopt",
                    EventOutcome.OK,
                    {"version": version.id, "certificate_id": item.certificate_id},
                )
                adopted.append((version.id, item.certificate_id))
                candidates.remove(item)
                disproved.discard(item.certificate_id)
                break
    return adopted, frozenset(disproved)


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
    adopted, disproved = _adopt(runtime, credential, items)
    store = runtime.store
    foreign, pending = sort_unknown(runtime, credential, items, disproved)
    current = store.current_version(credential)
    state: RemoteState = "unknown"
    if current is not None and current.certificate_id:
        remote = next((i for i in items if i.certificate_id == current.certificate_id), None)
        state = "missing" if remote is None else ("revoked" if remote.revoked else "active")
        if state != "active":
            store.append_event(
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
        pending_adoption=pending,
        current_remote_state=state,
        remote_items=tuple(items),
    )
