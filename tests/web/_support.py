"""What the console tests share: a store with the demo credentials beside the emulator, the console
served on a loopback port, two users (an operator and a viewer) and an HTTP client that logs in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from certrotor.client import BearerTokenAuth, NetSuiteClient
from certrotor.config import Settings
from certrotor.emulator.testing import RunningEmulator
from certrotor.keyvault import MasterKey
from certrotor.services import operations
from certrotor.services.rotation import Rotator, default_owner
from certrotor.services.runtime import Runtime
from certrotor.store import AuthMode, CredentialSpec, RotationTrigger
from certrotor.store.web_users import WebRole
from certrotor.web.console import Console, ConsoleOptions, open_console, plan_listening, serve_in_thread

OPERATOR = "alice"
VIEWER = "victor"
PASSWORDS = {OPERATOR: "correct horse battery staple", VIEWER: "viewer passphrase 42"}
DAY = 86400
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleWorld:
    """The emulator, a certrotor store with demo1 and demo2 rotated once, and the console serving it."""

    emulator: RunningEmulator
    runtime: Runtime
    console: Console
    url: str
    clients: list[httpx2.Client] = field(default_factory=list)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.runtime.store

    def current_certificate_id(self, name: str) -> str | None:
        current = self.store.current_version(name)
        return current.certificate_id if current else None

    def remote(self, certificate_id: str) -> dict[str, object] | None:
        return next((c for c in self.emulator.certificates() if c["certificate_id"] == certificate_id), None)

    def client(self) -> httpx2.Client:
        """A client of the console (no session yet); closed when the world ends."""
        client = httpx2.Client(base_url=self.url, follow_redirects=False, timeout=30)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def logged_in(self, user: str) -> httpx2.Client:
        """A client with a session of ``user`` (logged in through the form, as a browser does)."""
        client = self.client()
        answer = client.post(
            "/login",
            data={"username": user, "password": PASSWORDS[user], "csrf_token": csrf_of(client, "/login")},
        )
        assert answer.status_code == 303, answer.text
        return client


def csrf_of(client: httpx2.Client, path: str) -> str:
    """The hidden csrf_token of the first form on the page at ``path``."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = _CSRF.search(page.text)
    assert found is not None, f"no csrf_token on {path}"
    return found.group(1)


def revoke_on_emulator(world: ConsoleWorld, certificate_id: str) -> None:
    """Revoke a certificate the way an administrator does on NetSuite (the emulator's own endpoint)."""
    tenant = world.emulator.tenant
    with NetSuiteClient(
        world.emulator.endpoints, client_id=tenant.client_id, auth=BearerTokenAuth(tenant.admin_token)
    ) as client:
        client.revoke_certificate(certificate_id)


def demo_specs(emulator: RunningEmulator) -> list[CredentialSpec]:
    """The demo's two credentials as ``certrotor demo`` makes them (demo1 manages demo2), one day long."""
    tenant = emulator.tenant
    entity_id, role_id = emulator.add_m2m_combination()
    common = {
        "account_id": tenant.account_id,
        "client_id": tenant.client_id,
        "base_url": emulator.base_url,
        "validity_seconds": DAY,
        "grace_seconds": 3600,
    }
    return [
        CredentialSpec(
            name="demo1",
            entity_id=tenant.entity_id,
            role_id=tenant.role_id,
            management_token=tenant.admin_token,
            **common,
        ),  # type: ignore[arg-type]
        CredentialSpec(
            name="demo2",
            entity_id=entity_id,
            role_id=role_id,
            auth_mode=AuthMode.CREDENTIAL,
            auth_credential="demo1",
            **common,
        ),  # type: ignore[arg-type]
    ]


@contextmanager
def running_console(emulator: RunningEmulator, data_dir: Path) -> Iterator[ConsoleWorld]:
    settings = Settings(data_dir=data_dir, master_key=MasterKey.generate().to_base64url())  # type: ignore[arg-type]
    runtime = Runtime(settings)
    try:
        for spec in demo_specs(emulator):
            operations.add_credential(runtime, spec)
        rotator = Rotator(runtime, owner=default_owner(), actor="demo")
        for name in ("demo1", "demo2"):
            assert rotator.rotate(name, RotationTrigger.MANUAL).status == "rotated"
        console = open_console(runtime, ConsoleOptions(observe_interval_seconds=0, fleet_refresh_seconds=1))
        try:
            console.web_store.add_user(OPERATOR, WebRole.OPERATOR, PASSWORDS[OPERATOR])
            console.web_store.add_user(VIEWER, WebRole.VIEWER, PASSWORDS[VIEWER])
            with serve_in_thread(console, plan_listening("127.0.0.1", 0)) as running:
                world = ConsoleWorld(emulator=emulator, runtime=runtime, console=console, url=running.url)
                try:
                    yield world
                finally:
                    world.close()
        finally:
            console.web_store.close()
    finally:
        runtime.close()
