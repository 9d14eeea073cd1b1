"""Runs the broker under uvicorn: on a loopback TCP port or a Unix socket, in the foreground or a thread.

The broker speaks plain HTTP and hands out access tokens, so it listens only where the host's own
processes reach it: a loopback address, or a Unix socket only its owner may open (mode 0600).
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from certrotor.errors import ConfigError
from certrotor.listening import bind_socket
from certrotor.services.runtime import Runtime

STARTUP_TIMEOUT_SECONDS = 15.0
DEFAULT_PORT = 8401


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address (or ``localhost``); the broker refuses to listen elsewhere."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"The broker will not listen on {host}: it serves access tokens over plain HTTP.",
            hint="use --host 127.0.0.1 (or ::1), or --socket PATH for a Unix socket.",
        )
    return host.strip("[]")


def bind_unix_socket(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` (mode 0600); a stale socket file is replaced, other files never."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(
                f"{path} exists and is not a socket.", hint="choose another --socket path or remove the file."
            )
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(str(path))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot listen on the socket {path}: {error.strerror or error}.",
            hint="check that the directory exists and that you may write to it.",
        ) from None
    finally:
        os.umask(previous)
    sock.set_inheritable(True)
    return sock


def listen(host: str, port: int, socket_path: Path | None) -> tuple[socket.socket, str]:
    """The broker's listening socket and its URL (``http://host:port`` or ``unix:PATH``)."""
    if socket_path is not None:
        return bind_unix_socket(socket_path), f"unix:{socket_path}"
    host = check_loopback(host)
    sock = bind_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}"


def _http_protocol() -> str:
    """httptools parses requests in C, about twice as fast as h11: the cached token path is CPU-bound."""
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


def build_server(app: FastAPI) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        http=_http_protocol(),
        log_config=None,
        lifespan="on",
        log_level="warning",
        access_log=False,
        ws="none",
    )
    return uvicorn.Server(config)


def serve_broker(app: FastAPI, sock: socket.socket) -> None:
    """Serve until SIGINT or SIGTERM; the lifespan writes the last usage counts to the audit trail."""
    build_server(app).run(sockets=[sock])


@contextlib.contextmanager
def running_broker(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, socket_path: Path | None = None
) -> Iterator[str]:
    """Serve ``app`` in a background thread (a daemon's broker, tests); yields its URL."""
    sock, url = listen(host, port, socket_path)
    server = build_server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="certrotor-broker", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The broker did not start.")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        sock.close()
        if socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                Path(socket_path).unlink()


@contextlib.contextmanager
def serve_beside(runtime: Runtime, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """The broker in a thread of another service (``certrotor daemon --broker-port``), sharing its store."""
    from certrotor.broker.app import Broker, create_broker_app

    with running_broker(create_broker_app(Broker(runtime)), host=host, port=port) as url:
        yield url
