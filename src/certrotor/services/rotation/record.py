"""Certificate record steps (seed 004): write key and certificate into the record, read it back,
deliver the verifier certificates (never a key), and retire the previous verifier locally.

NetSuite holds the private key in the record and signs inbound requests with it; certrotor is the
side that verifies, so the new certificate becomes the verifier (activate) only after the record
demonstrably holds it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from certrotor import crypto
from certrotor.delivery import DeliveredPaths, write_file_atomically
from certrotor.errors import AuthenticationError, DeliveryError, NoManagementAccessError, RotationError
from certrotor.health_rules import CredentialKind
from certrotor.services.management_auth import repair_command
from certrotor.services.reconcile import ReconcileReport
from certrotor.services.records import (
    VERIFIERS_FILE,
    RecordState,
    is_placeholder,
    record_client,
    record_state,
    record_verifiers,
    require_record,
)
from certrotor.services.rotation.delivery import delivery_directory
from certrotor.services.rotation.faults import UPLOAD_SENT, fault_point
from certrotor.services.rotation.steps import Delivered, RemoteFacts, StepJournal, VersionName
from certrotor.services.runtime import Runtime
from certrotor.store import CertificateVersion, Credential, EventOutcome, RotationStep, VersionState


def deliver_verifiers(runtime: Runtime, credential: Credential) -> DeliveredPaths:
    """Write ``cert.pem`` (current), ``verifiers.pem`` (all that vouch) and metadata; never a key."""
    store = runtime.store
    current = store.current_version(credential)
    if current is None:
        raise DeliveryError(f"Credential {credential.name!r} has no current certificate to deliver.")
    now = runtime.now()
    vouching = [v for v in record_verifiers(store, credential) if v.accepts_at(now) and v.role != "incoming"]
    paths = DeliveredPaths.in_directory(delivery_directory(runtime, credential))
    metadata = {
        "credential": credential.name,
        "kind": credential.kind.value,
        "record_script_id": credential.record_script_id,
        "record_name": credential.record_name,
        "fingerprint_sha256": current.fingerprint_sha256,
        "not_before": current.not_before.isoformat(),
        "not_after": current.not_after.isoformat(),
        "verifiers": [
            {"role": v.role, "fingerprint_sha256": v.fingerprint, "accept_until": v.accept_until}
            for v in vouching
        ],
    }
    try:
        paths.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file_atomically(paths.cert_file, current.certificate_pem.encode("ascii"))
        bundle = "".join(crypto.certificate_to_pem(v.certificate) for v in vouching)
        write_file_atomically(paths.directory / VERIFIERS_FILE, bundle.encode("ascii"))
        text = json.dumps(metadata, default=lambda value: value.isoformat(), indent=2, sort_keys=True)
        write_file_atomically(paths.metadata_file, (text + "\n").encode("utf-8"))
    except OSError as error:
        raise DeliveryError(
            f"Could not write the verifier files into {paths.directory}: {error.strerror or error}."
        ) from None
    return paths


@dataclass
class RecordSteps:
    """The steps of a certificate record credential, through the certrotor certificates RESTlet."""

    runtime: Runtime
    credential: Credential
    kind: CredentialKind = "record"

    def check_rotatable(self) -> None:
        """A record in ``rotate`` mode is rotated by certrotor."""
        return None

    def upload(self, journal: StepJournal, version: CertificateVersion) -> bool:
        """Put the new key and certificate into the record, unless it already holds them (a resume)."""
        script_id = require_record(self.credential)
        store = self.runtime.store
        with record_client(self.runtime, self.credential) as client:
            before = client.get(script_id)
            replaced_placeholder = is_placeholder(before)
            if before.fingerprint_sha256 != version.fingerprint_sha256:
                after = client.replace_file(script_id, store.load_private_key(version), version.certificate)
                fault_point("after", UPLOAD_SENT)
                if after.fingerprint_sha256 != version.fingerprint_sha256:
                    raise RotationError(
                        f'Certificate record "{script_id}" did not take the new certificate.',
                        hint="check the certrotor certificates RESTlet, then "
                        f"`certrotor rotate {self.credential.name}`.",
                    )
        if version.state is VersionState.PENDING:
            journal.note(lambda write: write.set_version_state(version, VersionState.UPLOADED))
        journal.event(
            "upload",
            EventOutcome.OK,
            record=script_id,
            fingerprint=version.fingerprint_sha256,
            replaced=before.fingerprint_sha256,
        )
        if replaced_placeholder:
            journal.event("placeholder-replaced", EventOutcome.OK, record=script_id)
        journal.flush()  # a resume would not repeat the events as they are
        return True

    def verify(self, journal: StepJournal, version: CertificateVersion) -> None:
        """NetSuite must now hold the new certificate in the record; only then does it become the verifier."""
        script_id = require_record(self.credential)
        with record_client(self.runtime, self.credential) as client:
            held = client.get(script_id)
        if held.fingerprint_sha256 != version.fingerprint_sha256:
            # Someone replaced the file in between: upload again on the next attempt (noted for the
            # journal write that defers the rotation).
            rotation_id = journal.rotation.id
            journal.note(lambda write: write.advance(rotation_id, RotationStep.UPLOAD))
            raise RotationError(
                f'Certificate record "{script_id}" holds certificate {held.fingerprint_sha256[:16]}..., '
                "not the one just uploaded (changed outside certrotor?).",
                hint="make sure nothing else writes the record, then "
                f"`certrotor rotate {self.credential.name}`.",
            )
        journal.event("verify", EventOutcome.OK, record=script_id)

    def deliver(self, version: CertificateVersion) -> Delivered:
        """The verifier certificates for other consumers; the hook also learns the bundle's path."""
        paths = deliver_verifiers(self.runtime, self.credential)
        return Delivered(paths, {"CERTROTOR_VERIFIERS_FILE": str(paths.directory / VERIFIERS_FILE)})

    def retire(self, journal: StepJournal, old: CertificateVersion) -> bool:
        """The previous certificate stops vouching; nothing remote to revoke (the record holds one file)."""
        if old.state is not VersionState.PREVIOUS:
            return False
        journal.note(lambda write: write.set_version_state(old, VersionState.REVOKED))
        return True

    def describe(self, version: CertificateVersion) -> VersionName:
        """Record versions have no certificate ID: their fingerprint names them."""
        return VersionName("fingerprint", version.fingerprint_sha256)

    def grace_note(self, until: dt.datetime) -> str:
        return f"the previous certificate verifies requests until {until:%Y-%m-%d %H:%M:%S} UTC"

    def observe(self, current: CertificateVersion | None, *, remote: bool, probe: bool) -> RemoteFacts:
        """The record read and compared with the current (or incoming) version; no token to probe."""
        if not remote:
            return RemoteFacts()
        return record_remote_facts(self.credential, record_state(self.runtime, self.credential))

    def reconcile(self) -> ReconcileReport | None:
        """A certificate record has no certificate list to compare with."""
        return None


def record_remote_facts(credential: Credential, state: RecordState) -> RemoteFacts:
    """What a read of the record proves: no way in is CRIT with the repairing command, a failed
    read for another reason is an error (WARN, never OK), otherwise the record's own facts."""
    error = state.error
    if isinstance(error, NoManagementAccessError | AuthenticationError):
        # No way in (or a 401 with the one found): a fact, CRIT, with the repairing command.
        fix = repair_command(credential.name)
        return RemoteFacts(state=state.remote_state, placeholder=state.placeholder, management_fix=fix)
    failed = error.message if error is not None and state.remote_state == "unknown" else None
    return RemoteFacts(state=state.remote_state, placeholder=state.placeholder, error=failed)


__all__ = ["RecordSteps", "deliver_verifiers", "record_remote_facts"]
