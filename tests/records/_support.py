"""Helpers of the record tests: a record credential on the emulator, signed requests, the CLI."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from certrotor.cli.main import main
from certrotor.crypto import utcnow
from certrotor.emulator.records import import_fields
from certrotor.emulator.testing import RunningEmulator
from certrotor.logging import reset_logging
from certrotor.protocol.signed_import import IMPORT_PATH, SigningKey, signed_query
from certrotor.services import operations
from certrotor.services.runtime import Runtime
from certrotor.store import AuthMode, CredentialKind, CredentialSpec, RecordMode

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
