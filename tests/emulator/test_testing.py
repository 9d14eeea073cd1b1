"""The in-process test server: loopback, free port, demo tenant, clean stop, persistent state."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx2

from certrotor.emulator.testing import RunningEmulator, serve_emulator

from ._support import make_certificate, open_caller


class TestServeEmulator:
    def test_serves_on_loopback_and_stops(self, tmp_path: Path) -> None:
        """The server answers on 127.0.0.1 while open and no longer after the block."""
        with serve_emulator(tmp_path / "e.db") as emulator:
            assert emulator.base_url.startswith("http://127.0.0.1:")
            assert httpx2.get(emulator.base_url + "/_emulator/health").json() == {"status": "ok"}
            port = int(emulator.base_url.rsplit(":", 1)[1])
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0

    def test_two_emulators_side_by_side(self, tmp_path: Path) -> None:
        """Two emulators in one process have their own ports and tenants, and refuse each other's tokens."""
        with serve_emulator(tmp_path / "a.db") as first, serve_emulator(tmp_path / "b.db") as second:
            assert first.base_url != second.base_url
            assert first.tenant.client_id != second.tenant.client_id
            with open_caller(second) as caller:
                assert caller.record(first.tenant.admin_token).status_code == 401
                assert caller.record(second.tenant.admin_token).status_code == 200

    def test_state_survives_a_restart(self, tmp_path: Path) -> None:
        """Serving the same state file again finds the tenant and its certificates."""
        with serve_emulator(tmp_path / "e.db") as emulator, open_caller(emulator) as caller:
            caller.upload_ok()
            tenant = emulator.tenant
        with serve_emulator(tmp_path / "e.db") as emulator:
            assert emulator.tenant == tenant
            assert len(emulator.certificates()) == 1

    def test_add_m2m_combination_is_usable(self, emulator: RunningEmulator) -> None:
        """add_m2m_combination returns a new mapped (entity, role): an upload for it succeeds."""
        entity_id, role_id = emulator.add_m2m_combination()
        assert (entity_id, role_id) != (emulator.tenant.entity_id, emulator.tenant.role_id)
        with open_caller(emulator) as caller:
            _key, pem = make_certificate()
            assert caller.upload(pem, entity=entity_id, role=role_id).status_code == 200

    def test_fixture_from_the_shared_conftest(self, emulator: RunningEmulator) -> None:
        """The shared `emulator` fixture is a running emulator with a demo tenant."""
        assert emulator.counters()["faults_total"] == 0
        assert emulator.endpoints.token_url == emulator.base_url + "/services/rest/auth/oauth2/v1/token"
