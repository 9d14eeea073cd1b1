"""M2M certificate steps: adopt, upload next to the old one (overlap) or after revoking it (replace),
verify by obtaining a token, deliver key and certificate, revoke the old certificate on NetSuite.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass

from certrotor import crypto
from certrotor.client.auth import BearerTokenAuth
from certrotor.client.netsuite import NetSuiteClient
from certrotor.delivery import DeliveredPaths, deliver_files
from certrotor.errors import (
    CertrotorError,
    MasterKeyError,
    NetSuiteAPIError,
    RemoteNotFoundError,
    RotationError,
    TokenRequestError,
    UploadOutcomeUnknown,
    VerificationError,
)
from certrotor.health_rules import CredentialKind, ProbeResult, RemoteState
from certrotor.logging import get_logger
from certrotor.protocol.models import CertificateListItem
from certrotor.services.reconcile import (
    ReconcileReport,
    adopt_unrecorded_uploads,
    combination_items,
    reconcile,
    sort_unknown,
)
from certrotor.services.rotation.delivery import delivery_directory
from certrotor.services.rotation.faults import REVOKE_OLD, UPLOAD_SENT, fault_point
from certrotor.services.rotation.steps import Delivered, RemoteFacts, StepJournal, VersionName
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import (
    AuthMode,
    CertificateVersion,
    Credential,
    EventOutcome,
    JournalWrite,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)

log = get_logger(__name__)

VERIFY_ATTEMPTS = 3
VERIFY_PAUSE_SECONDS = 1.0
MAX_ACTIVE_PER_INTEGRATION = 5
"""NetSuite: at most five active (unrevoked, unexpired) certificates per integration record (2026.1)."""


@dataclass(frozen=True, slots=True)
class Slots:
    """What NetSuite's list says about room for one more certificate."""

    active: int
    """Active certificates on the integration."""
    combination_active: int
    """Of those, the ones of the credential's own (entity, role)."""

    @property
    def free(self) -> bool:
        return self.active < MAX_ACTIVE_PER_INTEGRATION

    def describe(self) -> str:
        return (
            f"the integration has {self.active} active certificates (NetSuite allows "
            f"{MAX_ACTIVE_PER_INTEGRATION}), {self.combination_active} of them for this entity and role"
        )


def slots_in(credential: Credential, items: list[CertificateListItem], today: dt.date) -> Slots:
    """The active certificates NetSuite lists: on the integration, and of ``credential``'s combination."""
    active = [i for i in items if not i.revoked and i.valid_until >= today]
    return Slots(len(active), len(combination_items(credential, active)))


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


def revoke_remote(client: NetSuiteClient, version: CertificateVersion) -> None:
    """Revoke ``version`` on NetSuite; already revoked or gone counts as done."""
    assert version.certificate_id is not None
    try:
        client.revoke_certificate(version.certificate_id)
    except RemoteNotFoundError:
        pass  # already gone on the server: the goal of the revocation is met
    except NetSuiteAPIError as exc:
        if exc.error_code != "CERTIFICATE_ALREADY_REVOKED":
            raise


