"""Reconciliation with NetSuite's list: adopt what this store uploaded but never recorded, report foreign
certificates, flag a current certificate revoked on NetSuite."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from certrotor import crypto
from certrotor.client import BearerTokenAuth, NetSuiteClient
from certrotor.crypto import KeySpec
from certrotor.daemon import Daemon
from certrotor.errors import CredentialBusyError
from certrotor.services.reconcile import reconcile
from certrotor.services.runtime import endpoints_for
from certrotor.store import Credential, VersionState
from support.processes import ForkServer, ProcessResult

from ._support import ServiceWorld


def admin_client(world: ServiceWorld, credential: Credential) -> NetSuiteClient:
    return NetSuiteClient(
        endpoints_for(credential),
        client_id=credential.client_id,
        auth=BearerTokenAuth(world.admin_token),
        timeout=10,
    )


def upload_behind_certrotors_back(world: ServiceWorld, credential: Credential, pem: str) -> str:
    with admin_client(world, credential) as client:
        answer = client.upload_certificate(pem, entity=credential.entity_id, role=credential.role_id)
    return answer.certificate_id


def foreign_pem() -> str:
    key = crypto.generate_private_key(KeySpec.EC_P256)
    return crypto.certificate_to_pem(
        crypto.build_self_signed_certificate(key, common_name="someone else", validity_days=30)
    )


class TestReconcile:
    """``reconcile``: the store compared with NetSuite's list for one credential."""

    def test_adopts_a_pending_version_uploaded_but_never_recorded(self, world: ServiceWorld) -> None:
        """The pending key proves the certificate is ours by getting a token; its ID is recorded."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        pending = world.store.add_version(
            credential,
            key := crypto.generate_private_key(KeySpec.EC_P256),
            crypto.build_self_signed_certificate(key, common_name="certrotor app1", validity_days=30),
        )
        certificate_id = upload_behind_certrotors_back(world, credential, pending.certificate_pem)
        runtime = world.runtime()
        with runtime.client_for(credential) as client:
            report = reconcile(runtime, credential, client)
        assert report.adopted == ((pending.id, certificate_id),)
        assert report.foreign == ()
        assert report.current_remote_state == "active"
        adopted = world.store.get_version(pending.id)
        assert adopted.certificate_id == certificate_id
        assert adopted.state is VersionState.UPLOADED
        assert world.store.events("app1")[0].action == "adopt"

    def test_reports_foreign_certificates_and_never_adopts_them(self, world: ServiceWorld) -> None:
        """A certificate uploaded by someone else is foreign, even next to a pending version of ours."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        key = crypto.generate_private_key(KeySpec.EC_P256)
        pending = world.store.add_version(
            credential, key, crypto.build_self_signed_certificate(key, common_name="ours", validity_days=30)
        )
        foreign = upload_behind_certrotors_back(world, credential, foreign_pem())
        runtime = world.runtime()
        with runtime.client_for(credential) as client:
            report = reconcile(runtime, credential, client)
        assert report.adopted == ()
        assert report.foreign == (foreign,)
        assert world.store.get_version(pending.id).certificate_id is None

    def test_flags_a_current_certificate_revoked_on_netsuite(self, world: ServiceWorld) -> None:
        """Revoked outside certrotor: the report says so and the audit trail records it as an error."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        current = world.store.current_version(credential)
        assert current is not None
        assert current.certificate_id is not None
        with admin_client(world, credential) as client:
            client.revoke_certificate(current.certificate_id)
        runtime = world.runtime(token=world.admin_token)
        with runtime.client_for(credential) as client:
            report = reconcile(runtime, credential, client)
        assert report.current_remote_state == "revoked"
        event = world.store.events("app1")[0]
        assert event.action == "current-revoked"
        assert event.outcome.value == "error"

    def test_daemon_reconciles_every_credential_on_start(self, world: ServiceWorld) -> None:
        """A daemon start adopts an unrecorded upload before any rotation."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        key = crypto.generate_private_key(KeySpec.EC_P256)
        pending = world.store.add_version(
            credential,
            key,
            crypto.build_self_signed_certificate(key, common_name="certrotor app1", validity_days=30),
        )
        certificate_id = upload_behind_certrotors_back(world, credential, pending.certificate_pem)
        Daemon(world.runtime(), owner="test:1:daemon").reconcile_all()
        assert world.store.get_version(pending.id).certificate_id == certificate_id


