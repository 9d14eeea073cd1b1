"""Seed 004 end to end over real HTTP: placeholder, rotations, imports, grace, refusals, deleted record.

The emulator (NetSuite) signs real-time import requests with the record's key and sends them to
certrotor's receiver; both run on uvicorn on loopback, the store is a real SQLite file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import time_machine

from certrotor.client.auth import BearerTokenAuth
from certrotor.client.records import RecordClient
from certrotor.crypto import KeySpec, build_self_signed_certificate, generate_private_key, utcnow
from certrotor.daemon import Daemon
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.emulator.testing import RunningEmulator
from certrotor.health_rules import HealthStatus
from certrotor.protocol.records import placeholder_fingerprint
from certrotor.protocol.signed_import import SigningKey
from certrotor.receiver import Verifier
from certrotor.services import health
from certrotor.services.records import record_verifiers, recreate_record
from certrotor.services.rotation import Rotator
from certrotor.services.runtime import Runtime
from certrotor.store import RotationTrigger, VersionState
from certrotor.web.receiver import create_receiver_app, running_receiver
from support.records import (
    SCRIPT_ID,
    UNREACHABLE_RECEIVER,
    add_record_credential,
    get_import,
    signed_by,
)


def _rotate(runtime: Runtime, name: str, trigger: RotationTrigger = RotationTrigger.MANUAL) -> str:
    return Rotator(runtime, owner="test").rotate(name, trigger).status


def _signing_key(runtime: Runtime, name: str, state: VersionState) -> SigningKey:
    store = runtime.store
    version = store.versions(store.get_credential(name), states=[state])[-1]
    return store.load_private_key(version)


def _record_fingerprint(records: RecordsAdmin, script_id: str = SCRIPT_ID) -> str | None:
    record = records.get(script_id)
    return None if record is None else str(record["fingerprint_sha256"])


class TestFirstSetup:
    def test_placeholder_reported(self, runtime: Runtime, credential: str) -> None:
        """Before the first rotation health is CRIT: no certificate, and the record holds the placeholder."""
        report = health.check_all(runtime, [credential])[0]
        assert report.status is HealthStatus.CRIT
        assert report.summary == "No valid certificate available for real-time import"
        reasons = {reason.code: reason for reason in report.reasons}
        assert set(reasons) == {"no_current", "placeholder"}
        assert 'Certificate record "custcertificate_oa_realtime" still holds the bundled placeholder' in (
            reasons["placeholder"].message
        )
        assert reasons["placeholder"].fix == "certrotor rotate openair"

    def test_first_rotation_replaces_placeholder(
        self, runtime: Runtime, credential: str, records: RecordsAdmin
    ) -> None:
        """The first rotation puts a new key into the record, then saves its certificate as the verifier."""
        assert _record_fingerprint(records) == placeholder_fingerprint()
        assert _rotate(runtime, credential) == "rotated"
        current = runtime.store.current_version(runtime.store.get_credential(credential))
        assert current is not None
        assert _record_fingerprint(records) == current.fingerprint_sha256
        report = health.check_all(runtime, [credential])[0]
        assert report.status is HealthStatus.OK, report.to_dict()
        assert (
            report.summary
            == f"Current real-time import certificate is valid until {current.not_after:%Y-%m-%d}"
        )
        actions = [event.action for event in reversed(runtime.store.events(credential))]
        assert "placeholder-replaced" in actions
        assert actions.index("upload") < actions.index("verify") < actions.index("activate")

    def test_signed_import_accepted(
        self, runtime: Runtime, credential: str, records: RecordsAdmin, receiver_url: str
    ) -> None:
        """NetSuite's signed import request reaches certrotor's receiver and is accepted."""
        _rotate(runtime, credential)
        sent = records.send_import(SCRIPT_ID, receiver_url, ns_id="5001", record_type="project")
        assert sent["status_code"] == 200, sent["answer"]
        assert '"verifier":"current"' in sent["answer"]
        assert '"ns_id":"5001"' in sent["answer"]

    def test_placeholder_signed_import_refused(
        self, credential: str, records: RecordsAdmin, receiver_url: str
    ) -> None:
        """Before the first rotation nothing vouches: a request signed with the placeholder is refused."""
        sent = records.send_import(SCRIPT_ID, receiver_url)
        assert sent["status_code"] == 403
        assert '"reason":"bad_signature"' in sent["answer"]


class TestGracePeriod:
    def test_previous_key_accepted_in_grace_refused_after(
        self, runtime: Runtime, credential: str, records: RecordsAdmin, receiver_url: str
    ) -> None:
        """After the next rotation the previous key is accepted for the grace period (1 h), then refused."""
        _rotate(runtime, credential)
        assert _rotate(runtime, credential) == "rotated"
        previous_key = _signing_key(runtime, credential, VersionState.PREVIOUS)
        accepted = get_import(receiver_url, signed_by(previous_key))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["verifier"] == "previous"
        assert records.send_import(SCRIPT_ID, receiver_url)["status_code"] == 200
        with time_machine.travel(utcnow() + dt.timedelta(hours=1, minutes=1), tick=True):
            refused = get_import(receiver_url, signed_by(previous_key))
            assert refused.status_code == 403
            assert refused.json()["reason"] == "retired_key"
            assert "grace period ended" in refused.json()["message"]
            assert records.send_import(SCRIPT_ID, receiver_url)["status_code"] == 200
            # The scheduled pass retires it for good: still refused, for the same reason.
            assert _rotate(runtime, credential, RotationTrigger.SCHEDULE) == "retired"
            again = get_import(receiver_url, signed_by(previous_key))
            assert (again.status_code, again.json()["reason"]) == (403, "retired_key")
        versions = runtime.store.versions(runtime.store.get_credential(credential))
        assert [v.state for v in versions] == [VersionState.REVOKED, VersionState.CURRENT]

    def test_verifiers_during_grace(self, runtime: Runtime, credential: str) -> None:
        """During the grace period the verifiers are the current and the previous certificate."""
        _rotate(runtime, credential)
        _rotate(runtime, credential)
        store = runtime.store
        verifiers = record_verifiers(store, store.get_credential(credential))
        assert [v.role for v in verifiers] == ["current", "previous"]
        rotation = store.open_rotation(store.get_credential(credential))
        assert rotation is not None
        assert verifiers[1].accept_until == rotation.retire_after


class TestRefusals:
    def test_unknown_key(self, runtime: Runtime, credential: str, receiver_url: str) -> None:
        """A request signed by a key that is in no certificate of ours is refused with 403."""
        _rotate(runtime, credential)
        response = get_import(receiver_url, signed_by(generate_private_key(KeySpec.EC_P256)))
        assert response.status_code == 403
        assert response.json()["reason"] == "bad_signature"

    def test_tampered_and_replayed(
        self, runtime: Runtime, credential: str, records: RecordsAdmin, receiver_url: str
    ) -> None:
        """A signed request with an altered parameter is refused; the original once, then as a replay."""
        _rotate(runtime, credential)
        query = records.send_import(SCRIPT_ID, UNREACHABLE_RECEIVER, ns_id="1001")["url"].split("?", 1)[1]
        altered = get_import(receiver_url, query.replace("ns_id=1001", "ns_id=9999"))
        assert (altered.status_code, altered.json()["reason"]) == (403, "bad_signature")
        appended = get_import(receiver_url, query + "&ns_id=9999")
        assert (appended.status_code, appended.json()["reason"]) == (403, "tampered")
        assert get_import(receiver_url, query).status_code == 200
        replayed = get_import(receiver_url, query)
        assert (replayed.status_code, replayed.json()["reason"]) == (403, "replayed")

    def test_stale_request(
        self, runtime: Runtime, credential: str, records: RecordsAdmin, receiver_url: str
    ) -> None:
        """A request stamped ten minutes ago is refused as expired."""
        _rotate(runtime, credential)
        stale = int(utcnow().timestamp()) - 600
        sent = records.send_import(SCRIPT_ID, receiver_url, timestamp=stale)
        assert sent["status_code"] == 403
        assert '"reason":"expired"' in sent["answer"]

    def test_rsa_record_names_unknown_key_and_tampering(
        self, runtime: Runtime, emulator: RunningEmulator, records: RecordsAdmin
    ) -> None:
        """With an RSA record key the receiver tells an unknown key from an altered query."""
        records.create("_oa_rsa", "OpenAir RSA")
        name = add_record_credential(
            runtime,
            emulator,
            name="openair-rsa",
            script_id="custcertificate_oa_rsa",
            key_spec=KeySpec.RSA_3072,
        )
        assert _rotate(runtime, name) == "rotated"

        def verifiers() -> list[Verifier]:
            return record_verifiers(runtime.store, runtime.store.get_credential(name))

        with running_receiver(create_receiver_app(verifiers)) as url:
            sent = records.send_import("custcertificate_oa_rsa", url)
            assert sent["status_code"] == 200, sent["answer"]
            query = records.send_import("custcertificate_oa_rsa", UNREACHABLE_RECEIVER)["url"].split("?", 1)[
                1
            ]
            tampered = get_import(url, query.replace("record_type=customer", "record_type=vendor"))
            assert tampered.json()["reason"] == "tampered"
            stranger = get_import(url, signed_by(generate_private_key(KeySpec.RSA_3072)))
            assert stranger.json()["reason"] == "unknown_key"


class TestDeletedRecord:
    def test_rotation_fails_health_crit_recreate_repairs(
        self, runtime: Runtime, credential: str, records: RecordsAdmin
    ) -> None:
        """A deleted record: the rotation fails with the seed's words and the fix, recreate repairs it."""
        _rotate(runtime, credential)
        records.delete(SCRIPT_ID)
        outcome = Rotator(runtime, owner="test").rotate(credential, RotationTrigger.MANUAL)
        assert outcome.status == "deferred"
        assert 'Certificate "custcertificate_oa_realtime" not found' in outcome.message
        assert "certrotor record recreate openair" in outcome.message
        report = health.check_all(runtime, [credential])[0]
        assert report.status is HealthStatus.CRIT
        assert report.summary == "No valid certificate available for real-time import"
        missing = next(reason for reason in report.reasons if reason.code == "record_missing")
        assert missing.message.startswith('Certificate "custcertificate_oa_realtime" not found')
        assert missing.fix == "certrotor record recreate openair"

        recreated, info = recreate_record(runtime, credential)
        assert info.is_placeholder
        assert info.name == "OpenAir real-time"
        assert recreated.next_rotation_at is not None
        assert recreated.next_rotation_at <= utcnow()
        placeholder = health.check_all(runtime, [credential])[0]
        assert "placeholder" in {reason.code for reason in placeholder.reasons}

        assert _rotate(runtime, credential) == "rotated"
        current = runtime.store.current_version(runtime.store.get_credential(credential))
        assert current is not None
        assert _record_fingerprint(records) == current.fingerprint_sha256
        assert health.check_all(runtime, [credential])[0].status is HealthStatus.OK

    def test_record_replaced_outside_certrotor(
        self, runtime: Runtime, credential: str, records: RecordsAdmin
    ) -> None:
        """A record recreated by hand (placeholder again) is reported with the fix to rotate."""
        _rotate(runtime, credential)
        records.delete(SCRIPT_ID)
        records.create()
        report = health.check_all(runtime, [credential])[0]
        assert report.status is HealthStatus.CRIT
        assert {reason.code for reason in report.reasons} == {"placeholder"}


