"""A watched certificate record (``monitor`` mode): read and judged, never written.

Another system rotates such a record (OpenAir's connector rotates ``custcertificate_oa_realtime``
itself), so certrotor only reads it for health and alerts: validity, expiry, the placeholder, a
deleted record. Every writing step refuses with the fix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

from certrotor.errors import InputError
from certrotor.health_rules import CredentialKind
from certrotor.services.reconcile import ReconcileReport
from certrotor.services.records import record_state
from certrotor.services.rotation.record import record_remote_facts
from certrotor.services.rotation.steps import Delivered, RemoteFacts, StepJournal, VersionName
from certrotor.services.runtime import Runtime
from certrotor.store import CertificateVersion, Credential


def watched_record_refusal(credential: Credential) -> InputError:
    """Why certrotor does not rotate ``credential``, and how to make it."""
    return InputError(
        f"Credential {credential.name!r} only monitors certificate record "
        f'"{credential.record_script_id}": certrotor never writes it (mode monitor; OpenAir\'s '
        "connector rotates it itself).",
        hint=f"if this system plays OpenAir's part, `certrotor credential set {credential.name} "
        "--mode rotate`; otherwise generate a new real-time import certificate in OpenAir "
        "(Administration > NetSuite Connector > Tips).",
    )


@dataclass
class RecordWatchSteps:
    """The steps of a watched record: observation only; the writing steps refuse."""

    runtime: Runtime
    credential: Credential
    kind: CredentialKind = "record"

    def check_rotatable(self) -> None:
        """A watched record is never rotated by certrotor."""
        raise watched_record_refusal(self.credential)

    def _refuse(self) -> NoReturn:
        raise watched_record_refusal(self.credential)

    def upload(self, journal: StepJournal, version: CertificateVersion) -> bool:
        self._refuse()

    def verify(self, journal: StepJournal, version: CertificateVersion) -> None:
        self._refuse()

    def deliver(self, version: CertificateVersion) -> Delivered:
        self._refuse()

    def retire(self, journal: StepJournal, old: CertificateVersion) -> bool:
        self._refuse()

    def describe(self, version: CertificateVersion) -> VersionName:
        return VersionName("fingerprint", version.fingerprint_sha256)

    def grace_note(self, until: dt.datetime) -> str:
        return ""

    def observe(self, current: CertificateVersion | None, *, remote: bool, probe: bool) -> RemoteFacts:
        """The record as NetSuite holds it: present, placeholder, and its certificate's validity."""
        if not remote:
            return RemoteFacts()
        state = record_state(self.runtime, self.credential)
        facts = record_remote_facts(self.credential, state)
        if state.info is None:
            return facts
        # The watched record's own certificate is what health judges (certrotor holds no version).
        return dataclasses.replace(
            facts,
            state="active",
            certificate_not_before=state.info.not_before,
            certificate_not_after=state.info.not_after,
        )

    def reconcile(self) -> ReconcileReport | None:
        """A certificate record has no certificate list to compare with."""
        return None


__all__ = ["RecordWatchSteps", "watched_record_refusal"]
