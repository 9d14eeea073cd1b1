"""Running the emulator under uvicorn: a protocol that can drop connections (sockets: ``listening``)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from certrotor.emulator.middleware import TRANSPORT_EXTENSION
from certrotor.listening import bind_socket


class DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that hands each request its transport, so faults can drop it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def handle_events(self) -> None:
        super().handle_events()
        # The request task is created above but runs later, so the scope can still be extended.
        scope: dict[str, Any] | None = self.scope  # type: ignore[assignment]
        if scope is not None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = self.transport


class DroppingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (C parser, several times cheaper than h11 a request) that hands
    each request its transport, so faults can drop it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # The request task is created above but runs later, so the scope can still be extended.
        scope: dict[str, Any] | None = self.scope  # type: ignore[assignment]
        if scope is not None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = self.transport


def build_server(
    app: FastAPI,
    *,
    log_level: str = "warning",
    access_log: bool = False,
    configure_logging: bool = True,
) -> uvicorn.Server:
    """A uvicorn server for ``app``; start it with ``server.run(sockets=[bind_socket(...)])``.

    ``configure_logging=False`` leaves the host process's logging alone (in-process use).
    """
    config = uvicorn.Config(
        app,
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        http=DroppingHttpToolsProtocol,
        lifespan="off",
        log_level=log_level,
        access_log=access_log,
        ws="none",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


__all__ = ["DroppingH11Protocol", "DroppingHttpToolsProtocol", "bind_socket", "build_server"]
