"""Crash safety over real processes: `certrotor rotate NAME` SIGKILLs itself at a fault point, then runs
again without it; no key is lost, nothing remote is unknown, and the rotation completes.

Every fault point of ``certrotor.services.rotation.faults`` is crashed for both kinds of credential:
an M2M credential under both strategies, before and after every step, and a certificate record
credential, before and after every step (CERTROTOR_TEST_CRASH_MATRIX=half keeps one side per step,
alternating so that together they still cover both). Also crashed: the moments inside the upload step
that are hardest to survive: the remote side took the upload but the journal does not know yet, and
(replace) the old certificate is revoked on NetSuite but not yet in the store. The runs are forked
from a server that imported certrotor once (see ``ForkServer``): real processes, without an import of
a second or more each.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor import crypto
from certrotor.crypto import utcnow
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.emulator.testing import RunningEmulator, serve_emulator
from certrotor.services import operations
from certrotor.services.records import record_verifiers
from certrotor.services.rotation import Rotator
from certrotor.store import AuthMode, CredentialKind, RotationStep, RotationTrigger, Strategy, VersionState
from support.processes import ForkServer

from .._support import ServiceWorld, TokenWatch, assert_settled, running_world

STEPS = ("prepare", "upload", "verify", "activate", "deliver", "retire")
INSIDE_UPLOAD = {
    "overlap": ["after:upload-sent"],
    "replace": ["after:upload-sent", "after:revoke-old"],
    "record": ["after:upload-sent"],
}
FULL_MATRIX = os.environ.get("CERTROTOR_TEST_CRASH_MATRIX", "full") != "half"
"""Every point before and after every step for both strategies, unless only half is asked for."""


def fault_points(strategy: str) -> list[str]:
    """Both sides of every step; for half, one side, alternating so both strategies together cover all.

    ``strategy`` is an M2M strategy, or ``record`` for a certificate record credential (its half starts
    with ``before`` like overlap's: the record kind has one run of its own, not a partner).
    """
    first = "before" if strategy in ("overlap", "record") else "after"
    second = "after" if first == "before" else "before"
    if FULL_MATRIX:
        chosen = [f"{moment}:{step}" for step in STEPS for moment in ("before", "after")]
    else:
        chosen = [f"{first if index % 2 == 0 else second}:{step}" for index, step in enumerate(STEPS)]
    return chosen + INSIDE_UPLOAD[strategy]


FAULTS = [(strategy, point) for strategy in ("overlap", "replace") for point in fault_points(strategy)]
RECORD_FAULTS = fault_points("record")
REPLACE_WINDOW = {"after:revoke-old", "after:upload-sent"}
"""Replace: killed after the old certificate was revoked and before the new one was recorded."""


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningEmulator]]:
    """One emulator per strategy for the whole matrix; replace's allows one certificate per combination."""
    root = tmp_path_factory.mktemp("crash-emulators")
    with (
        serve_emulator(root / "overlap.db") as overlap,
        serve_emulator(root / "replace.db") as replace,
        serve_emulator(root / "record.db") as record,
    ):
        replace.set_config(max_active_per_combination=1)
        yield {"overlap": overlap, "replace": replace, "record": record}


@pytest.fixture
def crash_world(
    request: pytest.FixtureRequest,
    emulators: dict[str, RunningEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServiceWorld]:
    strategy = request.node.callspec.params.get("strategy", "record")
    monkeypatch.delenv("CERTROTOR_BOOTSTRAP_TOKEN", raising=False)
    with running_world(emulators[strategy], tmp_path / "data") as world:
        monkeypatch.setenv("CERTROTOR_CONFIG", str(world.config_file))
        yield world


def keys_of_everything_on_netsuite(world: ServiceWorld, client_id: str) -> None:
    """Every certificate NetSuite holds for the integration has its private key in the store."""
    store = world.store
    name = "app"
    by_fingerprint = {v.fingerprint_sha256: v for v in store.versions(name)}
    for certificate in world.remote_certificates(client_id):
        version = by_fingerprint.get(certificate["fingerprint"])
        assert version is not None, f"no key for {certificate['certificate_id']}"
        assert crypto.keys_match(store.load_private_key(version), version.certificate)


@pytest.mark.slow
class TestCrashSafety:
    """`certrotor rotate` killed at a fault point, then run again."""

    @pytest.mark.parametrize(("strategy", "fault_point"), FAULTS)
    def test_rotation_survives_sigkill(
        self,
        crash_world: ServiceWorld,
        fork_server: ForkServer,
        tmp_path: Path,
        strategy: str,
        fault_point: str,
    ) -> None:
        """SIGKILL at the fault point, run again: completed, keys kept, no unknown certificate, one upload."""
        world = crash_world
        client_id = world.new_integration()
        world.enrol("app", client_id=client_id, strategy=Strategy(strategy))
        old = world.store.current_version("app")
        assert old is not None
        scratch = tmp_path / "runs"

        with TokenWatch(world, "app") as watch:
            killer = world.env(CERTROTOR_FAULT_POINT=fault_point)
            crashed = fork_server.run(["rotate", "app"], killer, scratch)
            assert crashed.returncode == -signal.SIGKILL, crashed.stderr
            # At the moment of the crash: nothing on NetSuite whose key the store does not hold.
            keys_of_everything_on_netsuite(world, client_id)
            remote = {c["certificate_id"]: c for c in world.remote_certificates(client_id)}
            if strategy == "replace" and fault_point in REPLACE_WINDOW:
                # The window the replace strategy cannot avoid: no certificate can mint a token now.
                assert remote[old.certificate_id]["revoked"]
            resumed = fork_server.run(["rotate", "app"], world.env(), scratch).ok()

        assert "app: " in resumed.stdout
        current = assert_settled(world, "app")
        assert current.id != old.id
        rotations = world.store.rotations("app")
        assert [r.step for r in rotations] == [RotationStep.DONE], rotations
        assert world.uploads(client_id) == 2, "an upload was repeated"
        if fault_point == "after:upload-sent":
            adopted = [e for e in world.store.events("app") if e.action == "adopt"]
            assert [e.detail["certificate_id"] for e in adopted] == [current.certificate_id]
        assert watch.probes > 0
        assert not watch.errors, watch.errors
        if strategy == "overlap":
            assert watch.gaps == 0, f"{watch.gaps} of {watch.probes} probes found no working certificate"
        else:
            # Between revoke and upload no certificate works, by definition of replace; what carries the
            # rotation across is the management token minted by the old certificate before revoking it.
            prefetched = [
                e
                for e in world.store.events("app")
                if e.action == "token-prefetched" and e.detail.get("rotation") == rotations[0].id
            ]
            assert len(prefetched) == 1
            assert world.store.get_credential("app").has_management_token


_RECORD_NUMBERS = itertools.count(1)
"""One record per run: the record emulator serves the whole matrix."""


def record_credential(world: ServiceWorld, records: RecordsAdmin, name: str) -> str:
    """A record credential on a record of its own (the emulator serves the whole matrix); its script ID."""
    record_id = f"_crash{next(_RECORD_NUMBERS)}"
    script_id = str(records.create(record_id=record_id, name=f"crash {name}")["script_id"])
    runtime = world.runtime()
    spec = world.spec(
        name,
        kind=CredentialKind.RECORD,
        auth_mode=AuthMode.TOKEN,
        management_token=world.admin_token,
        record_script_id=script_id,
        record_name=f"crash {name}",
    )
    operations.add_credential(runtime, spec)
    return script_id


def signed_requests_verify(world: ServiceWorld, records: RecordsAdmin, script_id: str, name: str) -> None:
    """A request NetSuite signs with the record's key now is accepted, and that key is kept."""
    store = world.store
    record = records.get(script_id)
    assert record is not None
    vouching = {
        v.fingerprint: v
        for v in record_verifiers(store, store.get_credential(name))
        if v.accepts_at(utcnow())
    }
    assert record["fingerprint_sha256"] in vouching, "the record's key signs requests nobody accepts"
    by_fingerprint = {v.fingerprint_sha256: v for v in store.versions(name)}
    version = by_fingerprint[record["fingerprint_sha256"]]
    assert crypto.keys_match(store.load_private_key(version), version.certificate)


@pytest.mark.slow
class TestRecordCrashSafety:
    """`certrotor rotate` of a certificate record credential killed at a fault point, then run again."""

    @pytest.mark.parametrize("fault_point", RECORD_FAULTS)
    def test_record_rotation_survives_sigkill(
        self, crash_world: ServiceWorld, fork_server: ForkServer, tmp_path: Path, fault_point: str
    ) -> None:
        """SIGKILL at the fault point, run again: completed, the record holds the current, the old retired."""
        world = crash_world
        records = RecordsAdmin(world.emulator)
        script_id = record_credential(world, records, "app")
        first = Rotator(world.runtime(), owner="test:1:setup").rotate("app", RotationTrigger.MANUAL)
        assert first.status == "rotated", first
        old = world.store.current_version("app")
        assert old is not None
        scratch = tmp_path / "runs"

        crashed = fork_server.run(["rotate", "app"], world.env(CERTROTOR_FAULT_POINT=fault_point), scratch)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        # At the moment of the crash: a request NetSuite signs with the record's key is still accepted.
        signed_requests_verify(world, records, script_id, "app")
        resumed = fork_server.run(["rotate", "app"], world.env(), scratch).ok()

        assert "app: " in resumed.stdout
        store = world.store
        assert store.open_rotation("app") is None
        assert [r.step for r in store.rotations("app")] == [RotationStep.DONE, RotationStep.DONE]
        current = store.current_version("app")
        assert current is not None
        assert current.id != old.id
        record = records.get(script_id)
        assert record is not None
        assert record["fingerprint_sha256"] == current.fingerprint_sha256
        # One key pair per rotation, none lost: the first, now retired, and the current one.
        assert [(v.id, v.state) for v in store.versions("app")] == [
            (old.id, VersionState.REVOKED),
            (current.id, VersionState.CURRENT),
        ]
        signed_requests_verify(world, records, script_id, "app")
        retired = [e for e in store.events("app") if e.action == "retire"]
        assert [e.detail["fingerprint"] for e in retired] == [old.fingerprint_sha256]
