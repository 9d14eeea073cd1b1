"""What the service tests share: a store beside a live emulator, invariants checked after a rotation,
a thread that keeps proving some certificate obtains a token, and certrotor run as real processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from certrotor import crypto
from certrotor.client import BearerTokenAuth, NetSuiteClient, RetryPolicy
from certrotor.config import Settings
from certrotor.crypto import KeySpec, PrivateKey
from certrotor.emulator.tenant import DemoTenant
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import CertrotorError
from certrotor.keyvault import MasterKey
from certrotor.protocol.urls import NetSuiteEndpoints
from certrotor.services import operations
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import (
    CertificateVersion,
    Credential,
    CredentialSpec,
    RotationStep,
    Store,
    VersionState,
)

DAY = 86400


@dataclass
class ServiceWorld:
    """A NetSuite emulator and a certrotor data directory (SQLite store, or the URL given)."""

    emulator: RunningEmulator
    data_dir: Path
    database_url: str | None = None
    master_key: str = field(default_factory=lambda: MasterKey.generate().to_base64url(), repr=False)
    _runtimes: list[Runtime] = field(default_factory=list, repr=False)

    @property
    def config_file(self) -> Path:
        """A settings file that does not exist: only the environment and defaults apply."""
        return self.data_dir.parent / "no-config.toml"

    @property
    def admin_token(self) -> str:
        return self.emulator.tenant.admin_token

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            master_key=self.master_key,  # type: ignore[arg-type]  # pydantic turns it into SecretStr
        )

    def runtime(self, *, token: str | None = None) -> Runtime:
        """A runtime on this world's store; closed when the world ends."""
        runtime = Runtime(self.settings(), token_override=token)
        self._runtimes.append(runtime)
        return runtime

    @property
    def store(self) -> Store:
        if not self._runtimes:
            self.runtime()
        return self._runtimes[0].store

    def close(self) -> None:
        for runtime in self._runtimes:
            runtime.close()
        self._runtimes.clear()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a certrotor process of this world (no CERTROTOR_* from outside)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("CERTROTOR_")}
        env.update(
            CERTROTOR_DATA_DIR=str(self.data_dir),
            CERTROTOR_CONFIG=str(self.config_file),
            CERTROTOR_MASTER_KEY=self.master_key,
            COLUMNS="200",
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["CERTROTOR_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    # -- credentials -------------------------------------------------------------------------------

    def spec(
        self,
        name: str,
        *,
        client_id: str | None = None,
        combination: tuple[int, int] | None = None,
        **options: Any,
    ) -> CredentialSpec:
        """A credential of the demo account on this emulator; EC P-256, grace 0 unless given."""
        tenant = self.emulator.tenant
        entity_id, role_id = combination or (tenant.entity_id, tenant.role_id)
        options.setdefault("key_spec", KeySpec.EC_P256)
        options.setdefault("grace_seconds", 0)
        options.setdefault("validity_seconds", 30 * DAY)
        return CredentialSpec(
            name=name,
            account_id=tenant.account_id,
            client_id=client_id or tenant.client_id,
            entity_id=entity_id,
            role_id=role_id,
            base_url=self.emulator.base_url,
            **options,
        )

    def enrol(self, name: str, **options: Any) -> Credential:
        """Add a credential and upload its first certificate with the bootstrap token (not stored)."""
        admin = self.runtime(token=self.admin_token)
        operations.add_credential(admin, self.spec(name, **options))
        operations.upload(admin, name)
        return admin.store.get_credential(name)

    def new_integration(self) -> str:
        """A new integration record (client ID) with the demo entity and Administrator role mapped."""
        return self.emulator.add_integrations(1)[0]

    # -- what the server holds -------------------------------------------------------------------

    def remote_certificates(self, client_id: str) -> list[dict[str, Any]]:
        return [c for c in self.emulator.certificates() if c["client_id"] == client_id]

    def uploads(self, client_id: str) -> int:
        counted: dict[str, int] = self.emulator.counters().get("uploads", {})
        return counted.get(client_id, 0)


def enrol_fleet(world: ServiceWorld, specs: Sequence[CredentialSpec], *, due_at: dt.datetime) -> None:
    """Add many credentials at once, each with a current certificate uploaded, all due at ``due_at``.

    The fleet tests measure rotations, not enrolment: one transaction adds the credentials and one
    HTTP connection (the bootstrap token, a shared transport) uploads their first certificates.
    """
    store = world.store
    store.add_credentials(specs)
    with httpx2.HTTPTransport() as transport:
        for spec in specs:
            key = crypto.generate_private_key(spec.key_spec)
            certificate = crypto.build_self_signed_certificate(
                key,
                common_name=f"certrotor {spec.name}",
                validity_days=0,
                validity=dt.timedelta(seconds=spec.validity_seconds),
            )
            version = store.add_version(spec.name, key, certificate, VersionState.PENDING)
            endpoints = NetSuiteEndpoints.for_account(spec.account_id, spec.base_url)
            with NetSuiteClient(
                endpoints,
                client_id=spec.client_id,
                auth=BearerTokenAuth(world.admin_token),
                transport=transport,
            ) as client:
                answer = client.upload_certificate(
                    version.certificate_pem, entity=spec.entity_id, role=spec.role_id
                )
            version = store.set_remote_certificate_id(
                version, answer.certificate_id, state=VersionState.UPLOADED
            )
            store.activate(spec.name, version)
            store.set_schedule(spec.name, due_at, 0, None)


def token_works(world: ServiceWorld, credential: Credential, version: CertificateVersion) -> bool:
    """Whether ``version`` obtains an access token that the protected REST resource accepts."""
    assert version.certificate_id is not None
    endpoints = endpoints_for(credential)
    with NetSuiteClient(endpoints, client_id=credential.client_id, auth=None, timeout=10) as client:
        try:
            answer = client.request_token(
                world.store.load_private_key(version),
                certificate_id=version.certificate_id,
                scopes=credential.scopes,
            )
        except CertrotorError:
            return False
    with NetSuiteClient(
        endpoints, client_id=credential.client_id, auth=BearerTokenAuth(answer.access_token), timeout=10
    ) as client:
        return client.call_protected("employee/1").status_code == 200


def assert_settled(world: ServiceWorld, name: str, *, expect_revoked_old: bool = True) -> CertificateVersion:
    """The invariants after a finished rotation; returns the current version.

    No open rotation; exactly one current version, active on NetSuite and able to get a token; every
    version that reached NetSuite still has its key (it decrypts and matches its certificate, and
    NetSuite holds the same fingerprint); every certificate NetSuite holds for this integration is
    known to the store; with ``expect_revoked_old`` every other one is revoked on both sides.
    """
    store = world.store
    credential = store.get_credential(name)
    assert store.open_rotation(credential) is None
    versions = store.versions(credential)
    current = [v for v in versions if v.state is VersionState.CURRENT]
    assert len(current) == 1, [(v.state, v.certificate_id) for v in versions]
    remote = {c["certificate_id"]: c for c in world.remote_certificates(credential.client_id)}
    by_id = {v.certificate_id: v for v in versions if v.certificate_id}
    assert set(remote) <= set(by_id), f"unknown to the store: {set(remote) - set(by_id)}"
    for certificate_id, version in by_id.items():
        key = store.load_private_key(version)
        assert crypto.keys_match(key, version.certificate), f"key of {certificate_id} lost"
        assert remote[certificate_id]["fingerprint"] == version.fingerprint_sha256
    assert not remote[current[0].certificate_id]["revoked"]
    if expect_revoked_old:
        for certificate_id, version in by_id.items():
            if version.id != current[0].id:
                assert version.state in (VersionState.REVOKED, VersionState.FAILED), version.state
                assert remote[certificate_id]["revoked"], f"{certificate_id} still active on NetSuite"
    assert token_works(world, credential, current[0])
    return current[0]


def finished_rotations(store: Store, name: str) -> list[RotationStep]:
    return [r.step for r in store.rotations(name) if not r.is_open]


# -- token availability ------------------------------------------------------------------------------


class TokenWatch:
    """A background thread proving, again and again, that some certificate of a credential gets a token.

    Each probe reads the store's versions that have a certificate ID (newest first) and asks the token
    endpoint with each until one works. A rotation can change the versions between the read and the
    ask, so a failed probe is repeated at once with a fresh read; only a second failure counts as a
    moment with no working certificate.
    """

    def __init__(self, world: ServiceWorld, name: str, *, interval: float = 0.05) -> None:
        self._store = world.store
        self._credential = self._store.get_credential(name)
        self._interval = interval
        self._keys: dict[str, PrivateKey] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"token-watch-{name}", daemon=True)
        self.probes = 0
        self.gaps = 0
        self.errors: list[str] = []

    def __enter__(self) -> TokenWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        endpoints = endpoints_for(self._credential)
        with NetSuiteClient(
            endpoints,
            client_id=self._credential.client_id,
            auth=None,
            timeout=10,
            retry=RetryPolicy.never(),
        ) as client:
            while not self._stop.is_set():
                try:
                    ok = self._probe(client) or self._probe(client)
                except Exception as exc:  # a store read racing the writer; reported, never silent
                    self.errors.append(repr(exc))
                    ok = True
                self.probes += 1
                if not ok:
                    self.gaps += 1
                self._stop.wait(self._interval)

    def _probe(self, client: NetSuiteClient) -> bool:
        versions = [v for v in self._store.versions(self._credential) if v.certificate_id]
        for version in reversed(versions):
            assert version.certificate_id is not None
            key = self._keys.get(version.id)
            if key is None:
                key = self._keys[version.id] = self._store.load_private_key(version)
            try:
                client.request_token(
                    key, certificate_id=version.certificate_id, scopes=self._credential.scopes
                )
            except CertrotorError:
                continue
            return True
        return False


# -- an emulator on its own clock ---------------------------------------------------------------------


_EMULATOR_PROCESS = """
import json, sys
from pathlib import Path
from certrotor.emulator.testing import serve_emulator
with serve_emulator(Path(sys.argv[1])) as emulator:
    print(json.dumps([emulator.base_url, emulator.tenant.to_json()]), flush=True)
    sys.stdin.read()
"""


@contextmanager
def emulator_in_another_process(state_path: Path) -> Iterator[RunningEmulator]:
    """An emulator in a process of its own: on the real clock even while this process travels in time."""
    process = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR_PROCESS, str(state_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, "the emulator process did not start"
        base_url, tenant = json.loads(line)
        yield RunningEmulator(base_url=base_url, state_path=state_path, tenant=DemoTenant(**tenant))
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def running_world(emulator: RunningEmulator, data_dir: Path, **options: Any) -> Iterator[ServiceWorld]:
    world = ServiceWorld(emulator=emulator, data_dir=data_dir, **options)
    try:
        yield world
    finally:
        world.close()
