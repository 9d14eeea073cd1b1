"""Fixtures shared by every test package; keep each one small and documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator, serve_emulator
from support.postgres import PostgresServer, find_bin_dir, running_postgres
from support.processes import ForkServer

pytest_plugins = ["support.records"]
"""The record fixtures (certrotor_env, runtime, records, credential, receiver_url) for every directory."""

_SECRET_SHAPES = re.compile(r"PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")
"""A PEM private key, or a JWT (an access token or a client assertion)."""


@pytest.fixture(autouse=True)
def _no_secret_in_captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test of the run: what certrotor and its libraries logged carries no key and no token."""
    yield
    leaked = _SECRET_SHAPES.search(caplog.text)
    assert leaked is None, f"a secret reached the logs: {leaked.group(0)[:12]}..."


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A fresh NetSuite emulator (real uvicorn on a free loopback port, SQLite in tmp_path)."""
    with serve_emulator(tmp_path / "emulator.db") as running:
        yield running


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL server (loopback only) for the multi-process tests of the session.

    Skipped only when no PostgreSQL binaries exist (``make system-deps`` installs them).
    """
    if find_bin_dir() is None:
        pytest.skip("PostgreSQL binaries not installed (run `make system-deps`)")
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def fork_server() -> Iterator[ForkServer]:
    """Runs certrotor commands as forked processes of a server that imported the CLI once."""
    server = ForkServer()
    try:
        yield server
    finally:
        server.close()
