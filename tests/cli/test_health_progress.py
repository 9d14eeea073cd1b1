"""`certrotor health` over several credentials: a transient bar on a terminal's stderr while NetSuite is
asked, removed before the summary; on a pipe or with --json the output is the plugin's alone."""

from __future__ import annotations

import datetime as dt
import json
import re
from itertools import groupby
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import ANSI, enrol_uploaded, run_in_terminal, run_process
from .conftest import Cli

NAMES = ("app1", "app2", "app3")
SUMMARY = (
    "CERTROTOR OK - 3 credentials: 3 OK, 0 WARN, 0 CRIT | 'soonest_expiry_days'=30.00 "
    "'expiry_days app1'=30.00 'expiry_days app2'=30.00 'expiry_days app3'=30.00 ok=3 warn=0 crit=0"
)
BAR = re.compile(r"^checking ?(app\d)? +[━╸╺]* *(\d)/3 0:00:\d\d$")
ERASE_LINE = "\x1b[2K"


@pytest.fixture
def three(cli: Cli, emulator: RunningEmulator) -> list[str]:
    """app1, app2 and app3 on the emulator (one integration), each with a certificate valid 30 days."""
    enrol_uploaded(cli, emulator, NAMES)
    return list(NAMES)


def verbose_lines(cli: Cli) -> list[str]:
    """`health --verbose` for the three: the summary, then one OK line per credential."""
    reports = cli("health", "--offline", "--json").json()["credentials"]
    lines = [SUMMARY]
    for report in reports:
        until = dt.datetime.fromisoformat(report["expires_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"OK {report['name']}: Current certificate is valid until {until}")
    return lines


def frames(lines: list[str]) -> list[tuple[str | None, str]]:
    """Each distinct bar state in the order drawn: (credential named, done)."""
    found = [match.groups() for line in lines if (match := BAR.match(line))]
    return [state for state, _ in groupby(found)]


class TestOnATerminal:
    def test_the_bar_names_the_credential_waited_for_and_is_gone_before_the_summary(
        self, three: list[str], cli: Cli, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`health --verbose` on a terminal: the bar (credential, done/total, elapsed) drawn while the
        checks run, erased, then exactly the plugin's lines."""
        run = run_in_terminal(["health", "--verbose"], cli_env, tmp_path)

        assert run.exit_code == 0, run.screen
        drawn, summary, printed = run.terminal.partition(SUMMARY)
        assert summary, run.screen
        bar_lines = [line.rstrip() for line in re.split(r"\r\n|\r|\n", ANSI.sub("", drawn)) if line.strip()]
        assert all(BAR.match(line) for line in bar_lines), bar_lines
        assert frames(bar_lines) == [(None, "0"), ("app1", "0"), ("app2", "1"), ("app3", "2"), ("app3", "3")]
        assert drawn.endswith(ERASE_LINE), repr(drawn[-40:])  # transient: removed before the summary
        assert [SUMMARY, *ANSI.sub("", printed).split("\r\n")[1:-1]] == verbose_lines(cli)

    def test_stdout_on_a_pipe_gets_no_bar_even_with_stderr_on_a_terminal(
        self, three: list[str], cli: Cli, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`health --verbose | cat` typed in a terminal: the plugin's lines on the pipe, nothing on
        the terminal."""
        run = run_in_terminal(["health", "--verbose"], cli_env, tmp_path, pipe_stdout=True)

        assert (run.exit_code, run.terminal) == (0, "")
        assert run.stdout.splitlines() == verbose_lines(cli)

    def test_json_on_a_terminal_is_only_json(
        self, three: list[str], cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`health --json` on a terminal: the JSON document, no bar."""
        run = run_in_terminal(["health", "--json"], cli_env, tmp_path)

        assert run.exit_code == 0
        assert "checking" not in run.terminal
        report = json.loads(ANSI.sub("", run.terminal))
        assert (report["status"], [c["name"] for c in report["credentials"]]) == ("OK", three)


class TestOnPipes:
    def test_a_monitoring_run_gets_the_plugin_output_alone(
        self, three: list[str], cli: Cli, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`health` as Nagios runs it (both streams piped): the summary line alone, stderr empty."""
        result = run_process(["health"], env=cli_env, cwd=tmp_path).assert_ok()

        assert (result.stdout.splitlines(), result.stderr) == ([SUMMARY], "")

    def test_json_on_a_pipe_has_no_progress(
        self, three: list[str], cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """`health --json | jq`: a document that parses whole, stderr empty."""
        result = run_process(["health", "--json"], env=cli_env, cwd=tmp_path).assert_ok()

        assert json.loads(result.stdout)["summary"] == SUMMARY.split(" | ")[0]
        assert result.stderr == ""