class TestScheduleAndDelivery:
    def test_next_rotation_one_to_two_weeks_before_expiry(self, runtime: Runtime, credential: str) -> None:
        """After a rotation the next one is planned 7 to 14 days before the new certificate expires."""
        _rotate(runtime, credential)
        store = runtime.store
        current = store.current_version(store.get_credential(credential))
        planned = store.get_credential(credential).next_rotation_at
        assert current is not None
        assert planned is not None
        assert (
            current.not_after - dt.timedelta(days=14) <= planned <= current.not_after - dt.timedelta(days=7)
        )

    def test_daemon_rotates_record_when_due(
        self, runtime: Runtime, credential: str, records: RecordsAdmin, receiver_url: str
    ) -> None:
        """The daemon replaces the placeholder at once, and rotates again when the renewal window comes."""
        daemon = Daemon(runtime, parallel=1, interval=0.05, reconcile_on_start=False)
        assert daemon.run(max_ticks=1).rotations == {"rotated": 1}
        store = runtime.store
        first = store.current_version(store.get_credential(credential))
        assert first is not None
        assert _record_fingerprint(records) == first.fingerprint_sha256
        planned = store.get_credential(credential).next_rotation_at
        assert planned is not None
        with time_machine.travel(planned + dt.timedelta(minutes=1), tick=True):
            assert Daemon(runtime, parallel=1, reconcile_on_start=False).run(max_ticks=1).rotations
            second = store.current_version(store.get_credential(credential))
            assert second is not None
            assert second.id != first.id
            assert _record_fingerprint(records) == second.fingerprint_sha256
            assert records.send_import(SCRIPT_ID, receiver_url)["status_code"] == 200

    def test_verifier_files_delivered_without_key(
        self, runtime: Runtime, credential: str, certrotor_env: dict[str, str]
    ) -> None:
        """Each rotation writes cert.pem, verifiers.pem (current and previous) and metadata; never a key."""
        _rotate(runtime, credential)
        _rotate(runtime, credential)
        directory = Path(certrotor_env["CERTROTOR_DATA_DIR"]) / "deliver" / credential
        assert sorted(path.name for path in directory.iterdir()) == [
            "cert.pem",
            "credential.json",
            "verifiers.pem",
        ]
        assert (directory / "verifiers.pem").read_text().count("BEGIN CERTIFICATE") == 2
        metadata = json.loads((directory / "credential.json").read_text())
        assert metadata["record_script_id"] == SCRIPT_ID
        assert [v["role"] for v in metadata["verifiers"]] == ["current", "previous"]
        for path in directory.iterdir():
            assert "PRIVATE KEY" not in path.read_text()
            assert path.stat().st_mode & 0o777 == 0o600

    def test_record_changed_outside_certrotor(
        self, runtime: Runtime, credential: str, emulator: RunningEmulator
    ) -> None:
        """A record whose file someone replaced by hand is CRIT until the next rotation."""
        _rotate(runtime, credential)
        key = generate_private_key(KeySpec.EC_P256)
        with RecordClient(emulator.endpoints, auth=BearerTokenAuth(emulator.tenant.admin_token)) as client:
            client.replace_file(
                SCRIPT_ID, key, build_self_signed_certificate(key, common_name="x", validity_days=9)
            )
        report = health.check_all(runtime, [credential])[0]
        assert report.status is HealthStatus.CRIT
        assert [reason.code for reason in report.reasons] == ["record_replaced"]
        assert _rotate(runtime, credential) == "rotated"
        assert health.check_all(runtime, [credential])[0].status is HealthStatus.OK
