"""The one choice of steps per credential (``steps_for``), the package's public names, and the seed's
manual certificate steps refusing a certificate record credential."""

from __future__ import annotations

import pytest

import certrotor.services.rotation as rotation
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import InputError
from certrotor.services import operations
from certrotor.services.rotation import M2MSteps, RecordSteps, m2m_steps_for, steps_for
from certrotor.services.runtime import Runtime

from .._support import ServiceWorld

PUBLIC_NAMES = [
    "FAULT_POINT_ENV",
    "HOOK_TIMEOUT_SECONDS",
    "Delivered",
    "M2MSteps",
    "RecordSteps",
    "RemoteFacts",
    "RotationOutcome",
    "Rotator",
    "StepJournal",
    "Steps",
    "VersionName",
    "default_owner",
    "deliver_current",
    "deliver_verifiers",
    "delivery_directory",
    "due_rotation_reason",
    "fault_point",
    "lease_holder_is_dead",
    "m2m_steps_for",
    "steps_for",
]


class TestPublicNames:
    def test_all_is_pinned(self) -> None:
        """services.rotation re-exports exactly these names, sorted (constants, classes, functions)."""
        assert rotation.__all__ == PUBLIC_NAMES
        for name in PUBLIC_NAMES:
            assert getattr(rotation, name) is not None


class TestStepsFor:
    def test_m2m_credential_gets_the_m2m_steps(self, world: ServiceWorld) -> None:
        """An M2M credential is rotated, observed and reconciled by M2MSteps."""
        credential = world.enrol("app1")
        steps = steps_for(credential, world.runtime())
        assert isinstance(steps, M2MSteps)
        assert steps.kind == "m2m"
        assert m2m_steps_for(credential, world.runtime()).credential == credential

    def test_record_credential_gets_the_record_steps(self, runtime: Runtime, credential: str) -> None:
        """A record credential is rotated and observed by RecordSteps; it has nothing to reconcile."""
        steps = steps_for(runtime.store.get_credential(credential), runtime)
        assert isinstance(steps, RecordSteps)
        assert steps.kind == "record"
        assert steps.reconcile() is None


class TestManualStepsRefuseRecords:
    @pytest.mark.parametrize("operation", ["upload", "list", "token", "revoke"])
    def test_certificate_commands_refuse_a_record_credential(
        self, runtime: Runtime, credential: str, emulator: RunningEmulator, operation: str
    ) -> None:
        """upload, list, token and revoke name the mistake and the commands to use; nothing changes."""
        store = runtime.store
        before = (store.versions(credential), store.events(credential))
        calls = {
            "upload": lambda: operations.upload(runtime, credential),
            "list": lambda: operations.list_remote(runtime, credential),
            "token": lambda: operations.request_token(runtime, credential),
            "revoke": lambda: operations.revoke(runtime, credential, "some-id"),
        }
        with pytest.raises(InputError) as raised:
            calls[operation]()
        assert "is a certificate record credential" in raised.value.message
        assert raised.value.hint is not None
        assert f"certrotor record show {credential}" in raised.value.hint
        assert (store.versions(credential), store.events(credential)) == before
        assert emulator.counters().get("uploads", {}) == {}
