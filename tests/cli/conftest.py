"""Fixtures of the CLI tests: a private data directory per test, a CLI runner, and a watch for secrets."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._support import CliResult, SecretWatch, cli_environment, run_in_process

Cli = Callable[..., CliResult]


@pytest.fixture(scope="session")
def secret_watch() -> SecretWatch:
    """Every secret any CLI test saw (admin and access tokens); none may appear in diagnostics."""
    return SecretWatch()


@pytest.fixture(autouse=True)
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only this test's settings: CERTROTOR_DATA_DIR in tmp_path, no config file, cwd in tmp_path, 200
    columns (as for the real processes)."""
    for name in [name for name in os.environ if name.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    env = cli_environment(tmp_path / "data", tmp_path / "no-config.toml")
    monkeypatch.setenv("CERTROTOR_DATA_DIR", env["CERTROTOR_DATA_DIR"])
    monkeypatch.setenv("CERTROTOR_CONFIG", env["CERTROTOR_CONFIG"])
    monkeypatch.setenv("COLUMNS", env["COLUMNS"])  # in-process runs as wide as the real processes
    monkeypatch.chdir(tmp_path)
    return env


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture, secret_watch: SecretWatch) -> Iterator[None]:
    """After each test, the log records it produced carry no private key and no known token."""
    yield
    secret_watch.check_diagnostics("captured log records", caplog.text)


@pytest.fixture
def cli(secret_watch: SecretWatch) -> Cli:
    """``cli("list", "app1", "--json")`` runs ``certrotor`` in-process and checks stderr for secrets."""

    def run(*args: str | Path) -> CliResult:
        return run_in_process([str(arg) for arg in args], secret_watch)

    return run