@dataclass
class M2MSteps:
    """The steps of an OAuth 2.0 M2M certificate on NetSuite's certificate endpoints."""

    runtime: Runtime
    credential: Credential
    kind: CredentialKind = "m2m"

    def check_rotatable(self) -> None:
        """An M2M credential is always rotated by certrotor."""
        return None

    # -- upload --------------------------------------------------------------------------------

    def upload(self, journal: StepJournal, version: CertificateVersion) -> bool:
        """Upload, or adopt the upload a crash left unrecorded; replace revokes the old one first."""
        uploaded: CertificateVersion | None = version
        if version.certificate_id is None:
            with self.runtime.client_for(self.credential, auth=self._prefetched_auth(journal)) as client:
                # A crash between the upload and its journal entry left the ID unrecorded.
                items = client.list_certificates()
                adopted = adopt_unrecorded_uploads(self.runtime, self.credential, items)
                if any(version_id == version.id for version_id, _ in adopted):
                    version = self.runtime.store.get_version(version.id)
                if version.certificate_id is None:
                    if not self._room_for_overlap(journal, items):
                        return False  # resolved to ``replace`` from the list: run the step again
                    if journal.rotation.strategy is Strategy.REPLACE:
                        self._revoke_old_first(journal, client)
                    uploaded = self._post_certificate(journal, client, version)
                else:
                    uploaded = version
        if uploaded is None or uploaded.certificate_id is None:
            return False  # the strategy changed to ``replace``; the journal says so, run the step again
        journal.event("upload", EventOutcome.OK, certificate_id=uploaded.certificate_id)
        return True

    def _room_for_overlap(self, journal: StepJournal, items: list[CertificateListItem]) -> bool:
        """Overlap needs a free slot on the integration: ``auto`` chooses from NetSuite's list before
        uploading; ``False`` when it resolved to ``replace`` (the journal says so)."""
        if journal.rotation.strategy is not Strategy.OVERLAP:
            return True
        slots = slots_in(self.credential, items, self.runtime.now().date())
        if slots.free:
            return True
        self._full_integration(journal, slots, cause=None)
        return False

    def _full_integration(
        self, journal: StepJournal, slots: Slots, *, cause: NetSuiteAPIError | None
    ) -> None:
        """No free slot for overlap: ``auto`` switches to ``replace`` when that frees one, else an error."""
        credential = self.credential
        if credential.strategy is Strategy.AUTO and slots.combination_active > 0:
            self._switch_to_replace(journal, slots.describe(), cause)
            return
        if slots.combination_active == 0:
            raise RotationError(
                f"NetSuite has no free certificate slot for {credential.name!r}: {slots.describe()}, "
                "so revoking this credential's own certificate would not free one.",
                hint="revoke certificates the integration no longer uses (`certrotor list "
                f"{credential.name}` shows them), then `certrotor rotate {credential.name}`.",
            )
        if cause is not None:
            message = (
                f"NetSuite refused a second active certificate for {credential.name!r}: {cause.message} "
                f"({slots.describe()})."
            )
        else:
            message = f"No free certificate slot for overlap for {credential.name!r}: {slots.describe()}."
        raise RotationError(
            message,
            hint=f"use `certrotor credential set {credential.name} --strategy replace` "
            "(or auto), or revoke unused certificates.",
        ) from cause

    def _post_certificate(
        self, journal: StepJournal, client: NetSuiteClient, version: CertificateVersion
    ) -> CertificateVersion | None:
        credential = self.credential
        settings = self.runtime.settings
        try:
            answer = client.upload_certificate(
                version.certificate_pem, entity=credential.entity_id, role=credential.role_id
            )
            fault_point("after", UPLOAD_SENT)
        except UploadOutcomeUnknown:
            adopted = self._adopted(client, version)
            if adopted.certificate_id is None:
                raise
            return adopted
        except NetSuiteAPIError as exc:
            limit = exc.error_code in settings.limit_error_codes
            known = limit or exc.error_code in settings.duplicate_error_codes
            # NetSuite's own code and words, so that operators can tell the real codes apart.
            journal.event(
                "upload-refused",
                EventOutcome.ERROR,
                netsuite_error_code=exc.error_code,
                netsuite_message=exc.message,
                status_code=exc.status_code,
                known_code=known,
            )
            if exc.error_code in settings.duplicate_error_codes:
                adopted = self._adopted(client, version)
                if adopted.certificate_id is not None:
                    return adopted
            if known and not limit:
                raise
            # A limit code, or one the rotation does not know: decide from what NetSuite shows now.
            items = client.list_certificates()
            adopt_unrecorded_uploads(self.runtime, credential, items)
            adopted = self.runtime.store.get_version(version.id)
            if adopted.certificate_id is not None:
                return adopted
            slots = slots_in(credential, items, self.runtime.now().date())
            full = not slots.free or limit
            if full and journal.rotation.strategy is Strategy.OVERLAP:
                self._full_integration(journal, slots, cause=exc)
                return None
            raise
        certificate_id = answer.certificate_id
        # On record with the journal write that ends the step (a crash before it: the resumed upload
        # adopts the certificate from NetSuite's list, as after ``after:upload-sent``).
        journal.note(
            lambda write: write.set_remote_certificate_id(
                version, certificate_id, state=VersionState.UPLOADED
            )
        )
        return dataclasses.replace(version, certificate_id=certificate_id, state=VersionState.UPLOADED)

    def _adopted(self, client: NetSuiteClient, version: CertificateVersion) -> CertificateVersion:
        adopt_unrecorded_uploads(self.runtime, self.credential, client.list_certificates())
        return self.runtime.store.get_version(version.id)

    def _switch_to_replace(self, journal: StepJournal, reason: str, cause: NetSuiteAPIError | None) -> None:
        name, rotation_id = self.credential.name, journal.rotation.id
        detail: dict[str, object] = {"strategy": "replace", "reason": reason}
        if cause is not None:
            detail |= {"netsuite_error_code": cause.error_code, "netsuite_message": cause.message}
        journal.event("strategy-resolved", EventOutcome.INFO, **detail)

        def switch(write: JournalWrite) -> Credential:
            write.advance(rotation_id, RotationStep.UPLOAD, strategy=Strategy.REPLACE)
            return write.update_credential(name, resolved_strategy=Strategy.REPLACE)

        self.credential = journal.write(switch)  # a resume would not repeat the event

    def _token_prefetched(self, journal: StepJournal) -> bool:
        return journal.rotation.token_prefetched and self.credential.has_management_token

    def _prefetched_auth(self, journal: StepJournal) -> BearerTokenAuth | None:
        """Replace strategy: the token kept before this rotation revoked the old certificate.

        Once the old certificate may be revoked on NetSuite it can mint no token, even while the
        store (after a crash) still calls it current: management calls must use the kept token.
        """
        if journal.rotation.strategy is not Strategy.REPLACE or not self._token_prefetched(journal):
            return None
        token = self.runtime.store.management_token(self.credential)
        return BearerTokenAuth(token) if token else None

    def _revoke_old_first(self, journal: StepJournal, client: NetSuiteClient) -> None:
        """Replace strategy: keep a fresh token for consumers, then revoke the old certificate."""
        rotation = journal.rotation
        if rotation.old_version_id is None:
            return
        store = self.runtime.store
        old = store.get_version(rotation.old_version_id)
        if old.state is VersionState.REVOKED or old.certificate_id is None:
            return
        needs_token = self.credential.auth_mode is AuthMode.SELF and self.runtime.token_override is None
        # An emergency replaces a dead certificate: it mints no token to keep.
        dead = rotation.trigger is RotationTrigger.EMERGENCY
        if needs_token and not dead and not self._token_prefetched(journal):
            # After the revocation the old certificate can mint no token: keep one, sealed, so
            # the upload (and a resume after a crash) can still authenticate.
            with self.runtime.m2m_auth(self.credential, old) as auth:
                token = auth.current_token()
            credential = self.credential
            journal.event("token-prefetched", EventOutcome.OK)

            def keep(write: JournalWrite) -> Credential:
                write.mark_token_prefetched(rotation.id)
                return write.set_management_token(credential, token)

            # On record before the revocation, which no journal write precedes.
            self.credential = journal.write(keep)
        revoke_remote(client, old)
        fault_point("after", REVOKE_OLD)
        journal.note(lambda write: write.set_version_state(old, VersionState.REVOKED))
        journal.event("revoke-old", EventOutcome.OK, certificate_id=old.certificate_id)
        journal.flush()  # a resume would not repeat it

    # -- verify --------------------------------------------------------------------------------

    def verify(self, journal: StepJournal, version: CertificateVersion) -> None:
        """The new key and certificate ID must obtain an access token before anything switches."""
        credential = self.credential
        assert version.certificate_id is not None
        last: TokenRequestError | None = None
        # The runtime's auth of the new certificate: the token that proves it is then reused for
        # the management calls that follow (retire), and for observations, until it nears expiry.
        auth = self.runtime.access.m2m_auth(credential, version)
        for attempt in range(VERIFY_ATTEMPTS):
            try:
                auth.invalidate()
                auth.current_token()
                break
            except TokenRequestError as exc:
                last = exc
                if attempt + 1 < VERIFY_ATTEMPTS:
                    time.sleep(VERIFY_PAUSE_SECONDS)
        else:
            assert last is not None
            self._discard_new(journal, version)
            raise VerificationError(
                f"The new certificate {version.certificate_id} of {credential.name!r} could not obtain "
                f"a token: {last.message}",
                hint="check the integration's scopes and the entity and role mapping, then "
                f"`certrotor rotate {credential.name}`.",
            )
        journal.event("verify", EventOutcome.OK, certificate_id=version.certificate_id)

    def _discard_new(self, journal: StepJournal, version: CertificateVersion) -> None:
        """A new certificate that cannot obtain a token is revoked and never becomes current."""
        store = self.runtime.store
        try:
            with self.runtime.client_for(self.credential) as client:
                revoke_remote(client, version)
            store.set_version_state(version, VersionState.FAILED, revoked_at=self.runtime.now())
        except CertrotorError as exc:
            store.set_version_state(version, VersionState.FAILED)
            journal.event("revoke-failed-new", EventOutcome.ERROR, error=exc.message)
            journal.flush()  # a resume would not repeat it

    # -- deliver, retire, names ------------------------------------------------------------------

    def deliver(self, version: CertificateVersion) -> Delivered:
        return Delivered(deliver_current(self.runtime, self.credential, version))

    def retire(self, journal: StepJournal, old: CertificateVersion) -> bool:
        """Revoke the previous certificate on NetSuite, then in the store."""
        if old.state is VersionState.REVOKED or not old.certificate_id:
            return False
        journal.checkpoint()
        with self.runtime.client_for(self.credential) as client:
            revoke_remote(client, old)
        journal.note(lambda write: write.set_version_state(old, VersionState.REVOKED))
        return True

    def describe(self, version: CertificateVersion) -> VersionName:
        """NetSuite's certificate ID."""
        return VersionName("certificate_id", version.certificate_id)

    def grace_note(self, until: dt.datetime) -> str:
        return f"retires the previous certificate after {until:%Y-%m-%d %H:%M:%S} UTC"

    # -- observation -----------------------------------------------------------------------------

    def observe(self, current: CertificateVersion | None, *, remote: bool, probe: bool) -> RemoteFacts:
        """NetSuite's list (the current's state, foreign certificates) and, with ``probe``, a real token."""
        state: RemoteState = "unknown"
        foreign: tuple[str, ...] = ()
        pending: tuple[str, ...] = ()
        probe_result: ProbeResult | None = None
        error: str | None = None
        if remote:
            try:
                state, foreign, pending = self._listed(current.certificate_id if current else None)
            except CertrotorError as exc:
                log.warning("remote health check failed", credential=self.credential.name, error=exc.message)
                error = exc.message  # a failed remote check is never OK
                if probe:
                    probe_result = ProbeResult.failed(f"listing certificates failed: {exc.message}")
        if probe and probe_result is None:
            probe_result = self._probe(current)
        return RemoteFacts(
            state=state,
            foreign_certificate_ids=foreign,
            pending_adoption_ids=pending,
            probe=probe_result,
            error=error,
        )

    def _listed(self, certificate_id: str | None) -> tuple[RemoteState, tuple[str, ...], tuple[str, ...]]:
        """The current certificate's state on the server, and its unknown active certificates there:
        foreign ones and those pending adoption."""
        with self.runtime.client_for(self.credential) as client:
            items = client.list_certificates()
        foreign, pending = sort_unknown(self.runtime, self.credential, items)
        if certificate_id is None:
            return "unknown", foreign, pending
        listed = next((i for i in items if i.certificate_id == certificate_id), None)
        if listed is None:
            return "missing", foreign, pending
        return ("revoked" if listed.revoked else "active"), foreign, pending

    def _probe(self, current: CertificateVersion | None) -> ProbeResult:
        if current is None or current.certificate_id is None:
            return ProbeResult.failed("no usable current certificate")
        try:
            private_key = self.runtime.store.load_private_key(current)
        except MasterKeyError:
            return ProbeResult.failed("no usable current certificate")
        try:
            with self.runtime.token_client(self.credential) as client:
                client.request_token(
                    private_key, certificate_id=current.certificate_id, scopes=self.credential.scopes
                )
        except CertrotorError as exc:
            return ProbeResult.failed(exc.message)
        return ProbeResult.succeeded()

    def reconcile(self) -> ReconcileReport:
        """NetSuite's list against the store: adopt unrecorded uploads, flag foreign and lost ones."""
        with self.runtime.client_for(self.credential) as client:
            return reconcile(self.runtime, self.credential, client)


__all__ = ["M2MSteps", "deliver_current", "revoke_remote"]
