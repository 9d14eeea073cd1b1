"""The command line as a whole: version, --debug tracebacks, usage and settings errors, dry runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from certrotor import __version__
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import InputError

from ._support import SecretWatch, run_process, store_snapshot
from .conftest import Cli

COMMANDS = ("keygen", "cert", "credential", "upload", "list", "revoke", "token", "login", "rotate")
COMMANDS += ("health", "events", "daemon", "emulator", "demo")
MISSING = "error: Cannot read missing.pem: No such file or directory. Fix: give the path of a PEM file."


class TestVersionAndHelp:
    def test_version(self, cli: Cli) -> None:
        """`certrotor --version` prints the package version and exits 0."""
        assert cli("--version").assert_ok().stdout == f"certrotor {__version__}\n"

    def test_python_dash_m_runs_the_same_command(
        self, cli_env: dict[str, str], tmp_path: Path, secret_watch: SecretWatch
    ) -> None:
        """`python -m certrotor` is the console script's twin."""
        result = run_process(
            ["--version"],
            env=cli_env,
            cwd=tmp_path,
            watch=secret_watch,
            command=[sys.executable, "-m", "certrotor"],
        )
        assert result.assert_ok().stdout == f"certrotor {__version__}\n"

    def test_help_lists_every_command(self, cli: Cli) -> None:
        """`--help` names each command of the seed's manual steps and the service."""
        shown = cli("--help").assert_ok().stdout
        for command in COMMANDS:
            assert f" {command} " in shown, command


class TestDebug:
    def test_without_debug_one_line_and_no_traceback(self, cli: Cli) -> None:
        """An error is one line with the fix and exit code 1."""
        cli("cert", "inspect", "missing.pem").assert_one_line_error(MISSING)

    def test_debug_raises_in_process(self, cli: Cli) -> None:
        """With --debug the certrotor error itself propagates out of main()."""
        with pytest.raises(InputError, match=r"Cannot read missing\.pem"):
            cli("--debug", "cert", "inspect", "missing.pem")

    def test_debug_prints_a_traceback(
        self, cli_env: dict[str, str], tmp_path: Path, secret_watch: SecretWatch
    ) -> None:
        """A real `certrotor --debug` process shows the Python traceback (and still exits 1)."""
        result = run_process(
            ["--debug", "cert", "inspect", "missing.pem"], env=cli_env, cwd=tmp_path, watch=secret_watch
        )
        assert result.exit_code == 1
        assert result.stderr.startswith("Traceback (most recent call last):")
        assert result.stderr.rstrip().endswith(
            f"certrotor.errors.InputError: {MISSING.removeprefix('error: ')}"
        )

    def test_debug_after_the_command_is_not_a_debug_switch(self, cli: Cli) -> None:
        """Only a root option turns debugging on: `revoke app1 --debug` must not, it is an argument."""
        result = cli("cert", "inspect", "--debug")
        assert result.exit_code == 2
        assert result.stderr == "error: No such option: --debug. Fix: see `certrotor cert inspect --help`.\n"


USAGE_ERRORS = {
    "missing-option": (
        ["credential", "add", "x"],
        "error: Missing option '--account'. Fix: see `certrotor credential add --help`.",
    ),
    "not-an-integer": (
        ["keygen", "--validity-days", "many"],
        "error: Invalid value for '--validity-days': Input should be a valid integer, unable to parse "
        "string as an integer. Fix: see `certrotor keygen --help`.",
    ),
    "unknown-command": (["nonsense"], "error: No such command 'nonsense'. Fix: see `certrotor --help`."),
    "typo": (
        ["tokn", "app1"],
        "error: No such command 'tokn'. Did you mean 'token'? Fix: see `certrotor --help`.",
    ),
    "missing-name": (["list"], "error: Missing argument 'NAME'. Fix: see `certrotor list --help`."),
    "missing-cert-id": (
        ["revoke", "app1"],
        "error: Missing argument 'CERT_ID'. Fix: see `certrotor revoke --help`.",
    ),
}


