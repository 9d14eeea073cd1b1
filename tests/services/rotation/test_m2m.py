"""The M2M steps through the engine against the emulator: overlap, replace, auto, the delivered key and
certificate, and a new certificate that cannot obtain a token."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
import time_machine

from certrotor import crypto
from certrotor.crypto import utcnow
from certrotor.health_rules import HealthStatus
from certrotor.services import health, operations
from certrotor.services.rotation import Rotator, delivery_directory
from certrotor.store import AuthMode, RotationStep, Strategy, VersionState

from .._support import ServiceWorld, assert_settled, finished_rotations, token_works
from ._support import MANUAL, SCHEDULE, actions, assert_delivered, env_file, recording_hook, rotator


class TestOverlap:
    """Upload next to the old certificate, verify, switch, deliver, revoke the old one."""

    def test_rotation_makes_a_new_current_certificate_and_revokes_the_old(
        self, world: ServiceWorld, tmp_path: Path
    ) -> None:
        """One current version afterwards, the old one revoked on both sides, the new one gets a token."""
        hook_env = tmp_path / "hook.env"
        world.enrol("app1", strategy=Strategy.OVERLAP, hook_command=recording_hook(hook_env))
        old = world.store.current_version("app1")
        assert old is not None
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated", outcome
        assert outcome.old_certificate_id == old.certificate_id
        current = assert_settled(world, "app1")
        assert current.certificate_id == outcome.new_certificate_id != old.certificate_id
        assert world.store.get_version(old.id).state is VersionState.REVOKED
        assert actions(world, "app1", outcome.rotation_id or 0) == [
            "rotation-start",
            "prepare",
            "upload",
            "verify",
            "activate",
            "hook",
            "retire",
        ]
        assert world.uploads(world.emulator.tenant.client_id) == 2
        assert_delivered(world, "app1", hook_env)

    def test_rotation_can_repeat(self, world: ServiceWorld) -> None:
        """Three rotations in a row leave one current and three revoked certificates, one upload each."""
        world.enrol("app1", strategy=Strategy.OVERLAP)
        for _ in range(3):
            assert rotator(world).rotate("app1", MANUAL).status == "rotated"
        assert_settled(world, "app1")
        states = [v.state for v in world.store.versions("app1")]
        assert states.count(VersionState.REVOKED) == 3
        assert world.uploads(world.emulator.tenant.client_id) == 4

    def test_grace_keeps_the_previous_certificate_working_until_it_ends(self, world: ServiceWorld) -> None:
        """With a grace period the old certificate stays active and usable until it is over, then goes."""
        world.enrol("app1", strategy=Strategy.OVERLAP, grace_seconds=3600)
        old = world.store.current_version("app1")
        assert old is not None
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated"
        assert "retires the previous certificate after" in outcome.message
        credential = world.store.get_credential("app1")
        rotation = world.store.open_rotation(credential)
        assert rotation is not None
        assert rotation.step is RotationStep.RETIRE
        # The daemon wakes up for the retirement when the grace period ends.
        assert credential.next_rotation_at == rotation.retire_after
        assert world.store.get_version(old.id).state is VersionState.PREVIOUS
        assert token_works(world, credential, world.store.get_version(old.id))
        assert rotator(world).rotate("app1", SCHEDULE).status == "waiting"
        with time_machine.travel(utcnow() + dt.timedelta(hours=1, seconds=5), tick=True):
            assert rotator(world).rotate("app1", SCHEDULE).status == "retired"
            assert_settled(world, "app1")

    def test_manual_trigger_during_grace_cuts_it_short_and_rotates_again(self, world: ServiceWorld) -> None:
        """`rotate NAME` while the previous rotation waits out its grace retires early and starts anew."""
        world.enrol("app1", strategy=Strategy.OVERLAP, grace_seconds=3600)
        first = rotator(world).rotate("app1", MANUAL)
        second = rotator(world).rotate("app1", MANUAL)
        assert second.status == "rotated"
        assert second.rotation_id != first.rotation_id
        retire = [e for e in world.store.events("app1") if e.action == "retire"]
        assert retire[0].detail["grace_cut_short"] is True
        # The first rotation is done; the second now waits out its own grace period.
        assert finished_rotations(world.store, "app1") == [RotationStep.DONE]
        assert world.store.open_rotation("app1") is not None

    def test_first_rotation_enrols_the_pending_key_of_credential_add(self, world: ServiceWorld) -> None:
        """A credential never uploaded gets its first key uploaded (no second key made), with a token."""
        bootstrap = world.runtime(token=world.admin_token)
        operations.add_credential(bootstrap, world.spec("fresh"))
        pending = world.store.versions("fresh")
        outcome = Rotator(bootstrap, owner="test:1:x").rotate("fresh", MANUAL)
        assert outcome.status == "rotated"
        current = assert_settled(world, "fresh")
        assert [v.id for v in world.store.versions("fresh")] == [pending[0].id] == [current.id]


class TestDelivery:
    """After activation: files for consumers, then the hook with their paths."""

    def test_files_are_private_and_hold_the_current_key_and_certificate(
        self, world: ServiceWorld, tmp_path: Path
    ) -> None:
        """key.pem, cert.pem and credential.json are 0600 in a 0700 directory and match the current."""
        hook_env = tmp_path / "hook.env"
        world.enrol("app1", hook_command=f"sh -c 'env > \"$1\"' hook {hook_env}")
        outcome = rotator(world).rotate("app1", MANUAL)
        current = assert_settled(world, "app1")
        directory = delivery_directory(world.runtime(), world.store.get_credential("app1"))
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for name in ("key.pem", "cert.pem", "credential.json"):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
        key = crypto.load_private_key_pem((directory / "key.pem").read_bytes())
        certificate = crypto.load_certificate_pem((directory / "cert.pem").read_bytes())
        assert crypto.fingerprint_sha256(certificate) == current.fingerprint_sha256
        assert crypto.keys_match(key, certificate)
        metadata = json.loads((directory / "credential.json").read_text())
        assert metadata["certificate_id"] == current.certificate_id == outcome.new_certificate_id
        assert metadata["client_id"] == world.emulator.tenant.client_id
        assert metadata["account_id"] == world.emulator.tenant.account_id
        assert metadata["algorithm"] == "ES256"
        assert "PRIVATE KEY" not in (directory / "credential.json").read_text()

    def test_hook_gets_the_paths_and_ids_but_not_certrotors_secrets(
        self, world: ServiceWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The hook runs after the files are in place with CERTROTOR_*_FILE, name and ID; no master key."""
        hook_env = tmp_path / "hook.env"
        world.enrol("app1", hook_command=f"sh -c 'env > \"$1\"' hook {hook_env}")
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", world.master_key)
        outcome = rotator(world).rotate("app1", MANUAL)
        env = env_file(hook_env)
        directory = delivery_directory(world.runtime(), world.store.get_credential("app1"))
        assert env["CERTROTOR_KEY_FILE"] == str(directory / "key.pem")
        assert env["CERTROTOR_CERT_FILE"] == str(directory / "cert.pem")
        assert env["CERTROTOR_METADATA_FILE"] == str(directory / "credential.json")
        assert env["CERTROTOR_CREDENTIAL"] == "app1"
        assert env["CERTROTOR_CERTIFICATE_ID"] == outcome.new_certificate_id
        assert "CERTROTOR_MASTER_KEY" not in env
        assert "CERTROTOR_CONFIG" not in env
        hook_events = [e for e in world.store.events("app1") if e.action == "hook"]
        assert [e.outcome.value for e in hook_events] == ["ok"]

    def test_failing_hook_keeps_the_rotation_at_deliver_and_health_says_so(
        self, world: ServiceWorld, tmp_path: Path
    ) -> None:
        """A failing hook never undoes the switch: the rotation waits at deliver, health warns."""
        world.enrol("app1", hook_command="sh -c 'echo reload failed >&2; exit 3'")
        old = world.store.current_version("app1")
        assert old is not None
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "deferred"
        assert "hook exited with code 3: reload failed" in outcome.message
        credential = world.store.get_credential("app1")
        rotation = world.store.open_rotation(credential)
        assert rotation is not None
        assert rotation.step is RotationStep.DELIVER
        current = world.store.current_version(credential)
        assert current is not None
        assert current.certificate_id == outcome.new_certificate_id
        # The previous certificate is kept (not retired) while consumers may not have the new one.
        assert world.store.get_version(old.id).state is VersionState.PREVIOUS
        assert not world.remote_certificates(credential.client_id)[0]["revoked"]
        assert credential.failed_attempts == 1
        assert credential.next_rotation_at is not None
        assert credential.next_rotation_at > utcnow()
        report = health.check_credential(world.runtime(), credential)
        assert report.status is HealthStatus.WARN
        assert [r.code for r in report.reasons] == ["rotation_failed"]
        assert "The hook of 'app1' failed" in report.reasons[0].message
        assert report.reasons[0].fix == "certrotor rotate app1"

        world.store.update_credential("app1", hook_command="true")
        assert rotator(world).rotate("app1", SCHEDULE).status == "rotated"
        assert_settled(world, "app1")
        settled = world.store.get_credential("app1")
        assert settled.failed_attempts == 0
        assert settled.last_error is None
        report = health.check_credential(world.runtime(), settled)
        assert report.status is HealthStatus.OK, report.reasons


