"""Rotations under injected faults: 5xx, 429 with Retry-After, slow answers, dropped connections, and
answers lost after NetSuite stored an upload or a revocation. Fifty rotations finish; none uploads twice.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from certrotor.services.rotation import RotationOutcome, Rotator
from certrotor.store import RotationStep, RotationTrigger, Strategy

from .._support import ServiceWorld, assert_settled

CREDENTIALS = 10
ROUNDS = 5
ATTEMPTS_PER_ROTATION = 40
"""Bound on resumes of one rotation (deferred after a fault); the loop always ends."""

FAULTS = {
    "error_rate": 0.06,
    "rate_limit_rate": 0.04,
    "retry_after_seconds": 1,
    "drop_rate": 0.04,
    "slow_seconds": 0.05,
    "slow_rate": 0.1,
    "after_commit_error_rate": 0.2,
    "after_commit_drop_rate": 0.2,
    "fault_seed": 20240611,
}


def rotate_until_done(rotator: Rotator, name: str) -> list[RotationOutcome]:
    """One completed rotation of ``name``, resuming it after every deferral; every outcome on the way."""
    outcomes = [rotator.rotate(name, RotationTrigger.MANUAL)]
    for _ in range(ATTEMPTS_PER_ROTATION):
        last = outcomes[-1]
        if last.status in {"rotated", "retired"}:
            return outcomes
        # "failed" closed the rotation (its certificate is revoked): start another; otherwise resume.
        trigger = RotationTrigger.MANUAL if last.status == "failed" else RotationTrigger.SCHEDULE
        outcomes.append(rotator.rotate(name, trigger))
    raise AssertionError(f"{name} did not finish a rotation: {[o.status for o in outcomes]}")


@pytest.mark.slow
class TestFaultInjection:
    """Faults on every endpoint certrotor calls, at rates that make every kind happen many times."""

    def test_fifty_rotations_under_faults_upload_each_certificate_once(self, world: ServiceWorld) -> None:
        """Every rotation completes; every certificate on NetSuite is current or revoked and known here."""
        names = [f"svc{index}" for index in range(CREDENTIALS)]
        clients = {name: world.new_integration() for name in names}
        for name in names:
            world.enrol(name, client_id=clients[name], strategy=Strategy.OVERLAP)
        world.emulator.set_faults(**FAULTS)

        def rounds_of(name: str) -> list[RotationOutcome]:
            rotator = Rotator(runtimes[name], owner=f"test:1:{name}", actor="test", rng=random.Random(name))
            outcomes: list[RotationOutcome] = []
            for _ in range(ROUNDS):
                outcomes += rotate_until_done(rotator, name)
            return outcomes

        # One runtime (and store connection pool) per worker: a runtime opens its store lazily.
        runtimes = {name: world.runtime() for name in names}
        for runtime in runtimes.values():
            assert runtime.store is not None

        with ThreadPoolExecutor(max_workers=5) as pool:
            outcomes = dict(zip(names, pool.map(rounds_of, names), strict=True))
        world.emulator.clear_faults()

        counters = world.emulator.counters()
        injected = counters["faults"]
        for kind in ("error", "rate_limit", "drop", "slow", "after_commit_error", "after_commit_drop"):
            assert injected.get(kind, 0) > 0, f"no {kind} fault was injected: {injected}"
        deferred = sum(o.status == "deferred" for results in outcomes.values() for o in results)
        assert deferred > 0, "the faults never deferred a rotation"

        adopted = 0
        for name in names:
            assert_settled(world, name)
            rotations = world.store.rotations(name, limit=100)
            done = [r for r in rotations if r.step is RotationStep.DONE]
            assert len(done) == ROUNDS
            versions = [v for v in world.store.versions(name) if v.certificate_id]
            # One upload per version that reached NetSuite: none was uploaded twice or left behind.
            assert world.uploads(clients[name]) == len(versions)
            assert len(world.remote_certificates(clients[name])) == len(versions)
            adopted += sum(e.action == "adopt" for e in world.store.events(name, limit=1000))
        assert adopted > 0, "no upload lost its answer, so adoption was never exercised"