class TestUsageErrors:
    @pytest.mark.parametrize(("args", "line"), USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
    def test_one_line_with_the_help_command_and_exit_2(self, cli: Cli, args: list[str], line: str) -> None:
        """Click's usage errors become one line naming the command's --help, exit code 2."""
        result = cli(*args)
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == line + "\n"

    def test_no_arguments_shows_the_help(self, cli: Cli) -> None:
        """`certrotor` alone prints the usage, as Click does, with exit code 2."""
        result = cli()
        assert result.exit_code == 2
        assert "Usage: certrotor [OPTIONS] COMMAND [ARGS]..." in result.stdout + result.stderr


BAD_SETTINGS = {
    "timeout": (
        "CERTROTOR_HTTP_TIMEOUT_SECONDS",
        "soon",
        "error: The setting CERTROTOR_HTTP_TIMEOUT_SECONDS is invalid: Input should be a valid number, "
        "unable to parse string as a number. Fix: correct it in the environment or in the config file "
        "named by CERTROTOR_CONFIG.",
    ),
    "master-key": (
        "CERTROTOR_MASTER_KEY",
        "c2hvcnQ",
        "error: The master key decodes to 5 bytes, not 32. "
        "Fix: set CERTROTOR_MASTER_KEY to the base64url form of 32 random bytes.",
    ),
    "database-url": (
        "CERTROTOR_DATABASE_URL",
        "nonsense",
        "error: The database URL cannot be parsed. "
        "Fix: set CERTROTOR_DATABASE_URL to sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
    ),
    "log-level": (
        "CERTROTOR_LOG_LEVEL",
        "loud",
        "error: The setting CERTROTOR_LOG_LEVEL is invalid: unknown log level 'loud'; choose one of: "
        "debug, info, warning, error, critical. Fix: correct it in the environment or in the config "
        "file named by CERTROTOR_CONFIG.",
    ),
}


class TestSettingsErrors:
    @pytest.mark.parametrize(("variable", "value", "line"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
    def test_bad_setting_is_one_line(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
    ) -> None:
        """A bad environment variable is named with the fix, never echoed (it may be a secret)."""
        monkeypatch.setenv(variable, value)
        cli("credential", "list").assert_one_line_error(line)

    def test_broken_config_file_is_one_line(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A config file that is not TOML is named, with where it breaks."""
        config = tmp_path / "broken.toml"
        config.write_text("data_dir = \n")
        monkeypatch.setenv("CERTROTOR_CONFIG", str(config))
        line = cli("credential", "list").assert_one_line_error()
        assert line.startswith(f"error: The config file {config} is not valid TOML: ")
        assert line.endswith("Fix: fix the file, or point CERTROTOR_CONFIG at another one.")

    def test_data_dir_that_is_a_file_is_one_line(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A data directory that is really a file: the OS's reason and what to check, no traceback."""
        (tmp_path / "plain-file").write_text("")
        monkeypatch.setenv("CERTROTOR_DATA_DIR", str(tmp_path / "plain-file"))
        line = cli("credential", "list").assert_one_line_error()
        assert line.startswith(f"error: Not a directory: {tmp_path / 'plain-file'}")
        assert line.endswith("(see CERTROTOR_DATA_DIR).")


class TestRotateDryRun:
    def test_dry_run_prints_the_plan_and_changes_nothing(
        self, cli: Cli, emulator: RunningEmulator, tmp_path: Path, secret_watch: SecretWatch
    ) -> None:
        """`rotate --dry-run` says what it would do; store, files and NetSuite stay as they were."""
        tenant = emulator.tenant
        secret_watch.add(tenant.admin_token)
        for name, extra in (("app1", ()), ("app2", ("--entity", "8"))):
            cli(
                "credential", "add", name,
                "--account", tenant.account_id, "--client-id", tenant.client_id,
                "--entity", str(tenant.entity_id), "--role", str(tenant.role_id),
                "--base-url", emulator.base_url, "--token", tenant.admin_token, *extra,
            ).assert_ok()  # fmt: skip
        cli("upload", "app1").assert_ok()
        data_dir = tmp_path / "data"
        store_before, remote_before = store_snapshot(data_dir), emulator.certificates()

        one = cli("rotate", "app1", "--dry-run").assert_ok()
        every = cli("rotate", "--all", "--dry-run", "--json").assert_ok().json()
        due = cli("rotate", "--all", "--due", "--dry-run", "--json").assert_ok().json()

        assert one.stdout.startswith("would rotate app1 (auto): ")
        assert [row["credential"] for row in every] == ["app1", "app2"]
        assert [row["credential"] for row in due] == ["app2"]
        assert store_snapshot(data_dir) == store_before
        assert emulator.certificates() == remote_before


class TestNegativeInternalIds:
    def test_entity_minus_five_as_in_oracles_example(self, cli: Cli) -> None:
        """`--entity -5` is a value, not an option: negative internal IDs exist in NetSuite."""
        added = cli(
            "credential", "add", "neg", "--account", "1234567_SB1", "--client-id", "c1", "--entity", "-5",
            "--role", "3",
        )  # fmt: skip
        added.assert_ok()
        credential = cli("credential", "list", "--json").assert_ok().json()[0]
        assert (credential["entity_id"], credential["role_id"]) == (-5, 3)
