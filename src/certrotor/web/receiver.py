"""The receiver of NetSuite's signed real-time import requests: ``GET /netsuite.pl`` answers 200 or 403.

A small FastAPI app over :func:`certrotor.receiver.verify_import_request`; the verifiers are asked
for on every request (a rotation by another process counts at once), the replay cache lives in
memory. :func:`serve_receiver` runs it under uvicorn, :func:`running_receiver` in a thread.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from certrotor.crypto import utcnow
from certrotor.errors import CertrotorError, SignatureError
from certrotor.listening import bind_socket
from certrotor.logging import get_logger
from certrotor.protocol.signed_import import IMPORT_PATH
from certrotor.receiver import DEFAULT_MAX_AGE, ReplayCache, Verifier, verify_import_request

log = get_logger(__name__)

STARTUP_TIMEOUT_SECONDS = 15.0
VerifierSource = Callable[[], Sequence[Verifier]]


def create_receiver_app(
    verifiers: VerifierSource,
    *,
    replay_cache: ReplayCache | None = None,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    clock: Callable[[], dt.datetime] = utcnow,
    name: str = "receiver",
) -> FastAPI:
    """An app accepting ``GET /netsuite.pl`` requests signed by a certificate ``verifiers()`` vouches for."""
    cache = replay_cache if replay_cache is not None else ReplayCache()
    app = FastAPI(title=f"certrotor receiver ({name})", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.replay_cache = cache

    @app.get(IMPORT_PATH)
    def receive_import(request: Request) -> JSONResponse:
        # The exact bytes NetSuite signed: the raw query string, not re-encoded parameters.
        query = request.scope.get("query_string", b"").decode("latin-1")
        try:
            candidates = list(verifiers())
        except CertrotorError as exc:
            log.error("receiver cannot load its verifiers", credential=name, error=exc.message)
            return JSONResponse({"status": "unavailable", "message": exc.message}, status_code=503)
        try:
            accepted = verify_import_request(
                query, candidates, now=clock(), replay_cache=cache, max_age=max_age
            )
        except SignatureError as refusal:
            log.warning(
                "import request refused", credential=name, reason=refusal.reason, error=refusal.message
            )
            return JSONResponse(
                {"status": "refused", "reason": refusal.reason, "message": refusal.message},
                status_code=403,
            )
        log.info(
            "import request accepted",
            credential=name,
            verifier=accepted.verifier.role,
            record_type=accepted.params.get("record_type"),
            ns_id=accepted.params.get("ns_id"),
        )
        body: dict[str, Any] = {
            "status": "accepted",
            "verifier": accepted.verifier.role,
            "fingerprint_sha256": accepted.verifier.fingerprint,
            "params": accepted.params,
        }
        return JSONResponse(body)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def build_server(app: FastAPI, *, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app, log_config=None, lifespan="off", log_level=log_level, access_log=False, ws="none"
    )
    return uvicorn.Server(config)


def serve_receiver(app: FastAPI, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until SIGINT or SIGTERM."""
    build_server(app).run(sockets=[sock])


@contextmanager
def running_receiver(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` in a background thread on a free loopback port; yields its base URL."""
    sock = bind_socket(host, 0)
    server = build_server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="certrotor-receiver", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The receiver did not start.")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        sock.close()


__all__ = ["bind_socket", "create_receiver_app", "running_receiver", "serve_receiver"]
