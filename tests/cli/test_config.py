"""``certrotor config show`` and the config file as a user writes it: unknown keys, validation, sources."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from certrotor.config import Settings, load_settings

from .conftest import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "config.example.toml"


@pytest.fixture
def config_file(cli_env: dict[str, str]) -> Path:
    """The file CERTROTOR_CONFIG names in these tests (absent until a test writes it)."""
    return Path(cli_env["CERTROTOR_CONFIG"])


class TestConfigFile:
    def test_an_unknown_key_names_the_close_match(self, cli: Cli, config_file: Path) -> None:
        """``datadir = ...`` is refused, and the error suggests ``data_dir``."""
        config_file.write_text('datadir = "/srv/certrotor"\n')

        cli("credential", "list").assert_one_line_error(
            f"error: The config file {config_file} has an unknown setting 'datadir'. Fix: did you mean "
            "'data_dir'? The settings are listed in docs/config.example.toml (`certrotor config show` "
            "prints the effective ones)."
        )

    def test_a_bad_log_level_is_refused_in_the_file(self, cli: Cli, config_file: Path) -> None:
        """``log_level = "verbose"`` in the file: one line naming the key and the file."""
        config_file.write_text('log_level = "verbose"\n')

        cli("config", "show").assert_one_line_error(
            f"error: The setting log_level in {config_file} is invalid: unknown log level 'verbose'; "
            "choose one of: debug, info, warning, error, critical. Fix: correct it in the environment "
            "or in the config file named by CERTROTOR_CONFIG."
        )

    def test_the_same_log_level_is_refused_in_the_environment(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``CERTROTOR_LOG_LEVEL=verbose``: the same rule, naming the variable."""
        monkeypatch.setenv("CERTROTOR_LOG_LEVEL", "verbose")

        cli("config", "show").assert_one_line_error(
            "error: The setting CERTROTOR_LOG_LEVEL is invalid: unknown log level 'verbose'; choose one "
            "of: debug, info, warning, error, critical. Fix: correct it in the environment or in the "
            "config file named by CERTROTOR_CONFIG."
        )


class TestConfigShow:
    def test_prints_each_setting_with_its_source_and_masks_secrets(
        self, cli: Cli, config_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Default, file and env sources; the master key and the database password never shown."""
        config_file.write_text('log_level = "debug"\nhttp_timeout_seconds = 12.5\n')
        monkeypatch.setenv("CERTROTOR_DATA_DIR", "/srv/certrotor")
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", "c2VjcmV0LW1hc3Rlci1rZXktdGhhdC1pcy0zMi1ieXRlcw")
        monkeypatch.setenv("CERTROTOR_DATABASE_URL", "postgresql+psycopg://rotor:s3cret@db.example.com/rotor")
        monkeypatch.setenv("COLUMNS", "80")

        result = cli("config", "show").assert_ok()

        assert "s3cret" not in result.stdout
        assert "c2VjcmV0" not in result.stdout
        assert result.stdout.splitlines() == [
            f"Config file: {config_file}",
            "┏━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓",
            "┃ setting                 ┃ value                                    ┃ source  ┃",
            "┡━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩",
            "│ data_dir                │ /srv/certrotor                           │ env     │",
            "│ database_url            │ postgresql+psycopg://rotor:********@db.e │ env     │",
            "│                         │ xample.com/rotor                         │         │",
            "│ master_key              │ ********                                 │ env     │",
            "│ master_key_file         │ /srv/certrotor/master.key                │ default │",
            "│ bootstrap_token         │ -                                        │ default │",
            "│ delivery_dir            │ /srv/certrotor/deliver                   │ default │",
            "│ log_level               │ debug                                    │ file    │",
            "│ log_format              │ auto                                     │ default │",
            "│ http_timeout_seconds    │ 12.5                                     │ file    │",
            "│ observe_concurrency     │ 32                                       │ default │",
            "│ observe_per_account     │ 5                                        │ default │",
            "│ alerts                  │ -                                        │ default │",
            "│ alert_webhook_url       │ -                                        │ default │",
            "│ alert_reminder_interval │ 6h                                       │ default │",
            "│ limit_error_codes       │ CERTIFICATE_LIMIT_REACHED                │ default │",
            "│ duplicate_error_codes   │ DUPLICATE_CERTIFICATE                    │ default │",
            "└─────────────────────────┴──────────────────────────────────────────┴─────────┘",
        ]

    def test_json_names_the_variable_of_each_setting(self, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
        """``--json``: name, environment variable, shown value and source of every setting."""
        monkeypatch.setenv("CERTROTOR_BOOTSTRAP_TOKEN", "a-management-token-value")

        shown = cli("config", "show", "--json").assert_ok().json()

        by_name = {item["name"]: item for item in shown["settings"]}
        assert [item["name"] for item in shown["settings"]] == list(Settings.model_fields)
        assert by_name["bootstrap_token"] == {
            "name": "bootstrap_token",
            "env": "CERTROTOR_BOOTSTRAP_TOKEN",
            "value": "********",
            "source": "env",
        }
        assert shown["config_file_exists"] is False


class TestExampleConfig:
    def test_the_example_loads(self, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """docs/config.example.toml is valid: certrotor loads it without an error."""
        monkeypatch.setenv("CERTROTOR_CONFIG", str(EXAMPLE))

        settings = load_settings()

        assert settings.log_level == "info"

    def test_the_example_documents_every_setting(self) -> None:
        """Every setting appears in the example, set or commented out (the alert tables too)."""
        text = EXAMPLE.read_text()
        uncommented = "\n".join(line.removeprefix("# ") for line in text.splitlines())
        keys = set(tomllib.loads(text)) | {
            line.split("=")[0].strip()
            for line in uncommented.splitlines()
            if "=" in line and not line.startswith(("#", " "))
        }
        assert "[[alerts]]" in uncommented
        assert set(Settings.model_fields) - {"alerts"} <= keys
