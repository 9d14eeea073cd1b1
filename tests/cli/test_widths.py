"""Table widths as typed in a terminal and in a pipe: COLUMNS honoured, certificate IDs never cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import run_process
from .conftest import Cli


@pytest.fixture
def uploaded(cli: Cli, emulator: RunningEmulator) -> str:
    """Credential app1 on the emulator with its first certificate uploaded; that certificate's ID."""
    tenant = emulator.tenant
    cli(
        "credential", "add", "app1",
        "--account", tenant.account_id,
        "--client-id", tenant.client_id,
        "--entity", str(tenant.entity_id),
        "--role", str(tenant.role_id),
        "--base-url", emulator.base_url,
        "--token", tenant.admin_token,
    ).assert_ok()  # fmt: skip
    cli("upload", "app1").assert_ok()
    return str(cli("list", "app1", "--json").assert_ok().json()[0]["certificate_id"])


NATURAL_WIDTH = 152
"""What `list` needs for one row per certificate with nothing wrapped."""


class TestTableWidths:
    @pytest.mark.parametrize("columns", [60, 100, 200])
    def test_list_honours_columns_and_keeps_the_id_whole(
        self, cli: Cli, uploaded: str, columns: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`COLUMNS=N certrotor list app1`: the ID on one line, whole; no line wider than needed."""
        monkeypatch.setenv("COLUMNS", str(columns))

        lines = cli("list", "app1").assert_ok().stdout.splitlines()

        assert any(f"│ {uploaded} │" in line for line in lines)
        assert "…" not in "".join(lines)
        # The ID (43 characters), seven wrapped columns of at least 4 and the borders need 96.
        assert {len(line) for line in lines} == {min(max(columns, 96), NATURAL_WIDTH)}

    def test_a_pipe_without_columns_gets_80_and_the_id_whole(
        self, uploaded: str, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`certrotor list app1 | cat`: Rich's 80 columns, grown only to keep the ID whole."""
        env = {key: value for key, value in cli_env.items() if key != "COLUMNS"}

        result = run_process(["list", "app1"], env=env, cwd=tmp_path).assert_ok()

        lines = result.stdout.splitlines()
        assert any(f"│ {uploaded} │" in line for line in lines)
        assert {len(line) for line in lines} == {96}

    def test_credential_list_keeps_the_current_certificate_id_whole(
        self, cli: Cli, uploaded: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`credential list` in a 70-column terminal: the current certificate's ID on one line, whole."""
        monkeypatch.setenv("COLUMNS", "70")

        lines = cli("credential", "list").assert_ok().stdout.splitlines()

        assert any(f"│ {uploaded} │" in line for line in lines)

    def test_events_keep_the_certificate_id_whole(
        self, cli: Cli, uploaded: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`events app1` in a 100-column terminal: the upload's certificate ID whole on its line."""
        monkeypatch.setenv("COLUMNS", "100")

        table = cli("events", "app1").assert_ok().stdout

        assert uploaded in table
        assert "…" not in table
