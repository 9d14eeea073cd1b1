"""Serving the console: loopback by default, TLS required elsewhere, in the foreground or in a thread."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from certrotor.errors import ConfigError, InputError
from certrotor.listening import bind_socket
from certrotor.services.runtime import Runtime
from certrotor.store.web_users import WebStore
from certrotor.web.console.app import Console, ConsoleOptions, create_console_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400
STARTUP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class ListenPlan:
    """Where and how the console listens, checked by :func:`plan_listening`."""

    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plan_listening(
    host: str,
    port: int,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    insecure_http: bool = False,
) -> ListenPlan:
    """Refuse a non-loopback address without TLS (unless ``insecure_http``) and half-given TLS settings."""
    if (tls_cert is None) != (tls_key is None):
        raise InputError(
            "Give both --tls-cert and --tls-key, or neither.",
            hint="e.g. --tls-cert cert.pem --tls-key key.pem.",
        )
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise InputError(f"The TLS file {path} does not exist.", hint="check the path.")
    if not is_loopback(host) and tls_cert is None and not insecure_http:
        raise InputError(
            f"Refusing to serve the console on {host} without TLS: passwords and session cookies would "
            "cross the network in clear text.",
            hint="give --tls-cert and --tls-key, or --insecure-http if a TLS proxy stands in front, "
            "or listen on 127.0.0.1.",
        )
    return ListenPlan(host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)


def open_console(runtime: Runtime, options: ConsoleOptions | None = None) -> Console:
    """A console on the runtime's store (its web tables opened beside it with the same master key)."""
    from certrotor.store.sealed import master_key_for

    web_store = WebStore.open(runtime.settings.resolved_database_url, master_key_for(runtime.settings))
    try:
        runtime.store  # noqa: B018 - opens (and migrates) the main store now, not on the first request
        return Console(runtime, web_store, options or ConsoleOptions())
    except BaseException:
        web_store.close()
        raise


def build_server(console: Console, plan: ListenPlan) -> uvicorn.Server:
    config = uvicorn.Config(
        create_console_app(console),
        log_config=None,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws="none",
        ssl_certfile=str(plan.tls_cert) if plan.tls_cert else None,
        ssl_keyfile=str(plan.tls_key) if plan.tls_key else None,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    return uvicorn.Server(config)


@dataclass(frozen=True, slots=True)
class RunningConsole:
    url: str
    console: Console


def _url(plan: ListenPlan, port: int) -> str:
    host = f"[{plan.host}]" if ":" in plan.host else plan.host
    return f"{plan.scheme}://{host}:{port}"


def serve_forever(console: Console, plan: ListenPlan, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in this thread until SIGINT or SIGTERM (uvicorn's own handlers)."""
    sock = bind_socket(plan.host, plan.port)
    try:
        server = build_server(console, plan)
        if on_ready is not None:
            on_ready(_url(plan, sock.getsockname()[1]))
        console.start()
        try:
            server.run(sockets=[sock])
        finally:
            console.close()
    finally:
        sock.close()


@contextmanager
def serve_in_thread(console: Console, plan: ListenPlan) -> Iterator[RunningConsole]:
    """Serve in a background thread (the daemon's ``--web-port``, tests); stop on exit."""
    sock = bind_socket(plan.host, plan.port)
    server = build_server(console, plan)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="certrotor-console", daemon=True
    )
    console.start()
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("The web console did not start.", hint="see the log lines above.")
            time.sleep(0.02)
        yield RunningConsole(url=_url(plan, sock.getsockname()[1]), console=console)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        sock.close()
        console.close()


@contextmanager
def serve_beside(
    runtime: Runtime, port: int, host: str = DEFAULT_HOST, options: ConsoleOptions | None = None
) -> Iterator[str]:
    """The console on ``runtime``'s store in a background thread of another service; yields its URL."""
    plan = plan_listening(host, port)
    console = open_console(runtime, options)
    try:
        with serve_in_thread(console, plan) as running:
            yield running.url
    finally:
        console.web_store.close()
