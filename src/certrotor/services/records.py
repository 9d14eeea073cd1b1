"""Certificate record credentials (seed 004): rotation, health, verifiers, recreate, for any record named.

NetSuite holds the private key in a certificate record and signs inbound requests with it; certrotor
is the side that verifies. A rotation runs the same journal as an M2M one, with the seed's order:

1. **prepare**: generate the key and certificate, kept (key sealed) as ``pending``;
2. **upload**: put key and certificate into the record (the key travels to NetSuite by design);
   after a crash, a record already holding the new certificate is not written again;
3. **verify**: read the record back: it must hold the new certificate;
4. **activate**: only now save it locally as the verifier (new ``current``, old ``previous``);
5. **deliver**: write the verifier certificates (never a key) and run the hook;
6. **retire**: after the grace period the previous certificate stops vouching (``revoked`` locally;
   nothing to revoke remotely: the record holds one file).

The fault points of ``certrotor.services.rotation`` surround every journal step here too.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from certrotor import crypto
from certrotor.client.records import RecordClient
from certrotor.delivery import DeliveredPaths, run_hook, write_file_atomically
from certrotor.errors import (
    CertrotorError,
    DeliveryError,
    InputError,
    MasterKeyError,
    RecordNotFoundError,
    RotationError,
)
from certrotor.health_rules import HealthFacts, HealthReport, RemoteState, evaluate_health
from certrotor.logging import get_logger
from certrotor.protocol.records import (
    DEFAULT_RECORD_ID,
    DEFAULT_RECORD_NAME,
    CertificateRecordInfo,
    placeholder_fingerprint,
    record_script_id,
)
from certrotor.receiver import Verifier
from certrotor.scheduling import RenewalWindow
from certrotor.services.rotation import (
    HOOK_TIMEOUT_SECONDS,
    RotationOutcome,
    Rotator,
    delivery_directory,
    fault_point,
)
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import (
    CertificateVersion,
    Credential,
    CredentialKind,
    EventOutcome,
    Rotation,
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
    )


def is_placeholder(info: CertificateRecordInfo) -> bool:
    """The record holds the bundled placeholder (by the server's word or by fingerprint)."""
    return info.is_placeholder or info.fingerprint_sha256 == placeholder_fingerprint()


class RecordRotator(Rotator):
    """The journaled rotation for certificate records; ``Rotator`` hands record credentials to it."""

    rotates_records = True

    @classmethod
    def like(cls, rotator: Rotator) -> RecordRotator:
        """A record rotator with the same owner, actor, lease, dice and stop signal."""
        return cls(
            rotator.runtime,
            owner=rotator.owner,
            actor=rotator.actor,
            lease_seconds=rotator.lease_seconds,
            rng=rotator.rng,
            should_stop=rotator.should_stop,
        )

    def _client(self, credential: Credential) -> RecordClient:
        return record_client(self.runtime, credential)

    def _upload(self, credential: Credential, rotation: Rotation) -> Rotation:
        """Put the new key and certificate into the record, unless it already holds them (a resume)."""
        script_id = require_record(credential)
        version = self._new_version(rotation)
        with self._client(credential) as client:
            before = client.get(script_id)
            replaced_placeholder = is_placeholder(before)
            if before.fingerprint_sha256 != version.fingerprint_sha256:
                after = client.replace_file(
                    script_id, self.store.load_private_key(version), version.certificate
                )
                if after.fingerprint_sha256 != version.fingerprint_sha256:
                    raise RotationError(
                        f'Certificate record "{script_id}" did not take the new certificate.',
                        hint="check the certrotor certificates RESTlet, then "
                        f"`certrotor rotate {credential.name}`.",
                    )
        if version.state is VersionState.PENDING:
            self.store.set_version_state(version, VersionState.UPLOADED)
        self._event(
            credential,
            "upload",
            EventOutcome.OK,
            rotation,
            record=script_id,
            fingerprint=version.fingerprint_sha256,
            replaced=before.fingerprint_sha256,
        )
        if replaced_placeholder:
            self._event(credential, "placeholder-replaced", EventOutcome.OK, rotation, record=script_id)
        return self._advance(rotation, RotationStep.VERIFY)

    def _verify(self, credential: Credential, rotation: Rotation) -> Rotation:
        """NetSuite must now hold the new certificate in the record; only then does it become the verifier."""
        script_id = require_record(credential)
        version = self._new_version(rotation)
        with self._client(credential) as client:
            held = client.get(script_id)
        if held.fingerprint_sha256 != version.fingerprint_sha256:
            # Someone replaced the file in between: upload again on the next attempt.
            self.store.advance_rotation(rotation.id, RotationStep.UPLOAD)
            raise RotationError(
                f'Certificate record "{script_id}" holds certificate {held.fingerprint_sha256[:16]}..., '
                "not the one just uploaded (changed outside certrotor?).",
                hint=f"make sure nothing else writes the record, then `certrotor rotate {credential.name}`.",
            )
        self._event(credential, "verify", EventOutcome.OK, rotation, record=script_id)
        return self._advance(rotation, RotationStep.ACTIVATE)

    def _activate(self, credential: Credential, rotation: Rotation) -> Rotation:
        version = self._new_version(rotation)
        if version.state is not VersionState.CURRENT:
            self.store.activate(credential, version)
        self._event(credential, "activate", EventOutcome.OK, rotation, fingerprint=version.fingerprint_sha256)
        return self._advance(rotation, RotationStep.DELIVER)

    def _deliver(self, credential: Credential, rotation: Rotation) -> Rotation:
        """Write the verifier certificates for other consumers, run the hook, start the grace period."""
        version = self._new_version(rotation)
        paths = deliver_verifiers(self.runtime, credential)
        if credential.hook_command:
            result = run_hook(
                credential.hook_command,
                paths,
                credential_name=credential.name,
                certificate_id=version.fingerprint_sha256,
                extra_env={"CERTROTOR_VERIFIERS_FILE": str(paths.directory / VERIFIERS_FILE)},
                timeout=HOOK_TIMEOUT_SECONDS,
            )
            if not result.ok:
                self._event(credential, "hook", EventOutcome.ERROR, rotation, result=result.describe())
                raise RotationError(
                    f"The hook of {credential.name!r} failed: {result.describe()}.",
                    hint="fix the hook command; certrotor runs it again before retiring the old certificate.",
                )
            self._event(credential, "hook", EventOutcome.OK, rotation)
        now = self.runtime.now()
        retire_after = now + credential.grace
        self.store.set_schedule(credential.name, retire_after, 0, None, last_rotation_at=now)
        return self._advance(rotation, RotationStep.RETIRE, retire_after=retire_after)

    def _retire(self, credential: Credential, rotation: Rotation, *, early: bool) -> RotationOutcome | None:
        """After the grace period the previous certificate stops vouching; nothing remote to revoke."""
        now = self.runtime.now()
        waits = rotation.old_version_id is not None and rotation.retire_after is not None
        if waits and rotation.retire_after is not None and now < rotation.retire_after and not early:
            return self._outcome(
                credential,
                rotation,
                "waiting",
                "the previous certificate verifies requests until "
                f"{rotation.retire_after:%Y-%m-%d %H:%M:%S} UTC",
            )
        if rotation.old_version_id is not None:
            old = self.store.get_version(rotation.old_version_id)
            if old.state is VersionState.PREVIOUS:
                self.store.set_version_state(old, VersionState.REVOKED)
                detail = {"fingerprint": old.fingerprint_sha256, "grace_cut_short": early}
                self._event(credential, "retire", EventOutcome.OK, rotation, **detail)
        fault_point("before", "done")
        self.store.finish_rotation(rotation.id, ok=True)
        self._plan_next(credential)
        return None

    @staticmethod
    def _version_label(version: CertificateVersion) -> str | None:
        """Record versions have no certificate ID: name them by fingerprint."""
        return version.fingerprint_sha256


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


def deliver_verifiers(runtime: Runtime, credential: Credential) -> DeliveredPaths:
    """Write ``cert.pem`` (current), ``verifiers.pem`` (all that vouch) and metadata; never a key."""
    store = runtime.store
    current = store.current_version(credential)
    if current is None:
        raise DeliveryError(f"Credential {credential.name!r} has no current certificate to deliver.")
    now = runtime.now()
    vouching = [v for v in record_verifiers(store, credential) if v.accepts_at(now) and v.role != "incoming"]
    paths = DeliveredPaths.in_directory(Path(delivery_directory(runtime, credential)))
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


def check_record_credential(runtime: Runtime, credential: Credential, *, remote: bool = True) -> HealthReport:
    """Health of a record credential in OpenAir's words: the record itself is read instead of a list."""
    store = runtime.store
    current = store.current_version(credential)
    key_ok = True
    if current is not None:
        try:
            store.load_private_key(current)
        except MasterKeyError:
            key_ok = False
    window_opens = None
    if current is not None:
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        window_opens, _ = window.bounds(current.not_before, current.not_after)
    state = record_state(runtime, credential) if remote else RecordState("unknown", False, None)
    facts = HealthFacts(
        name=credential.name,
        now=runtime.now(),
        kind="record",
        current_not_after=current.not_after if current else None,
        current_certificate_id=None,
        renewal_window_opens_at=window_opens,
        next_rotation_at=credential.next_rotation_at,
        rotation_in_progress=store.open_rotation(credential) is not None,
        last_error=credential.last_error,
        failed_attempts=credential.failed_attempts,
        remote_state=state.remote_state,
        key_decryptable=key_ok,
        placeholder_detected=state.placeholder,
        record_script_id=credential.record_script_id,
    )
    return evaluate_health(facts)


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
    credential = store.set_schedule(
        credential.name, runtime.now(), credential.failed_attempts, credential.last_error
    )
    store.record_event(
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
    "RecordRotator",
    "RecordState",
    "RecordView",
    "check_record_credential",
    "deliver_verifiers",
    "is_placeholder",
    "record_client",
    "record_state",
    "record_verifiers",
    "recreate_record",
    "require_record",
    "show_record",
]
