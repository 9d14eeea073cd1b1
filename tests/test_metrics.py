"""The daemon's Prometheus endpoint: outcomes, passes and each current certificate's expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from certrotor.daemon import Daemon
from certrotor.emulator.testing import RunningEmulator
from certrotor.metrics import DaemonMetrics
from certrotor.services import operations
from services._support import ServiceWorld, running_world


@pytest.fixture
def world(emulator: RunningEmulator, tmp_path: Path) -> Iterator[ServiceWorld]:
    with running_world(emulator, tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def metrics() -> Iterator[DaemonMetrics]:
    served = DaemonMetrics()
    yield served
    served.close()


class TestDaemonMetrics:
    def test_a_pass_that_enrols_a_credential_is_counted_and_its_expiry_published(
        self, world: ServiceWorld, metrics: DaemonMetrics
    ) -> None:
        """After one pass /metrics shows one rotation and the new certificate's expiry time."""
        operations.add_credential(world.runtime(), world.spec("app1", management_token=world.admin_token))
        port = metrics.serve("127.0.0.1", 0)
        runtime = world.runtime()
        Daemon(runtime, interval=0.05, metrics=metrics, reconcile_on_start=False).run(max_ticks=1)
        text = httpx2.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'certrotor_rotations_total{status="rotated"} 1.0' in text
        assert "certrotor_daemon_passes_total 1.0" in text
        current = runtime.store.current_version("app1")
        assert current is not None
        gauge = "certrotor_certificate_expiry_timestamp_seconds{"
        line = next(row for row in text.splitlines() if row.startswith(gauge))
        published = dt.datetime.fromtimestamp(float(line.split()[-1]), dt.UTC)
        assert abs(published - current.not_after) < dt.timedelta(seconds=1)

    def test_a_credential_without_a_certificate_has_no_expiry_sample(self, metrics: DaemonMetrics) -> None:
        """Removing a sample that was never set is harmless."""
        metrics.observe_current("never", None)
        assert "never" not in str([m.samples for m in metrics.expiry.collect()])

    def test_an_observation_publishes_health_remote_state_and_age(
        self, world: ServiceWorld, metrics: DaemonMetrics
    ) -> None:
        """A daemon pass observes: health 0, remote state active, an observation age at scrape time."""
        world.enrol("app1")
        port = metrics.serve("127.0.0.1", 0)
        Daemon(world.runtime(), interval=0.05, metrics=metrics, reconcile_on_start=False).run(max_ticks=1)
        text = httpx2.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'certrotor_health_status{credential="app1"} 0.0' in text
        assert 'certrotor_remote_state{credential="app1",state="active"} 1.0' in text
        assert 'certrotor_remote_state{credential="app1",state="revoked"} 0.0' in text
        sample = 'certrotor_observation_age_seconds{credential="app1"}'
        age = next(row for row in text.splitlines() if row.startswith(sample))
        assert float(age.split()[-1]) >= 0
