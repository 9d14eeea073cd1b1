"""Start-up of `certrotor`: each command imports only what it uses (checked in fresh interpreters)."""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from certrotor.cli.commands import COMMANDS, LazyGroup, imports_without_collection
from certrotor.cli.main import root_command

from ._support import PROCESS_TIMEOUT_SECONDS

HEAVY = ("sqlalchemy", "alembic", "httpx2", "fastapi", "uvicorn")

_PROBE = """
import json, os, sys
from certrotor.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
with open(os.environ["CERTROTOR_TEST_MODULES"], "w") as out:
    json.dump({"code": code, "modules": sorted(name for name in sys.modules if "." not in name)}, out)
"""


def _imported(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, set[str], str]:
    """Run ``certrotor ARGS`` in a fresh interpreter: exit code, top-level modules imported, stdout."""
    report = tmp_path / "modules.json"
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env={**os.environ, **env, "CERTROTOR_TEST_MODULES": str(report)},
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert report.exists(), completed.stderr
    data = json.loads(report.read_text())
    return int(data["code"] or 0), set(data["modules"]), completed.stdout


class TestStartup:
    @pytest.mark.parametrize("args", [["--version"], ["--help"], ["broker", "--help"]])
    def test_version_and_help_import_no_heavy_library(
        self, args: list[str], cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """``--version`` and ``--help`` import none of SQLAlchemy, Alembic, httpx2, FastAPI, uvicorn."""
        code, modules, stdout = _imported(args, cli_env, tmp_path)
        assert code == 0
        assert stdout.strip()
        assert modules.isdisjoint(HEAVY), sorted(modules.intersection(HEAVY))

    def test_a_store_at_the_newest_migration_opens_without_alembic(
        self, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """The first run creates and migrates the store (Alembic); the next ones only compare revisions."""
        code, modules, _ = _imported(["credential", "list", "--json"], cli_env, tmp_path)
        assert code == 0
        assert "alembic" in modules
        code, modules, stdout = _imported(["credential", "list", "--json"], cli_env, tmp_path)
        assert code == 0
        assert json.loads(stdout) == []
        assert "sqlalchemy" in modules
        assert "alembic" not in modules

    def test_offline_health_and_credential_list_import_no_http_client(
        self, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """``health --offline`` and ``credential list`` ask NetSuite nothing, so httpx2 stays unloaded."""
        add = ["credential", "add", "app1", "--account", "1234567", "--client-id", "client-1"]
        add += ["--entity", "7", "--role", "3", "--base-url", "http://127.0.0.1:9"]
        code, _, _ = _imported(add, cli_env, tmp_path)
        assert code == 0
        code, modules, stdout = _imported(["health", "--offline"], cli_env, tmp_path)
        assert code in (0, 1, 2), stdout
        assert "app1" in stdout
        assert "sqlalchemy" in modules
        assert "httpx2" not in modules
        code, modules, stdout = _imported(["credential", "list", "--json"], cli_env, tmp_path)
        assert code == 0
        assert [entry["name"] for entry in json.loads(stdout)] == ["app1"]
        assert "httpx2" not in modules

    def test_a_command_that_logs_nothing_imports_no_structlog(
        self, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """Logging is configured for every command, but structlog loads only with the first line logged."""
        code, modules, _ = _imported(["credential", "list", "--json"], cli_env, tmp_path)
        assert code == 0
        code, modules, _ = _imported(["credential", "list", "--json"], cli_env, tmp_path)
        assert code == 0
        assert "structlog" not in modules


class TestLazyCommands:
    def test_every_help_line_is_the_commands_own(self) -> None:
        """The line the root help shows for each command is the first line of that command's help."""
        for lazy in COMMANDS:
            real = lazy.load()
            own = (real.short_help or real.help or "").strip().split("\n\n")[0].replace("\n", " ")
            assert lazy.help == own, lazy.name

    def test_the_help_lists_every_command_in_order(self) -> None:
        """Root help lists the commands, then the groups, as registered."""
        group = root_command()
        assert isinstance(group, LazyGroup)
        names = group.list_commands(typer.Context(group))
        assert names == [lazy.name for lazy in COMMANDS]

    def test_a_mistyped_command_is_still_suggested(self, cli) -> None:
        """An unknown command: one line, with the close match among the lazy commands."""
        result = cli("credentail", "list")
        assert result.exit_code == 2
        assert "Did you mean 'credential'?" in result.stderr


_COLLECTOR_PROBE = """
import gc, json, sys
from certrotor.cli.main import main
sys.argv = ["certrotor", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


class TestCollector:
    def test_in_process_calls_leave_the_collector_as_they_found_it(self, cli) -> None:
        """Tests and embedders call main(argv): nothing is frozen and the collector stays on."""
        frozen = gc.get_freeze_count()
        result = cli("credential", "list", "--json")
        assert result.exit_code == 0
        assert gc.isenabled()
        assert gc.get_freeze_count() == frozen

    def test_a_whole_process_command_freezes_what_its_imports_made(self, cli_env: dict[str, str]) -> None:
        """As the console script, the command's imports leave the collector's view; it runs on."""
        completed = subprocess.run(
            [sys.executable, "-c", _COLLECTOR_PROBE, "credential", "list", "--json"],
            env={**os.environ, **cli_env},
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_SECONDS,
            check=False,
        )
        state = json.loads(completed.stdout.strip().splitlines()[-1])
        assert state["enabled"] is True
        assert state["frozen"] > 10_000

    def test_the_collector_pauses_only_while_a_command_loads(self) -> None:
        """imports_without_collection turns the collector back on, even when the import fails."""
        seen: list[bool] = []

        def load_a_missing_module() -> None:
            with imports_without_collection(freeze=False):
                seen.append(gc.isenabled())
                importlib.import_module("certrotor.no_such_module")

        assert gc.isenabled()
        with pytest.raises(ModuleNotFoundError):
            load_a_missing_module()
        assert seen == [False]
        assert gc.isenabled()
