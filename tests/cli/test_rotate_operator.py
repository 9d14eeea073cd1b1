"""`certrotor rotate` as an operator meets it: a grace period cut short, Ctrl-C, progress on a terminal."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import (
    PROCESS_TIMEOUT_SECONDS,
    certrotor_command,
    run_in_terminal,
    run_process,
    store_snapshot,
)
from .conftest import Cli

_TIME = "%Y-%m-%d %H:%M:%S UTC"


def add(cli: Cli, emulator: RunningEmulator, name: str, *extra: str) -> None:
    """``credential add NAME`` on the emulator, with its own integration combination after the first."""
    tenant = emulator.tenant
    entity, role = (tenant.entity_id, tenant.role_id) if name == "app1" else emulator.add_m2m_combination()
    cli(
        "credential", "add", name,
        "--account", tenant.account_id,
        "--client-id", tenant.client_id,
        "--entity", str(entity),
        "--role", str(role),
        "--base-url", emulator.base_url,
        "--token", tenant.admin_token,
        "--strategy", "overlap",
        *extra,
    ).assert_ok()  # fmt: skip


def retire_time(message: str) -> str:
    """``retires the previous certificate after T UTC`` -> ``T UTC``."""
    found = re.search(r"after (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)", message)
    assert found, message
    return found.group(1)


def open_step(data_dir: Path, name: str) -> str | None:
    """The step of NAME's unfinished rotation, read from the SQLite store as it is now."""
    database = data_dir / "certrotor.db"
    if not database.exists():
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        row = connection.execute(
            "SELECT r.step FROM rotations r JOIN credentials c ON c.id = r.credential_fk "
            "WHERE c.name = ? AND r.finished_at IS NULL",
            (name,),
        ).fetchone()
    return None if row is None else str(row[0])


class TestSecondRotationWithinGrace:
    def test_dry_run_says_it_and_rotate_needs_force(self, cli: Cli, emulator: RunningEmulator) -> None:
        """In the grace period: --dry-run warns, `rotate` refuses in one line, `--force` rotates."""
        add(cli, emulator, "app1")
        cli("rotate", "app1").assert_ok()
        second = cli("rotate", "app1", "--json").assert_ok().json()[0]
        previous, until = second["old_certificate_id"], retire_time(second["message"])

        plan = cli("rotate", "app1", "--dry-run").assert_ok()
        refused = cli("rotate", "app1")

        assert plan.stdout.splitlines() == [
            f"would rotate app1 (overlap): not due until {until.removesuffix(' UTC')} UTC",
            f"  it would cut the grace period short: the previous certificate {previous} would be revoked "
            f"now instead of after {until}, while consumers may still use it",
        ]
        refused.assert_one_line_error(
            f"error: Rotating app1 now would cut the grace period short: the previous certificate "
            f"{previous} would be revoked now instead of after {until}, while consumers may still use it. "
            f"Fix: wait until {until}, or run `certrotor rotate app1 --force` once nothing uses "
            f"{previous} any more."
        )
        forced = cli("rotate", "app1", "--force", "--json").assert_ok().json()[0]
        assert forced["status"] == "rotated"
        listed = {c["certificate_id"]: c["revoked"] for c in cli("list", "app1", "--json").json()}
        assert listed[previous] is True

    def test_the_refusal_changes_nothing(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str]
    ) -> None:
        """The refused `rotate` leaves credentials, versions, journal and audit as they were (it only
        records what it observed on NetSuite, as `health` does)."""
        add(cli, emulator, "app1")
        cli("rotate", "app1").assert_ok()
        cli("rotate", "app1").assert_ok()
        before = store_snapshot(Path(cli_env["CERTROTOR_DATA_DIR"]))

        cli("rotate", "app1").assert_one_line_error()

        after = store_snapshot(Path(cli_env["CERTROTOR_DATA_DIR"]))
        changed = {name for name, rows in after["tables"].items() if before["tables"].get(name) != rows}
        assert changed <= {"observations"}
        assert after["files"] == before["files"]


class TestCtrlC:
    def test_one_line_naming_the_step_exit_130_and_rotate_resumes(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """Ctrl-C while NetSuite is slow in `verify`: one line with the resume command, exit 130; health
        shows the rotation in progress with its step; `rotate` resumes it."""
        add(cli, emulator, "app1", "--grace", "0s")
        cli("rotate", "app1").assert_ok()
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        emulator.set_faults(slow_seconds=2.0, slow_rate=1.0)
        process = subprocess.Popen(
            [*certrotor_command(), "rotate", "app1"],
            env=cli_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
        while open_step(data_dir, "app1") != "verify":
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the rotation did not reach verify"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
        finally:
            process.kill()
            emulator.clear_faults()

        assert process.returncode == 130
        assert stderr.splitlines() == [
            "Interrupted: the rotation of app1 stopped in step verify; "
            "it resumes with `certrotor rotate app1`."
        ]
        assert open_step(data_dir, "app1") == "verify"
        health = cli("health", "app1", "--offline").stdout.splitlines()
        assert health[1].startswith("OK app1: Current certificate is valid until ")
        assert health[2] == (
            "  rotation in progress, stopped in step verify: `certrotor rotate app1` resumes it (or the "
            "daemon does)"
        )
        resumed = cli("rotate", "app1").assert_ok()
        assert resumed.stdout.startswith("app1: rotated new certificate ")


class TestProgress:
    @pytest.fixture
    def three(self, cli: Cli, emulator: RunningEmulator) -> list[str]:
        for name in ("app1", "app2", "app3"):
            add(cli, emulator, name)
        return ["app1", "app2", "app3"]

    def test_a_terminal_shows_the_bar_and_each_outcome_as_it_happens(
        self, three: list[str], cli: Cli, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`rotate --all` on a terminal: a bar naming the credential with done/total and elapsed time,
        and each outcome line as it happens."""
        run = run_in_terminal(["rotate", "--all"], cli_env, tmp_path)
        code, screen = run.exit_code, run.screen

        assert code == 0, screen
        current = {c["name"]: c["current_certificate_id"] for c in cli("credential", "list", "--json").json()}
        outcomes = [line for line in screen if line.startswith("app")]
        assert outcomes == [f"{name}: rotated new certificate {current[name]}" for name in three]
        bar = re.compile(r"^rotating (app\d) +[━╸╺]* *(\d)/3 0:00:\d\d$")
        frames = [found.groups() for line in screen if (found := bar.match(line))]
        assert set(frames) >= {("app1", "0"), ("app2", "1"), ("app3", "2")}
        # Each outcome appears before the bar moves on to the next credential.
        assert screen.index(outcomes[0]) < max(i for i, line in enumerate(screen) if "rotating app2" in line)

    def test_a_pipe_gets_the_outcome_lines_only(
        self, three: list[str], cli: Cli, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`rotate --all | cat`: exactly one line per credential, no bar."""
        result = run_process(["rotate", "--all"], env=cli_env, cwd=tmp_path).assert_ok()

        current = {c["name"]: c["current_certificate_id"] for c in cli("credential", "list", "--json").json()}
        expected = [f"{name}: rotated new certificate {current[name]}" for name in three]
        assert result.stdout.splitlines() == expected
        assert result.stderr == ""

    def test_json_on_a_terminal_is_only_json(
        self, three: list[str], cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`rotate --all --json` on a terminal: the JSON document and no bar."""
        run = run_in_terminal(["rotate", "--all", "--json"], cli_env, tmp_path)
        code, screen = run.exit_code, run.screen

        assert code == 0
        outcomes = json.loads("\n".join(screen))
        assert [o["credential"] for o in outcomes] == three
