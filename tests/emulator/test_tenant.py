"""The demo tenant: created once, returned unchanged on re-init, token hidden from repr."""

from __future__ import annotations

from pathlib import Path

from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import DEMO_ACCOUNT_ID, init_demo


class TestInitDemo:
    def test_creates_the_seed_like_tenant(self, tmp_path: Path) -> None:
        """Account, company, entity 7 and Administrator role 3, mapped, with a management token."""
        tenant = init_demo(tmp_path / "e.db")
        assert (tenant.account_id, tenant.company_id) == (DEMO_ACCOUNT_ID, "4030059")
        assert (tenant.entity_id, tenant.role_id) == (7, 3)
        assert tenant.application_id == tenant.application_id.upper()
        assert tenant.admin_token.count(".") == 2

    def test_repr_hides_the_token(self, tmp_path: Path) -> None:
        """Neither repr nor str shows the admin token."""
        tenant = init_demo(tmp_path / "e.db")
        assert tenant.admin_token not in repr(tenant)
        assert tenant.admin_token not in str(tenant)

    def test_reinit_returns_the_same_tenant_and_keeps_data(self, tmp_path: Path) -> None:
        """A second init returns the first tenant and destroys nothing."""
        path = tmp_path / "e.db"
        first = init_demo(path)
        state = EmulatorState.open(path)
        try:
            state.counters.increment("uploads", first.client_id)
        finally:
            state.close()
        assert init_demo(path) == first
        state = EmulatorState.open(path)
        try:
            assert state.counters.all()["uploads"] == {first.client_id: 1}
        finally:
            state.close()

    def test_json_has_the_cli_contract_keys(self, tmp_path: Path) -> None:
        """to_json carries at least account_id, client_id, entity_id, role_id and admin_token."""
        document = init_demo(tmp_path / "e.db").to_json()
        assert {"account_id", "client_id", "entity_id", "role_id", "admin_token"} <= set(document)
