"""The seed's manual steps for one credential: enrol a key, upload, list, revoke, get a token."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from certrotor import crypto
from certrotor.client.netsuite import NetSuiteClient
from certrotor.errors import AlreadyExistsError, CertificateError, InputError, NotFoundError
from certrotor.protocol.models import CertificateListItem, TokenResponse, UploadCertificateResponse
from certrotor.scheduling import RenewalWindow, plan_next_rotation
from certrotor.services.reconcile import sort_unknown
from certrotor.services.rotation.delivery import check_delivery_target
from certrotor.services.rotation.kinds import m2m_steps_for
from certrotor.services.runtime import Runtime
from certrotor.store import (
    CertificateVersion,
    Credential,
    CredentialSpec,
    EventOutcome,
    RecordMode,
    VersionState,
)
from certrotor.store.credentials import validated_spec
from certrotor.userfiles import read_user_file

ACTOR = "cli"


def _read(path: Path, what: str) -> bytes:
    return read_user_file(path, what=f"the {what}", hint="check the path.")


def add_credential(
    runtime: Runtime,
    spec: CredentialSpec,
    *,
    key_file: Path | None = None,
    cert_file: Path | None = None,
) -> tuple[Credential, CertificateVersion]:
    """Register a credential with its first key pair: imported from files, or generated."""
    check_delivery_target(runtime, spec.name, spec.delivery_dir)
    if (key_file is None) != (cert_file is None):
        raise InputError(
            "Give both --key-file and --cert-file, or neither.",
            hint="omit both to let certrotor generate the first key pair.",
        )
    if key_file is not None and cert_file is not None:
        private_key = crypto.load_private_key_pem(_read(key_file, "key file"))
        certificate = crypto.load_certificate_pem(_read(cert_file, "certificate file"))
        crypto.check_certificate_usable(certificate, enforce_max_validity=True)
        if not crypto.keys_match(private_key, certificate):
            raise CertificateError(
                f"The key in {key_file} does not belong to the certificate in {cert_file}.",
                hint="give the key and certificate made together by `certrotor keygen`.",
            )
        # Checked before the credential is stored, so a refused import leaves no credential behind.
        fingerprint = crypto.fingerprint_sha256(certificate)
        if runtime.store.version_by_fingerprint(fingerprint) is not None:
            raise AlreadyExistsError(
                f"The certificate in {cert_file} is already in the store "
                f"(fingerprint {fingerprint[:16]}...).",
                hint="make a new key pair with `certrotor keygen`; one certificate serves one credential.",
            )
    else:
        private_key = crypto.generate_private_key(spec.key_spec)
        certificate = crypto.build_self_signed_certificate(
            private_key,
            common_name=f"certrotor {spec.name}",
            validity_days=0,
            validity=spec_validity(spec),
        )
    store = runtime.store
    credential = store.add_credential(spec)
    version = store.add_version(credential, private_key, certificate, VersionState.PENDING)
    # Due at once: a daemon enrols a credential that has no current certificate yet.
    credential = store.set_schedule(credential, runtime.now(), 0, None)
    store.append_event(credential, ACTOR, "credential-add", EventOutcome.OK, {"version": version.id})
    return credential, version


def add_record_credential(
    runtime: Runtime, spec: CredentialSpec
) -> tuple[Credential, CertificateVersion | None]:
    """Register a record credential: in ``rotate`` mode with its first key pair, due at once; a watched
    (``monitor``) one gets neither, since certrotor never writes its record."""
    if validated_spec(spec).record_mode is not RecordMode.MONITOR:
        return add_credential(runtime, spec)
    credential = runtime.store.add_credential(spec)
    runtime.store.append_event(credential, ACTOR, "credential-add", EventOutcome.OK, {"mode": "monitor"})
    return credential, None


def _m2m_credential(runtime: Runtime, name: str) -> Credential:
    """The credential ``name``; the seed's manual certificate steps refuse a certificate record credential."""
    return m2m_steps_for(runtime.store.get_credential(name), runtime).credential


REPLANNING_SETTINGS = frozenset(
    {"renew_before_min_seconds", "renew_before_max_seconds", "validity_seconds", "strategy"}
)
"""Settings whose change re-plans a rotation already planned (``credential set``)."""


def replan_rotation(runtime: Runtime, credential: Credential) -> dt.datetime | None:
    """Plan the credential's next rotation again, inside its (new) renewal window, now.

    A pending retry after a failure keeps its earlier time; a credential without a current
    certificate, with an unfinished rotation or that certrotor only watches has nothing to re-plan
    (``None``).
    """
    store = runtime.store
    current = store.current_version(credential)
    if current is None or credential.record_mode is RecordMode.MONITOR or store.open_rotation(credential):
        return None
    window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
    planned = plan_next_rotation(current.not_before, current.not_after, window, random.Random())
    if credential.failed_attempts and credential.next_rotation_at is not None:
        planned = min(planned, credential.next_rotation_at)
    store.set_schedule(credential, planned, credential.failed_attempts, credential.last_error)
    return planned


def spec_validity(spec: CredentialSpec) -> dt.timedelta:
    return dt.timedelta(seconds=spec.validity_seconds)


@dataclass(frozen=True, slots=True)
class UploadResult:
    answer: UploadCertificateResponse
    version: CertificateVersion
    activated: bool


