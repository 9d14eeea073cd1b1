"""Listening TCP sockets for certrotor's servers (the emulator, the receiver): bound once, errors clear."""

from __future__ import annotations

import socket

from certrotor.errors import ConfigError


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one. Errors say what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it
    # Nagle's algorithm and delayed ACKs add 40 ms to every keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {error.strerror or error}.",
            hint="choose another --port (or 0 for any free one) or stop what uses it.",
        ) from None
    sock.set_inheritable(True)
    return sock
