"""``certrotor health`` under a wrong master key: it reports, per credential, the key it cannot open."""

from __future__ import annotations

import pytest

from certrotor.emulator.testing import RunningEmulator
from certrotor.keyvault import MasterKey

from .conftest import Cli
from .test_remote import add_credential


class TestHealthWithWrongMasterKey:
    def test_health_is_critical_with_the_fix_instead_of_failing(
        self, cli: Cli, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Keys sealed under one master key and health run under another: CRIT, exit 2, one reason."""
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", MasterKey.generate().to_base64url())
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", MasterKey.generate().to_base64url())
        result = cli("health", "app1", "--json")
        assert result.exit_code == 2
        report = result.json()["credentials"][0]
        assert report["status"] == "CRIT"
        assert any("decrypt" in reason["message"] for reason in report["reasons"]), report

    def test_other_commands_still_refuse_the_wrong_master_key(
        self, cli: Cli, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Only health opens the store without the check; `token` refuses at once with the fix."""
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", MasterKey.generate().to_base64url())
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", MasterKey.generate().to_base64url())
        line = cli("token", "app1").assert_one_line_error()
        assert "master key" in line
