"""A crash between the upload into the record and the local save loses nothing (real SIGKILL)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from certrotor.crypto import utcnow
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.services import health
from certrotor.services.rotation import FAULT_POINT_ENV, Rotator
from certrotor.services.runtime import Runtime
from certrotor.store import RotationStep, RotationTrigger, VersionState
from support.records import SCRIPT_ID, run_process

DAEMON_ONCE = ["daemon", "--once", "--lease", "5", "--no-reconcile", "--interval", "0.1"]
LEASE_WAIT_LIMIT_SECONDS = 15.0


def _wait_for_lease_expiry(runtime: Runtime, name: str) -> None:
    """The killed process's lease (5 s) must run out before another process may take over."""
    deadline = time.monotonic() + LEASE_WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        credential = runtime.store.get_credential(name)
        if credential.lease_expires_at is None or credential.lease_expires_at < utcnow():
            return
        time.sleep(0.2)
    raise AssertionError("the dead process's lease never expired")


@pytest.mark.slow
class TestCrashBetweenUploadAndSave:
    @pytest.mark.parametrize("point", ["after:upload", "before:activate"])
    def test_restart_agrees_with_record(
        self,
        point: str,
        runtime: Runtime,
        credential: str,
        records: RecordsAdmin,
        receiver_url: str,
        certrotor_env: dict[str, str],
        tmp_path: Path,
    ) -> None:
        """Killed after NetSuite took the new key: requests still verify, and the restart saves that key."""
        assert Rotator(runtime, owner="setup").rotate(credential, RotationTrigger.MANUAL).status == "rotated"
        store = runtime.store
        first = store.current_version(store.get_credential(credential))
        assert first is not None
        store.set_schedule(credential, utcnow(), 0, None)

        crashed = run_process(DAEMON_ONCE, {**certrotor_env, FAULT_POINT_ENV: point}, tmp_path)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr

        # NetSuite already signs with the new key; certrotor has not saved it as current yet.
        rotation = store.open_rotation(store.get_credential(credential))
        assert rotation is not None
        assert rotation.new_version_id is not None
        new = store.get_version(rotation.new_version_id)
        assert new.state in {VersionState.PENDING, VersionState.UPLOADED}
        assert records.get(SCRIPT_ID)["fingerprint_sha256"] == new.fingerprint_sha256  # type: ignore[index]
        assert store.current_version(store.get_credential(credential)) == first
        codes = {reason.code for reason in health.check_all(runtime, [credential])[0].reasons}
        assert "record_replaced" not in codes
        in_between = records.send_import(SCRIPT_ID, receiver_url)
        assert in_between["status_code"] == 200, in_between["answer"]
        assert '"verifier":"incoming"' in in_between["answer"]

        _wait_for_lease_expiry(runtime, credential)
        restarted = run_process(DAEMON_ONCE, certrotor_env, tmp_path)
        assert restarted.returncode == 0, restarted.stderr

        current = store.current_version(store.get_credential(credential))
        assert current is not None
        assert current.id == new.id
        assert records.get(SCRIPT_ID)["fingerprint_sha256"] == current.fingerprint_sha256  # type: ignore[index]
        versions = store.versions(store.get_credential(credential))
        assert [(v.id, v.state) for v in versions] == [
            (first.id, VersionState.PREVIOUS),
            (new.id, VersionState.CURRENT),
        ]
        resumed = store.get_rotation(rotation.id)
        assert resumed.step is RotationStep.RETIRE
        after = records.send_import(SCRIPT_ID, receiver_url)
        assert after["status_code"] == 200, after["answer"]
        assert '"verifier":"current"' in after["answer"]
