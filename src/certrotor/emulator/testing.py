"""Run the emulator in-process for tests: uvicorn in a background thread on a free loopback port.

::

    with serve_emulator(tmp_path / "emulator.db") as emulator:
        emulator.base_url, emulator.tenant.client_id, emulator.tenant.admin_token
        emulator.set_faults(error_rate=0.2, fault_seed=1)
        entity_id, role_id = emulator.add_m2m_combination()

The server shares the process clock, so ``time_machine`` moves the emulator's time too.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2

from certrotor.emulator.app import create_app
from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.routes.admin import ADMIN_PREFIX
from certrotor.emulator.server import bind_socket, build_server
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import DemoTenant, ensure_demo_tenant
from certrotor.protocol.urls import AUTHORIZE_PATH, NetSuiteEndpoints

STARTUP_TIMEOUT_SECONDS = 15.0
_ADMIN_TIMEOUT = httpx2.Timeout(30.0)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for all helper clients: loading CA files costs ~0.1 s each time."""
    return ssl.create_default_context()


def admin_client() -> httpx2.Client:
    return httpx2.Client(timeout=_ADMIN_TIMEOUT, verify=shared_ssl_context())


class EmulatorAdminError(RuntimeError):
    """An admin call of the test helper failed (the message carries the emulator's answer)."""


