"""The record tests' helpers and fixtures (a credential, a runtime, a live receiver, signed requests, the
CLI); a pytest plugin registered once in tests/conftest.py, so every test directory reaches them."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from certrotor.cli.main import main
from certrotor.config import load_settings
from certrotor.crypto import utcnow
from certrotor.emulator.records import import_fields
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.emulator.testing import RunningEmulator
from certrotor.keyvault import MasterKey
from certrotor.logging import reset_logging
from certrotor.protocol.signed_import import IMPORT_PATH, SigningKey, signed_query
from certrotor.receiver import Verifier
from certrotor.services import operations
from certrotor.services.records import record_verifiers
from certrotor.services.runtime import Runtime
from certrotor.store import AuthMode, CredentialKind, CredentialSpec, RecordMode
from certrotor.web.receiver import create_receiver_app, running_receiver

SCRIPT_ID = "custcertificate_oa_realtime"
CREDENTIAL = "openair"
PROCESS_TIMEOUT_SECONDS = 120.0
UNREACHABLE_RECEIVER = "http://127.0.0.1:9"
"""Nothing listens on the discard port: the emulator signs the request and keeps it for the test."""


def add_record_credential(
    runtime: Runtime,
    emulator: RunningEmulator,
    *,
    name: str = CREDENTIAL,
    script_id: str = SCRIPT_ID,
    grace_seconds: int = 3600,
    key_spec: Any = None,
) -> str:
    """A record credential for ``script_id`` on the emulator's demo account, managed with its admin token,
    in ``rotate`` mode: these tests play OpenAir's part, so certrotor writes even OpenAir's record."""
    extra = {"key_spec": key_spec} if key_spec is not None else {}
    spec = CredentialSpec(
        name=name,
        account_id=emulator.tenant.account_id,
        client_id=emulator.tenant.client_id,
        entity_id=emulator.tenant.entity_id,
        role_id=emulator.tenant.role_id,
        kind=CredentialKind.RECORD,
        base_url=emulator.base_url,
        auth_mode=AuthMode.TOKEN,
        management_token=emulator.tenant.admin_token,
        record_script_id=script_id,
        record_name="OpenAir real-time",
        record_mode=RecordMode.ROTATE,
        grace_seconds=grace_seconds,
        **extra,
    )
    operations.add_credential(runtime, spec)
    return name


def fresh_fields(**changes: Any) -> dict[str, str]:
    """The fields of a real-time import request stamped now."""
    fields = import_fields(
        db_id="4030059",
        record_type="customer",
        ns_id="1001",
        netsuite_user_id="7",
        timestamp=int(utcnow().timestamp()),
    )
    fields.update({key: str(value) for key, value in changes.items()})
    return fields


def signed_by(private_key: SigningKey, **changes: Any) -> str:
    """A query string signed with ``private_key``, as NetSuite would sign it with that key."""
    return signed_query(fresh_fields(**changes), private_key)


def get_import(receiver_url: str, query: str) -> httpx2.Response:
    """Send a signed query to the receiver exactly as given (no re-encoding)."""
    with httpx2.Client(timeout=httpx2.Timeout(30.0)) as client:
        return client.get(f"{receiver_url}{IMPORT_PATH}?{query}")


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str) -> CliResult:
    """``certrotor ARGS`` in this process (settings from the environment the fixtures set)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        reset_logging()
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def certrotor_command() -> list[str]:
    script = Path(sys.executable).with_name("certrotor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "certrotor"]


def run_process(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``certrotor ARGS`` as a real process."""
    return subprocess.run(
        [*certrotor_command(), *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )


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
