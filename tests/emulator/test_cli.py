"""``certrotor emulator init|serve``: JSON contract, idempotent init, one-line errors, a real server."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from certrotor.emulator.cli import emulator_app

runner = CliRunner()
SERVE = "from certrotor.emulator.cli import emulator_app; emulator_app(prog_name='certrotor emulator')"


class TestInit:
    def test_json_contract(self, tmp_path: Path) -> None:
        """init --json prints account_id, client_id, entity_id, role_id and admin_token."""
        result = runner.invoke(emulator_app, ["init", "--state", str(tmp_path / "e.db"), "--json"])
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert {"account_id", "client_id", "entity_id", "role_id", "admin_token"} <= set(document)
        assert (document["entity_id"], document["role_id"]) == (7, 3)

    def test_reinit_prints_the_existing_tenant(self, tmp_path: Path) -> None:
        """A second init prints the same tenant (nothing recreated or lost)."""
        args = ["init", "--state", str(tmp_path / "e.db"), "--json"]
        first = json.loads(runner.invoke(emulator_app, args).stdout)
        second = json.loads(runner.invoke(emulator_app, args).stdout)
        assert first == second

    def test_human_form(self, tmp_path: Path) -> None:
        """Without --json init prints labelled lines."""
        result = runner.invoke(emulator_app, ["init", "--state", str(tmp_path / "e.db")])
        assert result.exit_code == 0
        assert "Account ID:     TSTDRV1234567" in result.stdout
        assert "Client ID:" in result.stdout

    @pytest.mark.parametrize(
        ("state", "message"),
        [
            pytest.param("missing/e.db", "does not exist", id="missing directory"),
            pytest.param("notes.txt", "is not an emulator state", id="foreign file"),
        ],
    )
    def test_errors_are_one_line(self, tmp_path: Path, state: str, message: str) -> None:
        """Bad state paths give one `Error:` line with the fix, exit 1, no traceback."""
        (tmp_path / "notes.txt").write_text("not a database")
        result = runner.invoke(emulator_app, ["init", "--state", str(tmp_path / state)])
        assert result.exit_code == 1
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("Error: ")
        assert message in lines[0]
        assert "Fix:" in lines[0]


class TestServeErrors:
    def test_missing_state_file(self, tmp_path: Path) -> None:
        """serve on a state file that does not exist says to run init first."""
        result = runner.invoke(emulator_app, ["serve", "--state", str(tmp_path / "e.db"), "--port", "0"])
        assert result.exit_code == 1
        assert "run `certrotor emulator init --state" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

    def test_port_in_use(self, tmp_path: Path) -> None:
        """serve on a busy port gives a one-line error with the fix."""
        runner.invoke(emulator_app, ["init", "--state", str(tmp_path / "e.db")])
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = runner.invoke(
                emulator_app, ["serve", "--state", str(tmp_path / "e.db"), "--port", str(port)]
            )
        assert result.exit_code == 1
        assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "choose another --port" in result.stderr

    def test_fault_rates_that_do_not_fit(self, tmp_path: Path) -> None:
        """Fault rates adding up to more than 1 are refused in one line."""
        runner.invoke(emulator_app, ["init", "--state", str(tmp_path / "e.db")])
        args = ["serve", "--state", str(tmp_path / "e.db"), "--error-rate", "0.6", "--drop-rate", "0.6"]
        result = runner.invoke(emulator_app, args)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: ")
        assert "add up to at most 1" in result.stderr


class TestServe:
    def test_serves_until_interrupted(self, tmp_path: Path) -> None:
        """serve runs a real server on the given loopback port and exits cleanly on Ctrl-C."""
        state = tmp_path / "e.db"
        tenant = json.loads(runner.invoke(emulator_app, ["init", "--state", str(state), "--json"]).stdout)
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                "serve",
                "--state",
                str(state),
                "--port",
                "0",
                "--log-level",
                "warning",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            banner = process.stderr.readline()
            assert tenant["client_id"] in banner
            base_url = banner.split(" on ", 1)[1].split(" ", 1)[0]
            assert base_url.startswith("http://127.0.0.1:")
            headers = {"Authorization": f"Bearer {tenant['admin_token']}"}
            url = f"{base_url}/services/rest/auth/oauth2/v1/clients/{tenant['client_id']}/certificates"
            assert httpx2.get(url, headers=headers, timeout=10).json() == []
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
            if process.stderr is not None:
                process.stderr.close()

    def test_serves_netsuite_as_seen_in_production(self, tmp_path: Path) -> None:
        """--plain-text-errors, --oracle-content-type and --limit-error-code reach the served config."""
        state = tmp_path / "e.db"
        tenant = json.loads(runner.invoke(emulator_app, ["init", "--state", str(state), "--json"]).stdout)
        options = ["--plain-text-errors", "--oracle-content-type", "--limit-error-code", "LIMIT_X"]
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--state", str(state), "--port", "0", *options],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            base_url = process.stderr.readline().split(" on ", 1)[1].split(" ", 1)[0]
            config = httpx2.get(f"{base_url}/_emulator/config", timeout=10).json()
            assert (config["plain_text_errors"], config["oracle_content_type"]) == (True, True)
            assert config["limit_error_code"] == "LIMIT_X"
            url = f"{base_url}/services/rest/auth/oauth2/v1/clients/{tenant['client_id']}/certificates"
            refused = httpx2.get(url, headers={"Authorization": "Bearer forged"}, timeout=10)
            assert refused.headers["content-type"].startswith("text/plain")
            listed = httpx2.get(url, headers={"Authorization": f"Bearer {tenant['admin_token']}"}, timeout=10)
            assert listed.headers["content-type"] == "application/vnd.oracle.resource+json"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
            if process.stderr is not None:
                process.stderr.close()