def upload(runtime: Runtime, name: str) -> UploadResult:
    """Upload the credential's newest pending version; it becomes current if there is none yet."""
    store = runtime.store
    credential = _m2m_credential(runtime, name)
    pending = [
        v for v in store.versions(credential, states=[VersionState.PENDING]) if v.certificate_id is None
    ]
    if not pending:
        raise NotFoundError(
            f"Credential {name!r} has no certificate waiting to be uploaded.",
            hint=f"use `certrotor rotate {name}` to make and upload a new one.",
        )
    version = pending[-1]
    with runtime.client_for(credential) as client:
        answer = client.upload_certificate(
            version.certificate_pem, entity=credential.entity_id, role=credential.role_id
        )
    version = store.set_remote_certificate_id(version, answer.certificate_id, state=VersionState.UPLOADED)
    store.append_event(
        credential, ACTOR, "upload", EventOutcome.OK, {"certificate_id": answer.certificate_id}
    )
    activated = False
    if store.current_version(credential) is None:
        version = store.activate(credential, version)
        activated = True
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        planned = plan_next_rotation(version.not_before, version.not_after, window, random.Random())
        store.set_schedule(credential, planned, 0, None)
        store.append_event(
            credential, ACTOR, "activate", EventOutcome.OK, {"certificate_id": answer.certificate_id}
        )
    return UploadResult(answer=answer, version=version, activated=activated)


def list_remote(runtime: Runtime, name: str) -> list[CertificateListItem]:
    credential = _m2m_credential(runtime, name)
    with runtime.client_for(credential) as client:
        return client.list_certificates()


def revoke(
    runtime: Runtime, name: str, certificate_id: str, *, force: bool = False
) -> CertificateVersion | None:
    """Revoke a certificate on NetSuite; the local version that carries that ID is marked revoked.

    The current certificate, one a rotation is putting in place, and an unrecorded upload of a pending
    version (pending adoption) are revoked only with ``force``.
    """
    store = runtime.store
    credential = _m2m_credential(runtime, name)
    if not certificate_id.strip():
        raise InputError("The certificate ID is empty.", hint=f"see `certrotor list {name}` for the IDs.")
    local = store.version_by_certificate_id(credential, certificate_id)
    with runtime.client_for(credential) as client:
        if not force:
            _refuse_revoking_what_is_needed(runtime, credential, client, certificate_id, local)
        client.revoke_certificate(certificate_id)
    store.append_event(credential, ACTOR, "revoke", EventOutcome.OK, {"certificate_id": certificate_id})
    if local is not None and local.state is not VersionState.REVOKED:
        return store.set_version_state(local, VersionState.REVOKED)
    return local


def _refuse_revoking_what_is_needed(
    runtime: Runtime,
    credential: Credential,
    client: NetSuiteClient,
    certificate_id: str,
    local: CertificateVersion | None,
) -> None:
    """InputError naming ``--force`` when ``certificate_id`` is held by the current version, a version
    a rotation is putting in place, or (by NetSuite's list) may be a pending version's upload."""
    name = credential.name
    force = f"pass --force to revoke it anyway (`certrotor revoke {name} {certificate_id} --force`)"
    if local is not None and local.state is VersionState.CURRENT:
        raise InputError(
            f"Certificate {certificate_id} is the current certificate of {name!r}: revoking it stops "
            "every consumer and management call that uses it.",
            hint=f"rotate first (`certrotor rotate {name}`), or {force}.",
        )
    if local is not None and local.state in (VersionState.PENDING, VersionState.UPLOADED):
        raise InputError(
            f"Certificate {certificate_id} is the new certificate of {name!r} that a rotation is putting "
            f"in place ({local.state.value}).",
            hint=f"let the rotation finish (`certrotor rotate {name}`), or {force}.",
        )
    if local is None:
        _foreign, pending = sort_unknown(runtime, credential, client.list_certificates())
        if certificate_id in pending:
            raise InputError(
                f"Certificate {certificate_id} matches a pending version of {name!r}: an interrupted "
                "rotation uploaded it without recording it (pending adoption).",
                hint=f"run `certrotor rotate {name}`, which adopts it, or {force}.",
            )


def request_token(runtime: Runtime, name: str) -> TokenResponse:
    """An access token from the credential's current certificate (the client credentials flow)."""
    store = runtime.store
    credential = _m2m_credential(runtime, name)
    current = store.current_version(credential)
    if current is None or current.certificate_id is None:
        raise NotFoundError(
            f"Credential {name!r} has no current certificate.",
            hint=f"run `certrotor upload {name}` or `certrotor rotate {name}` first.",
        )
    now = runtime.now()
    if now >= current.not_after:
        # NetSuite would refuse it too; say so here, with the command that makes a new one.
        raise CertificateError(
            f"The current certificate {current.certificate_id} of {name!r} expired on "
            f"{current.not_after:%Y-%m-%d %H:%M:%S} UTC.",
            hint=f"run `certrotor rotate {name}` to make, upload and activate a new one.",
        )
    with runtime.token_client(credential) as client:
        return client.request_token(
            store.load_private_key(current), certificate_id=current.certificate_id, scopes=credential.scopes
        )
