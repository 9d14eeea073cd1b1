"""Rotation: the journaled prepare, upload, verify, activate, deliver, retire state machine.

Each step is idempotent and recorded in the store before and after its remote effect, so a crash
anywhere resumes without losing a key, without an unknown certificate left on NetSuite, and without
revoking the only working certificate early. ``overlap`` uploads the new certificate next to the
old one; ``replace`` (one active certificate per entity and role) revokes first, as the seed says.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from certrotor import crypto
from certrotor.client.auth import BearerTokenAuth
from certrotor.client.netsuite import NetSuiteClient
from certrotor.delivery import DeliveredPaths, deliver_files, run_hook
from certrotor.errors import (
    CertrotorError,
    CredentialBusyError,
    LeaseLostError,
    NetSuiteAPIError,
    RemoteNotFoundError,
    RotationError,
    TokenRequestError,
    UploadOutcomeUnknown,
    VerificationError,
)
from certrotor.logging import get_logger
from certrotor.scheduling import RenewalWindow, next_attempt_after_failure, plan_next_rotation
from certrotor.services.reconcile import adopt_unrecorded_uploads
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import (
    AuthMode,
    CertificateVersion,
    Credential,
    CredentialKind,
    EventOutcome,
    Rotation,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)

log = get_logger(__name__)

FAULT_POINT_ENV = "CERTROTOR_FAULT_POINT"
"""Test-only: ``before:STEP`` or ``after:STEP`` makes the process SIGKILL itself there.

STEP is a journal step (``prepare`` ... ``retire``); two more points sit inside ``upload``, where
a crash is hardest to survive: ``after:upload-sent`` (NetSuite answered the upload, its ID is not
recorded yet) and ``after:revoke-old`` (replace: the old certificate is revoked on NetSuite, not yet
in the store).
"""

VERIFY_ATTEMPTS = 3
VERIFY_PAUSE_SECONDS = 1.0
HOOK_TIMEOUT_SECONDS = 60.0
_LIMIT_CODES = {"CERTIFICATE_LIMIT_REACHED"}
_DUPLICATE_CODES = {"DUPLICATE_CERTIFICATE"}


def fault_point(moment: str, step: str) -> None:
    """Kill this process at a named point when the test-only environment variable asks for it."""
    if os.environ.get(FAULT_POINT_ENV) == f"{moment}:{step}":
        log.warning("fault point reached, killing process", fault_point=f"{moment}:{step}")
        os.kill(os.getpid(), signal.SIGKILL)


def subject_for(credential: Credential) -> str:
    return f"certrotor {credential.name}"


def default_owner() -> str:
    """A lease owner name: ``host:pid:random``, so a lease of a dead local process can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_holder_is_dead(owner: str) -> bool:
    """Whether ``owner`` (see :func:`default_owner`) is a process of this host that no longer runs.

    Only a definite "no such process" counts: another host's owner, an unparsable name or a
    process we may not signal are all treated as alive, so a live holder is never overtaken.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What one call to :meth:`Rotator.rotate` achieved."""

    credential: str
    status: str
    """``rotated`` | ``waiting`` (grace period before retire) | ``retired`` | ``failed`` |
    ``interrupted`` | ``deferred`` (a step failed transiently; retried later)."""
    rotation_id: int | None = None
    new_certificate_id: str | None = None
    old_certificate_id: str | None = None
    message: str = ""


class _StopRequestedError(Exception):
    """Internal: a stop was requested between two steps."""


