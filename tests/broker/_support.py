"""What the broker tests share: an emulator with a large SuiteQL answer, a running broker, and its keys."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from certrotor.broker.app import Broker, BrokerSettings, create_broker_app
from certrotor.broker.keys import NewKey, create_key
from certrotor.broker.server import running_broker
from certrotor.emulator.app import create_app
from certrotor.emulator.routes.admin import ADMIN_PREFIX
from certrotor.emulator.server import bind_socket, build_server
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import ensure_demo_tenant
from certrotor.emulator.testing import RunningEmulator, admin_client
from certrotor.services.runtime import Runtime

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
ROW = b'{"id": "%08d", "companyname": "' + b"x" * 200 + b'"}'
"""One row of the large SuiteQL answer (about 230 bytes)."""
GATE_TIMEOUT_SECONDS = 60.0


@dataclass
class LargeAnswer:
    """A SuiteQL endpoint beside the emulator that streams ``rows`` rows to a bearer the emulator accepts.

    After its first chunk it waits for ``release``: a client that sees the first bytes before it
    releases the rest proves that every hop streams rather than buffering the whole answer.
    """

    rows: int = 40_000
    release: threading.Event = field(default_factory=threading.Event)
    gate_timed_out: bool = False
    requests: int = 0

    def expected_body(self) -> bytes:
        return b'{"items": [' + b",".join(ROW % i for i in range(self.rows)) + b"]}"

    def install(self, app: FastAPI) -> None:
        async def suiteql(request: Request) -> Response:
            self.requests += 1
            # The emulator's own protected resource decides whether the bearer token is good.
            async with httpx2.AsyncClient(timeout=30) as client:
                check = await client.get(
                    str(request.base_url).rstrip("/") + "/services/rest/record/v1/employee/1",
                    headers={"authorization": request.headers.get("authorization", "")},
                )
            if check.status_code != 200:
                return Response(check.content, status_code=check.status_code, media_type="application/json")
            return StreamingResponse(self._rows(), media_type="application/json")

        # First in line: it stands in for the emulator's own SuiteQL, which answers all at once.
        app.router.routes.insert(0, Route(SUITEQL_PATH, suiteql, methods=["POST"]))

    async def _rows(self) -> AsyncIterator[bytes]:
        yield b'{"items": [' + ROW % 0
        released = await asyncio.to_thread(self.release.wait, GATE_TIMEOUT_SECONDS)
        self.gate_timed_out = not released
        for start in range(1, self.rows, 500):
            yield b"".join(b"," + ROW % i for i in range(start, min(start + 500, self.rows)))
        yield b"]}"


@contextmanager
def emulator_with_large_answer(state_path: Path, large: LargeAnswer) -> Iterator[RunningEmulator]:
    """The emulator (as ``serve_emulator`` runs it) plus the large SuiteQL answer on the same host."""
    state = EmulatorState.open(state_path)
    try:
        tenant = ensure_demo_tenant(state)
        app = create_app(state)
        large.install(app)
        sock = bind_socket("127.0.0.1", 0)
        server = build_server(app, configure_logging=False)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            with admin_client() as admin:
                for _ in range(1500):
                    try:
                        if admin.get(base_url + ADMIN_PREFIX + "/health").status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    threading.Event().wait(0.01)
                yield RunningEmulator(base_url=base_url, state_path=state_path, tenant=tenant, _http=admin)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            sock.close()
    finally:
        state.close()


@dataclass
class RunningBroker:
    """A broker serving on a free loopback port, its parts, and a client to call it."""

    url: str
    broker: Broker
    http: httpx2.Client

    def add_key(self, app: str, *credentials: str) -> str:
        made: NewKey = create_key(self.broker.store, app, credentials)
        return made.key

    def post_token(self, key: str | None, credential: str, **extra: Any) -> httpx2.Response:
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        return self.http.post(
            self.url + "/v1/token", json={"credential": credential, **extra}, headers=headers
        )

    def token(self, key: str, credential: str) -> dict[str, Any]:
        response = self.post_token(key, credential)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the broker's Prometheus registry (0.0 if it has none yet)."""
        value = self.broker.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@contextmanager
def running_test_broker(runtime: Runtime, settings: BrokerSettings | None = None) -> Iterator[RunningBroker]:
    broker = Broker(runtime, settings or BrokerSettings(audit_interval=3600))
    with running_broker(create_broker_app(broker)) as url, httpx2.Client(timeout=60) as http:
        yield RunningBroker(url=url, broker=broker, http=http)


def token_grants(emulator: RunningEmulator) -> int:
    """How many access tokens the emulator granted with the client credentials flow so far."""
    return int(emulator.counters().get("token_grants", {}).get("client_credentials", 0))


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token (read, not verified: the emulator verifies)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims
