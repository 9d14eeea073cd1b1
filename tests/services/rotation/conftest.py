"""Fixtures of the rotation tests: a world whose store is on PostgreSQL (``world``'s is SQLite)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator
from support.postgres import PostgresServer

from .._support import ServiceWorld, running_world


@pytest.fixture
def postgres_world(
    emulator: RunningEmulator,
    shared_postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServiceWorld]:
    """Like ``world``, with a fresh database on the session's PostgreSQL server as the store."""
    name = f"rotation_{tmp_path.name.lower()[-40:]}".replace("-", "_")
    url = shared_postgres.create_database(name)
    try:
        with running_world(emulator, tmp_path / "data", database_url=url) as opened:
            for variable in [n for n in os.environ if n.startswith("CERTROTOR_")]:
                monkeypatch.delenv(variable)
            monkeypatch.setenv("CERTROTOR_CONFIG", str(opened.config_file))
            yield opened
    finally:
        shared_postgres.drop_database(name)