class Rotator:
    """Runs rotations for one owner (a CLI call or a daemon worker), one credential at a time."""

    rotates_records = False
    """Certificate record credentials go to ``certrotor.services.records.RecordRotator``."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        owner: str,
        actor: str = "cli",
        lease_seconds: float = 300.0,
        rng: random.Random | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.owner = owner
        self.actor = actor
        self.lease_seconds = lease_seconds
        self.rng = rng or random.Random()
        self.should_stop = should_stop

    # -- entry points --------------------------------------------------------------------------

    def rotate(self, name: str, trigger: RotationTrigger, *, claimed: bool = False) -> RotationOutcome:
        """Rotate ``name`` (or resume its open rotation), holding its lease throughout."""
        credential = self.store.get_credential(name)
        if credential.kind is CredentialKind.RECORD and not self.rotates_records:
            from certrotor.services.records import RecordRotator  # it builds on this module

            return RecordRotator.like(self).rotate(name, trigger, claimed=claimed)
        if not claimed:
            credential = self._claim(credential)
        try:
            return self._rotate_claimed(credential, trigger)
        finally:
            self.store.release(credential.name, self.owner)

    def _claim(self, credential: Credential) -> Credential:
        """Lease ``credential``; a lease left by a killed process of this host is taken over.

        Without this, ``certrotor rotate NAME`` run again after a crash would be refused until
        the dead process's lease expired.
        """
        try:
            return self.store.claim(credential, self.owner, self.lease_seconds)
        except CredentialBusyError:
            holder = self.store.get_credential(credential.name).lease_owner
            if holder is None or not lease_holder_is_dead(holder):
                raise
            log.warning("taking over the lease of a dead process", credential=credential.name, holder=holder)
            # Releases only if the dead holder still has it; a live rival that won meanwhile keeps it.
            self.store.release(credential.name, holder)
            return self.store.claim(credential, self.owner, self.lease_seconds)

    def _rotate_claimed(self, credential: Credential, trigger: RotationTrigger) -> RotationOutcome:
        rotation = self.store.open_rotation(credential)
        try:
            if rotation is not None and rotation.step is RotationStep.RETIRE:
                # A manual trigger cuts a grace period short and starts a new rotation; a rotation
                # whose grace is over (resumed after a crash) is only finished.
                in_grace = rotation.retire_after is not None and self.runtime.now() < rotation.retire_after
                cut_short = trigger is RotationTrigger.MANUAL and in_grace
                waiting = self._retire(credential, rotation, early=cut_short)
                if waiting is not None:
                    return waiting
                if not cut_short:
                    return self._outcome(credential, rotation, "retired")
                rotation = None
            if rotation is None:
                credential = self.store.get_credential(credential.name)
                old = self.store.current_version(credential)
                strategy = credential.effective_strategy or Strategy.OVERLAP
                rotation = self.store.start_rotation(credential, trigger, strategy, old)
                self._event(credential, "rotation-start", EventOutcome.INFO, rotation, trigger=trigger.value)
                fault_point("before", RotationStep.PREPARE.value)
            return self._run(credential, rotation)
        except _StopRequestedError:
            return self._outcome(credential, rotation, "interrupted", "stopped between steps; resumes later")
        except LeaseLostError as exc:
            # Another process holds the credential now: leave its schedule and health alone.
            log.warning("lease lost, rotation left to its new holder", credential=credential.name)
            return self._outcome(credential, rotation, "interrupted", exc.message)
        except VerificationError as exc:
            return self._fail_rotation(credential, rotation, exc)
        except CertrotorError as exc:
            return self._defer(credential, rotation, exc)

    # -- the state machine ---------------------------------------------------------------------

    def _checkpoint(self, credential: Credential) -> None:
        """Before each remote step: stop if asked, and make sure the lease is still ours."""
        if self.should_stop():
            raise _StopRequestedError
        self.store.renew_lease(credential.name, self.owner, self.lease_seconds)

    def _run(self, credential: Credential, rotation: Rotation) -> RotationOutcome:
        while True:
            step = rotation.step
            if step is RotationStep.PREPARE:
                rotation = self._prepare(credential, rotation)
            elif step is RotationStep.UPLOAD:
                self._checkpoint(credential)
                rotation = self._upload(credential, rotation)
            elif step is RotationStep.VERIFY:
                self._checkpoint(credential)
                rotation = self._verify(credential, rotation)
            elif step is RotationStep.ACTIVATE:
                rotation = self._activate(credential, rotation)
            elif step is RotationStep.DELIVER:
                rotation = self._deliver(credential, rotation)
            elif step is RotationStep.RETIRE:
                waiting = self._retire(credential, rotation, early=False)
                if waiting is not None:
                    return self._outcome(credential, rotation, "rotated", waiting.message)
                return self._outcome(credential, self.store.get_rotation(rotation.id), "rotated")
            else:
                return self._outcome(credential, rotation, step.value)

    def _advance(
        self,
        rotation: Rotation,
        step: RotationStep,
        *,
        new_version_id: str | None = None,
        retire_after: dt.datetime | None = None,
    ) -> Rotation:
        """Journal that ``rotation`` reached ``step`` (fault points surround every transition)."""
        fault_point("after", rotation.step.value)
        advanced = self.store.advance_rotation(
            rotation.id, step, new_version_id=new_version_id, retire_after=retire_after
        )
        fault_point("before", step.value)
        return advanced

    def _prepare(self, credential: Credential, rotation: Rotation) -> Rotation:
        """Generate the key pair and certificate and keep them (key sealed) as ``pending``."""
        version = self._orphan_pending(credential, rotation)
        if version is None:
            key = crypto.generate_private_key(credential.key_spec)
            certificate = crypto.build_self_signed_certificate(
                key,
                common_name=subject_for(credential),
                validity_days=0,
                validity=credential.validity,
            )
            version = self.store.add_version(credential, key, certificate, VersionState.PENDING)
        self._event(credential, "prepare", EventOutcome.OK, rotation, version=version.id)
        return self._advance(rotation, RotationStep.UPLOAD, new_version_id=version.id)

    def _orphan_pending(self, credential: Credential, rotation: Rotation) -> CertificateVersion | None:
        """An unused pending version: made before a crash kept it from the journal, or by `credential add`."""
        if rotation.new_version_id:
            return self.store.get_version(rotation.new_version_id)
        now = self.runtime.now()
        for version in reversed(self.store.versions(credential, states=[VersionState.PENDING])):
            # Also the first key pair made by `credential add`, while it has most of its life left.
            fresh = version.not_after - now > (version.not_after - version.not_before) / 2
            if version.certificate_id is None and fresh:
                return version
        return None

    def _new_version(self, rotation: Rotation) -> CertificateVersion:
        if rotation.new_version_id is None:
            raise RotationError(f"Rotation {rotation.id} has no new version.", hint="run it again.")
        return self.store.get_version(rotation.new_version_id)

    def _upload(self, credential: Credential, rotation: Rotation) -> Rotation:
        uploaded: CertificateVersion | None = self._new_version(rotation)
        assert uploaded is not None
        if uploaded.certificate_id is None:
            auth = self._prefetched_auth(credential, rotation)
            with self.runtime.client_for(credential, auth=auth) as client:
                # A crash between the upload and its journal entry left the ID unrecorded.
                adopt_unrecorded_uploads(self.runtime, credential, client.list_certificates())
                uploaded = self.store.get_version(uploaded.id)
                if uploaded.certificate_id is None:
                    if rotation.strategy is Strategy.REPLACE:
                        self._revoke_old_first(credential, rotation, client)
                    uploaded = self._post_certificate(credential, rotation, client, uploaded)
        if uploaded is None or uploaded.certificate_id is None:
            # The strategy changed to ``replace``; the journal now says so, run the step again.
            return self.store.get_rotation(rotation.id)
        self._event(credential, "upload", EventOutcome.OK, rotation, certificate_id=uploaded.certificate_id)
        return self._advance(rotation, RotationStep.VERIFY)

    def _post_certificate(
        self, credential: Credential, rotation: Rotation, client: NetSuiteClient, version: CertificateVersion
    ) -> CertificateVersion | None:
        try:
            answer = client.upload_certificate(
                version.certificate_pem, entity=credential.entity_id, role=credential.role_id
            )
            fault_point("after", "upload-sent")
        except UploadOutcomeUnknown:
            adopt_unrecorded_uploads(self.runtime, credential, client.list_certificates())
            adopted = self.store.get_version(version.id)
            if adopted.certificate_id is None:
                raise
            return adopted
        except NetSuiteAPIError as exc:
            if exc.error_code in _DUPLICATE_CODES:
                adopt_unrecorded_uploads(self.runtime, credential, client.list_certificates())
                adopted = self.store.get_version(version.id)
                if adopted.certificate_id is not None:
                    return adopted
            if exc.error_code in _LIMIT_CODES and rotation.strategy is Strategy.OVERLAP:
                if credential.strategy is Strategy.AUTO:
                    self._switch_to_replace(credential, rotation, exc)
                    return None
                raise RotationError(
                    f"NetSuite refused a second active certificate for {credential.name!r}: {exc.message}",
                    hint=f"use `certrotor credential set {credential.name} --strategy replace` "
                    "(or auto), or revoke unused certificates.",
                ) from exc
            raise
        return self.store.set_remote_certificate_id(
            version, answer.certificate_id, state=VersionState.UPLOADED
        )

    def _switch_to_replace(self, credential: Credential, rotation: Rotation, cause: NetSuiteAPIError) -> None:
        self.store.update_credential(credential.name, resolved_strategy=Strategy.REPLACE)
        self.store.advance_rotation(rotation.id, RotationStep.UPLOAD, strategy=Strategy.REPLACE)
        self._event(
            credential,
            "strategy-resolved",
            EventOutcome.INFO,
            rotation,
            strategy="replace",
            reason=cause.message,
        )

    def _prefetched_auth(self, credential: Credential, rotation: Rotation) -> BearerTokenAuth | None:
        """Replace strategy: the token kept before this rotation revoked the old certificate.

        Once the old certificate may be revoked on NetSuite it can mint no token, even while the
        store (after a crash) still calls it current: management calls must use the kept token.
        """
        if rotation.strategy is not Strategy.REPLACE or not self._token_prefetched(credential, rotation):
            return None
        token = self.store.management_token(credential)
        return BearerTokenAuth(token) if token else None

    def _token_prefetched(self, credential: Credential, rotation: Rotation) -> bool:
        rotation = self.store.get_rotation(rotation.id)
        return rotation.token_prefetched and self.store.get_credential(credential.name).has_management_token

    def _revoke_old_first(self, credential: Credential, rotation: Rotation, client: NetSuiteClient) -> None:
        """Replace strategy: keep a fresh token for consumers, then revoke the old certificate."""
        if rotation.old_version_id is None:
            return
        old = self.store.get_version(rotation.old_version_id)
        if old.state is VersionState.REVOKED or old.certificate_id is None:
            return
        needs_token = credential.auth_mode is AuthMode.SELF and self.runtime.token_override is None
        if needs_token and not self._token_prefetched(credential, rotation):
            # After the revocation the old certificate can mint no token: keep one, sealed, so
            # the upload (and a resume after a crash) can still authenticate.
            with self.runtime.m2m_auth(credential, old) as auth:
                self.store.set_management_token(credential, auth.current_token())
            self.store.mark_token_prefetched(rotation.id)
            self._event(credential, "token-prefetched", EventOutcome.OK, rotation)
        self._revoke_remote(client, old)
        fault_point("after", "revoke-old")
        self.store.set_version_state(old, VersionState.REVOKED)
        self._event(credential, "revoke-old", EventOutcome.OK, rotation, certificate_id=old.certificate_id)

    @staticmethod
    def _revoke_remote(client: NetSuiteClient, version: CertificateVersion) -> None:
        assert version.certificate_id is not None
        try:
            client.revoke_certificate(version.certificate_id)
        except RemoteNotFoundError:
            pass  # already gone on the server: the goal of the revocation is met
        except NetSuiteAPIError as exc:
            if exc.error_code != "CERTIFICATE_ALREADY_REVOKED":
                raise

    def _verify(self, credential: Credential, rotation: Rotation) -> Rotation:
        """The new key and certificate ID must obtain an access token before anything switches."""
        version = self._new_version(rotation)
        assert version.certificate_id is not None
        last: TokenRequestError | None = None
        for attempt in range(VERIFY_ATTEMPTS):
            try:
                with self.runtime.token_client(credential) as client:
                    client.request_token(
                        self.store.load_private_key(version),
                        certificate_id=version.certificate_id,
                        scopes=credential.scopes,
                    )
                break
            except TokenRequestError as exc:
                last = exc
                if attempt + 1 < VERIFY_ATTEMPTS:
                    time.sleep(VERIFY_PAUSE_SECONDS)
        else:
            assert last is not None
            self._discard_new(credential, rotation, version)
            raise VerificationError(
                f"The new certificate {version.certificate_id} of {credential.name!r} could not obtain "
                f"a token: {last.message}",
                hint="check the integration's scopes and the entity and role mapping, then "
                f"`certrotor rotate {credential.name}`.",
            )
        self._event(credential, "verify", EventOutcome.OK, rotation, certificate_id=version.certificate_id)
        return self._advance(rotation, RotationStep.ACTIVATE)

    def _discard_new(self, credential: Credential, rotation: Rotation, version: CertificateVersion) -> None:
        """A new certificate that cannot obtain a token is revoked and never becomes current."""
        try:
            with self.runtime.client_for(credential) as client:
                self._revoke_remote(client, version)
            self.store.set_version_state(version, VersionState.FAILED, revoked_at=self.runtime.now())
        except CertrotorError as exc:
            self.store.set_version_state(version, VersionState.FAILED)
            self._event(credential, "revoke-failed-new", EventOutcome.ERROR, rotation, error=exc.message)

    def _activate(self, credential: Credential, rotation: Rotation) -> Rotation:
        version = self._new_version(rotation)
        if version.state is not VersionState.CURRENT:
            self.store.activate(credential, version)
        self._event(credential, "activate", EventOutcome.OK, rotation, certificate_id=version.certificate_id)
        return self._advance(rotation, RotationStep.DELIVER)

    def _deliver(self, credential: Credential, rotation: Rotation) -> Rotation:
        """Write key, certificate and metadata for consumers, then run the hook; never undone."""
        version = self._new_version(rotation)
        paths = deliver_current(self.runtime, credential, version)
        if credential.hook_command:
            result = run_hook(
                credential.hook_command,
                paths,
                credential_name=credential.name,
                certificate_id=version.certificate_id or "",
                timeout=HOOK_TIMEOUT_SECONDS,
            )
            if not result.ok:
                self._event(credential, "hook", EventOutcome.ERROR, rotation, result=result.describe())
                raise RotationError(
                    f"The hook of {credential.name!r} failed: {result.describe()}.",
                    hint="fix the hook command; certrotor runs it again before retiring the old certificate.",
                )
            self._event(credential, "hook", EventOutcome.OK, rotation)
        retire_after = self.runtime.now() + credential.grace
        self.store.set_schedule(credential.name, retire_after, 0, None, last_rotation_at=self.runtime.now())
        return self._advance(rotation, RotationStep.RETIRE, retire_after=retire_after)

    def _retire(self, credential: Credential, rotation: Rotation, *, early: bool) -> RotationOutcome | None:
        """Revoke the previous certificate once the grace period is over; ``None`` when done."""
        now = self.runtime.now()
        if rotation.retire_after is not None and now < rotation.retire_after and not early:
            return self._outcome(
                credential,
                rotation,
                "waiting",
                f"retires the previous certificate after {rotation.retire_after:%Y-%m-%d %H:%M:%S} UTC",
            )
        if rotation.old_version_id is not None:
            old = self.store.get_version(rotation.old_version_id)
            if old.state is not VersionState.REVOKED and old.certificate_id:
                self._checkpoint(credential)
                with self.runtime.client_for(credential) as client:
                    self._revoke_remote(client, old)
                self.store.set_version_state(old, VersionState.REVOKED)
                detail = {"certificate_id": old.certificate_id, "grace_cut_short": early}
                self._event(credential, "retire", EventOutcome.OK, rotation, **detail)
        fault_point("after", RotationStep.RETIRE.value)
        fault_point("before", "done")
        self.store.finish_rotation(rotation.id, ok=True)
        self._plan_next(credential)
        return None

    def _plan_next(self, credential: Credential) -> None:
        credential = self.store.get_credential(credential.name)
        current = self.store.current_version(credential)
        if current is None:
            return
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        planned = plan_next_rotation(current.not_before, current.not_after, window, self.rng)
        self.store.set_schedule(credential.name, planned, 0, None)

    # -- outcomes --------------------------------------------------------------------------------

    def _defer(
        self, credential: Credential, rotation: Rotation | None, exc: CertrotorError
    ) -> RotationOutcome:
        """A step failed but may succeed later: keep the journal, back off, raise the health."""
        credential = self.store.get_credential(credential.name)
        current = self.store.current_version(credential)
        attempts = credential.failed_attempts + 1
        retry_at = next_attempt_after_failure(
            attempts,
            now=self.runtime.now(),
            expires_at=current.not_after if current else None,
            rng=self.rng,
        )
        self.store.set_schedule(credential.name, retry_at, attempts, exc.message)
        self._event(
            credential,
            "rotation-deferred",
            EventOutcome.ERROR,
            rotation,
            error=exc.message,
            retry_at=retry_at.isoformat(),
        )
        log.warning(
            "rotation deferred", credential=credential.name, error=exc.message, retry_at=retry_at.isoformat()
        )
        return self._outcome(credential, rotation, "deferred", str(exc))

    def _fail_rotation(
        self, credential: Credential, rotation: Rotation | None, exc: CertrotorError
    ) -> RotationOutcome:
        """The rotation cannot succeed as started: close it; the old certificate stays current."""
        if rotation is not None:
            self.store.finish_rotation(rotation.id, ok=False, error=exc.message)
        outcome = self._defer(credential, rotation, exc)
        return RotationOutcome(
            credential=credential.name,
            status="failed",
            rotation_id=outcome.rotation_id,
            message=str(exc),
        )

    @staticmethod
    def _version_label(version: CertificateVersion) -> str | None:
        """How an outcome names a version: NetSuite's certificate ID."""
        return version.certificate_id

    def _outcome(
        self, credential: Credential, rotation: Rotation | None, status: str, message: str = ""
    ) -> RotationOutcome:
        new_id = old_id = None
        if rotation is not None:
            # The caller's copy may predate the steps run since (a step that failed late).
            rotation = self.store.get_rotation(rotation.id)
            if rotation.new_version_id:
                new_id = self._version_label(self.store.get_version(rotation.new_version_id))
            if rotation.old_version_id:
                old_id = self._version_label(self.store.get_version(rotation.old_version_id))
        return RotationOutcome(
            credential=credential.name,
            status=status,
            rotation_id=rotation.id if rotation else None,
            new_certificate_id=new_id,
            old_certificate_id=old_id,
            message=message,
        )

    def _event(
        self,
        credential: Credential,
        action: str,
        outcome: EventOutcome,
        rotation: Rotation | None,
        **detail: object,
    ) -> None:
        if rotation is not None:
            detail["rotation"] = rotation.id
        self.store.record_event(credential, self.actor, action, outcome, dict(detail))