class TestReplace:
    """Only one active certificate per (entity, role): revoke first, as the seed says."""

    def test_replace_keeps_a_token_then_revokes_then_uploads(
        self, world: ServiceWorld, tmp_path: Path
    ) -> None:
        """With a cap of one, the old certificate goes first; a token minted before lets the upload pass."""
        world.emulator.set_config(max_active_per_combination=1)
        hook_env = tmp_path / "hook.env"
        world.enrol("app1", strategy=Strategy.REPLACE, hook_command=recording_hook(hook_env))
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated", outcome
        assert_settled(world, "app1")
        assert_delivered(world, "app1", hook_env)
        assert actions(world, "app1", outcome.rotation_id or 0) == [
            "rotation-start",
            "prepare",
            "token-prefetched",
            "revoke-old",
            "upload",
            "verify",
            "activate",
            "hook",
        ]
        credential = world.store.get_credential("app1")
        # No bootstrap token was stored: the kept one is the token minted by the old certificate.
        assert credential.has_management_token

    def test_auto_switches_to_replace_when_netsuite_refuses_a_second_certificate(
        self, world: ServiceWorld, tmp_path: Path
    ) -> None:
        """`auto` tries overlap, learns from CERTIFICATE_LIMIT_REACHED, and remembers replace."""
        world.emulator.set_config(max_active_per_combination=1)
        hook_env = tmp_path / "hook.env"
        world.enrol("app1", strategy=Strategy.AUTO, hook_command=recording_hook(hook_env))
        first = rotator(world).rotate("app1", MANUAL)
        assert first.status == "rotated", first
        assert_settled(world, "app1")
        assert_delivered(world, "app1", hook_env)
        credential = world.store.get_credential("app1")
        assert credential.resolved_strategy is Strategy.REPLACE
        assert world.store.rotations(credential)[0].strategy is Strategy.REPLACE
        resolved = [e for e in world.store.events(credential) if e.action == "strategy-resolved"]
        assert len(resolved) == 1
        assert "active certificate" in resolved[0].detail["reason"]
        second = rotator(world).rotate("app1", MANUAL)
        assert second.status == "rotated"
        assert world.store.rotations(credential)[0].strategy is Strategy.REPLACE
        assert len([e for e in world.store.events(credential) if e.action == "strategy-resolved"]) == 1
        assert_settled(world, "app1")
        assert world.uploads(credential.client_id) == 3

    def test_overlap_chosen_by_the_user_is_not_switched_silently(self, world: ServiceWorld) -> None:
        """An explicit overlap under a cap of one defers with the fix; the old certificate stays current."""
        world.emulator.set_config(max_active_per_combination=1)
        world.enrol("app1", strategy=Strategy.OVERLAP)
        old = world.store.current_version("app1")
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "deferred"
        assert "refused a second active certificate" in outcome.message
        assert "--strategy replace" in outcome.message
        assert world.store.current_version("app1") == old
        credential = world.store.get_credential("app1")
        assert credential.resolved_strategy is None
        assert world.uploads(credential.client_id) == 1


