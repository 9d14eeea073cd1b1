"""`certrotor health` as a monitoring plugin, typed as an operator or a Nagios check would."""

from __future__ import annotations

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import enrol_uploaded
from .conftest import Cli

SUMMARY_OK = (
    "CERTROTOR OK - 2 credentials: 2 OK, 0 WARN, 0 CRIT | 'soonest_expiry_days'=30.00 "
    "'expiry_days app1'=30.00 'expiry_days app2'=30.00 ok=2 warn=0 crit=0"
)


@pytest.fixture
def two(cli: Cli, emulator: RunningEmulator) -> RunningEmulator:
    """app1 and app2 on the emulator, each with a current certificate valid 30 days."""
    enrol_uploaded(cli, emulator, ("app1", "app2"))
    return emulator


class TestSummaryAndPerfdata:
    def test_all_ok_is_one_line_with_performance_data(self, cli: Cli, two: RunningEmulator) -> None:
        """Everything OK: the summary line alone, exit 0."""
        result = cli("health")

        assert (result.exit_code, result.stdout.splitlines()) == (0, [SUMMARY_OK])

    def test_verbose_adds_a_line_per_credential(self, cli: Cli, two: RunningEmulator) -> None:
        """`--verbose`: OK credentials get their line too."""
        lines = cli("health", "--verbose").stdout.splitlines()

        assert lines[0] == SUMMARY_OK
        assert [line.split(":")[0] for line in lines[1:]] == ["OK app1", "OK app2"]

    def test_thresholds_on_time_to_expiry(self, cli: Cli, two: RunningEmulator) -> None:
        """`--warn 60d --crit 7d` on 30-day certificates: WARN each, with the threshold and the fix."""
        result = cli("health", "--warn", "60d", "--crit", "7d")

        assert result.exit_code == 1
        lines = result.stdout.splitlines()
        assert lines[0] == (
            "CERTROTOR WARN - 2 credentials: 0 OK, 2 WARN, 0 CRIT | 'soonest_expiry_days'=30.00;60;7 "
            "'expiry_days app1'=30.00;60;7 'expiry_days app2'=30.00;60;7 ok=0 warn=2 crit=0"
        )
        assert lines[2:4] == [
            "  - WARN The current certificate expires in 30.0 days (under --warn 60d).",
            "    fix: certrotor rotate app1",
        ]
        assert lines[1].startswith("WARN app1: Current certificate is valid until ")

    def test_crit_threshold_wins(self, cli: Cli, two: RunningEmulator) -> None:
        """`--crit 31d`: CRIT, exit 2."""
        result = cli("health", "app1", "--warn", "60d", "--crit", "31d")

        assert result.exit_code == 2
        assert result.stdout.splitlines()[0].startswith(
            "CERTROTOR CRIT - 1 credential: 0 OK, 0 WARN, 1 CRIT |"
        )
        assert "  - CRIT The current certificate expires in 30.0 days (under --crit 31d)." in result.stdout

    def test_probe_result_per_credential(self, cli: Cli, two: RunningEmulator) -> None:
        """`--probe --verbose`: each credential says that its certificate obtained a token."""
        lines = cli("health", "--probe", "--verbose").stdout.splitlines()

        assert lines.count("  probe: a token was obtained") == 2

    def test_json_keeps_every_detail(self, cli: Cli, two: RunningEmulator) -> None:
        """`--json`: status, summary, perfdata, and per credential expiry days, probe and reasons."""
        report = cli("health", "--probe", "--json").json()

        assert (report["status"], report["exit_code"]) == ("OK", 0)
        assert report["summary"] == SUMMARY_OK.split(" | ")[0]
        assert report["perfdata"] == SUMMARY_OK.split(" | ")[1]
        first = report["credentials"][0]
        assert first["probe"] == {"ok": True, "error": None}
        assert first["expiry_days"] == pytest.approx(30, abs=0.01)
        assert first["rotation_in_progress"] is None
        assert first["reasons"] == []


class TestUnknown:
    def test_an_unknown_name_is_unknown_exit_3(self, cli: Cli, two: RunningEmulator) -> None:
        """A name the store does not know: UNKNOWN with the fix, exit 3."""
        result = cli("health", "nobody")

        assert (result.exit_code, result.stderr) == (3, "")
        assert result.stdout.splitlines() == [
            "CERTROTOR UNKNOWN - No credential named 'nobody'. Fix: see the names with "
            "`certrotor credential list`."
        ]

    def test_a_database_that_is_down_is_unknown_exit_3(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PostgreSQL not answering: UNKNOWN naming the database, exit 3 (also with --json)."""
        monkeypatch.setenv("CERTROTOR_DATABASE_URL", "postgresql+psycopg://certrotor@127.0.0.1:1/certrotor")

        result = cli("health")
        as_json = cli("health", "--json")

        assert result.exit_code == 3
        assert result.stdout.startswith(
            "CERTROTOR UNKNOWN - Cannot open the database postgresql+psycopg://certrotor@127.0.0.1:1/certrotor"
        )
        assert (as_json.exit_code, as_json.json()["status"]) == (3, "UNKNOWN")