def delivery_directory(runtime: Runtime, credential: Credential) -> Path:
    if credential.delivery_dir:
        return Path(credential.delivery_dir)
    return runtime.settings.resolved_delivery_dir / credential.name


def deliver_current(runtime: Runtime, credential: Credential, version: CertificateVersion) -> DeliveredPaths:
    """Write the version's key, certificate and metadata into the credential's delivery directory."""
    return deliver_files(
        delivery_directory(runtime, credential),
        private_key_pem=crypto.private_key_to_pem(runtime.store.load_private_key(version)),
        certificate_pem=version.certificate_pem,
        metadata={
            "credential": credential.name,
            "certificate_id": version.certificate_id,
            "algorithm": version.algorithm,
            "client_id": credential.client_id,
            "account_id": credential.account_id,
            "token_url": endpoints_for(credential).token_url,
            "scopes": list(credential.scopes),
            "not_before": version.not_before.isoformat(),
            "not_after": version.not_after.isoformat(),
            "fingerprint_sha256": version.fingerprint_sha256,
        },
    )


def due_rotation_reason(credential: Credential, now: dt.datetime) -> str:
    """Why the daemon would act on ``credential`` now (for ``--dry-run``)."""
    if credential.next_rotation_at is None:
        return "no rotation planned yet (first certificate)"
    if credential.next_rotation_at <= now:
        return f"planned for {credential.next_rotation_at:%Y-%m-%d %H:%M:%S} UTC"
    return f"not due until {credential.next_rotation_at:%Y-%m-%d %H:%M:%S} UTC"
