"""Fixtures of the record tests: settings in tmp_path, a runtime, a record credential, a live receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.config import load_settings
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.emulator.testing import RunningEmulator
from certrotor.keyvault import MasterKey
from certrotor.receiver import Verifier
from certrotor.services.records import record_verifiers
from certrotor.services.runtime import Runtime
from certrotor.web.receiver import create_receiver_app, running_receiver

from ._support import add_record_credential


@pytest.fixture
def certrotor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test's certrotor settings (data directory, master key, no config file), also for subprocesses."""
    for name in [name for name in os.environ if name.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    env = {
        "CERTROTOR_DATA_DIR": str(tmp_path / "data"),
        "CERTROTOR_CONFIG": str(tmp_path / "no-config.toml"),
        "CERTROTOR_MASTER_KEY": MasterKey.generate().to_base64url(),
        "CERTROTOR_LOG_FORMAT": "json",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def runtime(certrotor_env: dict[str, str]) -> Iterator[Runtime]:
    """The services' runtime over this test's store (a real SQLite file)."""
    opened = Runtime(load_settings())
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def records(emulator: RunningEmulator) -> RecordsAdmin:
    """The emulator's record controls (NetSuite UI deletions, signed import requests)."""
    return RecordsAdmin(emulator)


@pytest.fixture
def credential(runtime: Runtime, emulator: RunningEmulator) -> str:
    """A record credential for custcertificate_oa_realtime (EC P-256, one hour of grace)."""
    return add_record_credential(runtime, emulator)


@pytest.fixture
def receiver_url(runtime: Runtime, credential: str) -> Iterator[str]:
    """certrotor's receiver for the credential, on uvicorn on a free loopback port."""

    def verifiers() -> list[Verifier]:
        return record_verifiers(runtime.store, runtime.store.get_credential(credential))

    with running_receiver(create_receiver_app(verifiers, name=credential)) as url:
        yield url