@dataclass(frozen=True)
class RunningEmulator:
    """A live emulator with its demo tenant, and admin shortcuts for tests and demos."""

    base_url: str
    state_path: Path
    tenant: DemoTenant
    _http: httpx2.Client | None = field(default=None, repr=False, compare=False)
    """Admin calls reuse one client (made by serve_emulator); building a client costs ~0.1 s."""

    @property
    def endpoints(self) -> NetSuiteEndpoints:
        """Token, certificate and record URLs of the demo account on this emulator."""
        return NetSuiteEndpoints.for_account(self.tenant.account_id, self.base_url)

    def _admin(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        url = self.base_url + ADMIN_PREFIX + path
        if self._http is not None:
            response = self._http.request(method, url, json=payload)
        else:
            with admin_client() as client:
                response = client.request(method, url, json=payload)
        if response.status_code != 200:
            raise EmulatorAdminError(
                f"{method} {ADMIN_PREFIX}{path} answered {response.status_code}: {response.text}"
            )
        return response.json()

    def set_faults(self, **faults: Any) -> None:
        """Change fault settings (see ``EmulatorConfig``); the rest stays as it is."""
        self._admin("POST", "/faults", faults)

    def faults(self) -> dict[str, Any]:
        """The current fault settings."""
        faults: dict[str, Any] = self._admin("GET", "/faults")
        return faults

    def clear_faults(self) -> None:
        self.set_faults(
            error_rate=0.0,
            rate_limit_rate=0.0,
            drop_rate=0.0,
            slow_seconds=0.0,
            after_commit_error_rate=0.0,
            after_commit_drop_rate=0.0,
        )

    def set_config(self, **changes: Any) -> None:
        """Change any ``EmulatorConfig`` field at runtime, e.g. ``max_active_per_combination=1``."""
        self._admin("POST", "/config", changes)

    def config(self) -> dict[str, Any]:
        """The whole current ``EmulatorConfig``."""
        config: dict[str, Any] = self._admin("GET", "/config")
        return config

    def set_integration(
        self,
        *,
        client_id: str | None = None,
        client_credentials_enabled: bool | None = None,
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Change the demo (or given) integration record's grant box and ticked scopes."""
        answer: dict[str, Any] = self._admin(
            "POST",
            "/integration-settings",
            {
                "client_id": client_id,
                "client_credentials_enabled": client_credentials_enabled,
                "scopes": scopes,
            },
        )
        return answer

    def counters(self) -> dict[str, Any]:
        """``uploads`` ({client_id: n}), ``uploads_total``, ``token_grants_total``, ``faults``, ..."""
        counters: dict[str, Any] = self._admin("GET", "/counters")
        return counters

    def add_m2m_combination(
        self,
        *,
        client_id: str | None = None,
        role_id: int | None = None,
        can_manage_certificates: bool = False,
    ) -> tuple[int, int]:
        """A new entity (and a new role unless ``role_id``) mapped for M2M; (entity_id, role_id)."""
        return self.add_m2m_combinations(
            1, client_id=client_id, role_id=role_id, can_manage_certificates=can_manage_certificates
        )[0]

    def add_m2m_combinations(
        self,
        count: int,
        *,
        client_id: str | None = None,
        role_id: int | None = None,
        can_manage_certificates: bool = False,
    ) -> list[tuple[int, int]]:
        """``count`` new (entity_id, role_id) pairs mapped on the demo (or given) integration."""
        answer = self._admin(
            "POST",
            "/combinations",
            {
                "client_id": client_id,
                "count": count,
                "role_id": role_id,
                "can_manage_certificates": can_manage_certificates,
            },
        )
        return [(pair["entity_id"], pair["role_id"]) for pair in answer["combinations"]]

    def add_integrations(
        self, count: int = 1, *, name: str = "Integration", map_demo_combination: bool = True
    ) -> list[str]:
        """New integration records (client IDs), with the demo entity and role mapped by default."""
        answer = self._admin(
            "POST",
            "/integrations",
            {"name": name, "count": count, "map_demo_combination": map_demo_combination},
        )
        return [item["client_id"] for item in answer["integrations"]]

    def management_token(
        self, *, entity_id: int | None = None, role_id: int | None = None, client_id: str | None = None
    ) -> str:
        """A long-lived token for (entity, role), as a user sets one up in the NetSuite UI."""
        answer = self._admin(
            "POST",
            "/management-tokens",
            {"entity_id": entity_id, "role_id": role_id, "client_id": client_id},
        )
        token: str = answer["access_token"]
        return token

    def upload_certificate(
        self, certificate_pem: str, *, entity_id: int | None = None, role_id: int | None = None
    ) -> str:
        """Upload a PEM certificate for the demo (or given) entity and role with the admin token, as
        a user does in the NetSuite UI; the new certificate ID (the ``kid`` of client assertions)."""
        payload = {
            "fileContent": certificate_pem,
            "entity": entity_id if entity_id is not None else self.tenant.entity_id,
            "role": role_id if role_id is not None else self.tenant.role_id,
        }
        url = self.endpoints.certificates_url(self.tenant.client_id)
        headers = {"Authorization": f"Bearer {self.tenant.admin_token}"}
        if self._http is not None:
            response = self._http.post(url, json=payload, headers=headers)
        else:
            with admin_client() as client:
                response = client.post(url, json=payload, headers=headers)
        if response.status_code != 200:
            raise EmulatorAdminError(f"The upload answered {response.status_code}: {response.text}")
        certificate_id: str = response.json()["certificate_id"]
        return certificate_id

    def certificates(self) -> list[dict[str, Any]]:
        """Every certificate on the emulator with client ID, fingerprint and revoked flag."""
        certificates: list[dict[str, Any]] = self._admin("GET", "/certificates")
        return certificates

    def approve_authorization(
        self,
        authorize_url: str,
        *,
        entity_id: int | None = None,
        role_id: int | None = None,
        approve: bool = True,
    ) -> str:
        """Play the user's browser on the consent page; the redirect URL (with code and state)."""
        query = dict(parse_qsl(urlsplit(authorize_url).query, keep_blank_values=True))
        with admin_client() as client:
            page = client.get(self.base_url + AUTHORIZE_PATH, params=query)
            if page.status_code != 200:
                location = page.headers.get("location")
                if page.status_code == 303 and location:
                    return location
                raise EmulatorAdminError(f"The consent page answered {page.status_code}: {page.text}")
            form = {
                **query,
                "entity": str(entity_id if entity_id is not None else self.tenant.entity_id),
                "role": str(role_id if role_id is not None else self.tenant.role_id),
                "decision": "approve" if approve else "deny",
            }
            decision = client.post(self.base_url + AUTHORIZE_PATH, data=form)
        location = decision.headers.get("location")
        if decision.status_code != 303 or not location:
            raise EmulatorAdminError(f"The consent form answered {decision.status_code}: {decision.text}")
        return location


def _wait_until_answering(client: httpx2.Client, base_url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("The emulator thread stopped during start-up.")
        try:
            if client.get(base_url + ADMIN_PREFIX + "/health").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"The emulator did not answer within {STARTUP_TIMEOUT_SECONDS} s.")


@contextmanager
def serve_emulator(state_path: Path, config: EmulatorConfig | None = None) -> Iterator[RunningEmulator]:
    """Serve the emulator on 127.0.0.1 (free port) in a background thread; stop it on exit."""
    state = EmulatorState.open(Path(state_path))
    try:
        tenant = ensure_demo_tenant(state)
        app = create_app(state, config)
        sock = bind_socket("127.0.0.1", 0)
        server = build_server(app, configure_logging=False)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="certrotor-emulator", daemon=True
        )
        thread.start()
        try:
            base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            with admin_client() as admin_http:
                _wait_until_answering(admin_http, base_url, thread)
                yield RunningEmulator(
                    base_url=base_url, state_path=Path(state_path), tenant=tenant, _http=admin_http
                )
        finally:
            server.should_exit = True
            thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
            sock.close()
    finally:
        state.close()