class TestVerificationFailure:
    """A new certificate that cannot obtain a token is revoked and never becomes current."""

    def test_clock_ahead_of_netsuite_fails_verification_and_keeps_the_old(
        self, world_with_remote_emulator: ServiceWorld
    ) -> None:
        """Certificates made a day in the future upload, get no token, are revoked; the old one stays."""
        world = world_with_remote_emulator
        world.enrol("app1", auth_mode=AuthMode.TOKEN, management_token=world.admin_token)
        old = world.store.current_version("app1")
        assert old is not None
        with time_machine.travel(utcnow() + dt.timedelta(days=1), tick=True):
            outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "failed"
        assert "could not obtain a token" in outcome.message
        credential = world.store.get_credential("app1")
        assert world.store.current_version(credential) == old
        assert world.store.open_rotation(credential) is None
        assert finished_rotations(world.store, "app1") == [RotationStep.FAILED]
        failed = [v for v in world.store.versions(credential) if v.state is VersionState.FAILED]
        assert len(failed) == 1
        remote = {c["certificate_id"]: c for c in world.remote_certificates(credential.client_id)}
        assert remote[failed[0].certificate_id]["revoked"]
        assert not remote[old.certificate_id]["revoked"]
        assert credential.failed_attempts == 1
        assert token_works(world, credential, old)