class TestUnderTheLease:
    """Reconcile writes only under the credential's lease, with the versions read once it holds it."""

    def test_daemon_start_leaves_a_credential_a_live_rotation_holds_alone(self, world: ServiceWorld) -> None:
        """While `certrotor rotate` holds the credential, the start-up reconcile adopts and writes
        nothing; once the lease is released it adopts the unrecorded upload."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        key = crypto.generate_private_key(KeySpec.EC_P256)
        pending = world.store.add_version(
            credential,
            key,
            crypto.build_self_signed_certificate(key, common_name="certrotor app1", validity_days=30),
        )
        certificate_id = upload_behind_certrotors_back(world, credential, pending.certificate_pem)
        holder = f"{socket.gethostname()}:{os.getpid()}:rotate"
        held = world.store.claim("app1", holder, 300)
        events = world.store.events("app1")
        runtime = world.runtime()

        with runtime.client_for(credential) as client, pytest.raises(CredentialBusyError) as busy:
            reconcile(runtime, credential, client)
        assert (
            busy.value.message
            == f"Credential 'app1' is held by {holder} until {held.lease_expires_at.isoformat()}."
        )
        Daemon(runtime, owner="test:1:daemon").reconcile_all()

        assert world.store.get_version(pending.id) == pending
        assert world.store.events("app1") == events
        assert world.store.get_credential("app1").lease_owner == holder

        world.store.release("app1", holder)
        Daemon(runtime, owner="test:1:daemon").reconcile_all()
        assert world.store.get_version(pending.id).certificate_id == certificate_id
        assert world.store.get_credential("app1").lease_owner is None


class TestSharedIntegration:
    """Credentials of one store sharing an integration and (entity, role) know each other's certificates."""

    def test_twenty_credentials_rotate_without_refusals_and_nothing_is_foreign(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """`rotate --all` over 20 credentials on one integration asks NetSuite for no token with another's
        certificate (no invalid_client), and health finds no foreign certificate afterwards."""
        world.emulator.set_config(max_active_per_integration=100)
        client_id = world.new_integration()
        names = [f"app{number:02d}" for number in range(1, 21)]
        for name in names:
            world.enrol(name, client_id=client_id)
        refused = world.emulator.counters().get("token_refusals", {}).get("invalid_client", 0)

        rotated = fork_server.run(["rotate", "--all"], world.env(), tmp_path / "runs")
        health = fork_server.run(["health", "--json"], world.env(), tmp_path / "runs")

        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert world.emulator.counters().get("token_refusals", {}).get("invalid_client", 0) == refused
        assert world.uploads(client_id) == 40
        report = health.json()
        codes = [reason["code"] for entry in report["credentials"] for reason in entry["reasons"]]
        assert "foreign_certificate" not in codes
        assert health.returncode == 0, health.stdout
        assert [entry["status"] for entry in report["credentials"]] == ["OK"] * 20


class TestPendingAdoption:
    """An unrecorded upload of a pending version is the store's own: never foreign, never revoked lightly."""

    def test_health_says_pending_adoption_and_revoke_asks_for_force(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """Health WARNs "pending adoption" with `certrotor rotate` (not revoke); `revoke` of it, or of the
        current certificate, is refused without --force and changes nothing; rotate then adopts it."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        current = world.store.current_version(credential)
        assert current is not None
        key = crypto.generate_private_key(KeySpec.EC_P256)
        pending = world.store.add_version(
            credential,
            key,
            crypto.build_self_signed_certificate(key, common_name="certrotor app1", validity_days=30),
        )
        uploaded = upload_behind_certrotors_back(world, credential, pending.certificate_pem)

        def cli(*args: str) -> ProcessResult:
            return fork_server.run(list(args), world.env(), tmp_path / "runs")

        health = cli("health", "app1", "--json")
        assert health.returncode == 1, health.stdout
        [entry] = health.json()["credentials"]
        assert [(r["code"], r["status"], r["message"], r["fix"]) for r in entry["reasons"]] == [
            (
                "pending_adoption",
                "WARN",
                f"Certificate {uploaded} on NetSuite matches a pending version of this store: an interrupted "
                "rotation uploaded it without recording it (pending adoption); the next rotation adopts it.",
                "certrotor rotate app1",
            )
        ]

        remote = world.remote_certificates(credential.client_id)
        refused = cli("revoke", "app1", uploaded)
        assert (refused.returncode, refused.stderr.splitlines()) == (
            1,
            [
                f"error: Certificate {uploaded} matches a pending version of 'app1': an interrupted "
                "rotation uploaded it without recording it (pending adoption). Fix: run `certrotor rotate "
                "app1`, which adopts it, or pass --force to revoke it anyway (`certrotor revoke app1 "
                f"{uploaded} --force`)."
            ],
        )
        refused = cli("revoke", "app1", current.certificate_id or "")
        assert refused.returncode == 1
        assert refused.stderr.startswith(
            f"error: Certificate {current.certificate_id} is the current certificate of 'app1': revoking it "
            "stops every consumer and management call that uses it. Fix: rotate first"
        )
        assert world.remote_certificates(credential.client_id) == remote
        assert world.store.get_version(pending.id) == pending

        cli("rotate", "app1").ok()
        assert world.store.get_version(pending.id).certificate_id == uploaded
        assert world.uploads(credential.client_id) == 2
