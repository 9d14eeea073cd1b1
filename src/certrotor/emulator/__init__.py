"""A NetSuite-compatible emulator: token, authorization and certificate endpoints over real HTTP.

Shares only ``certrotor.errors``, ``certrotor.crypto``, ``certrotor.protocol`` and the socket
binding of ``certrotor.listening`` with the rest. Layers: ``records`` (record files, signed imports)
below ``state/`` (SQLite, one module per concern) below ``tokens`` and ``runtime``, below ``routes/*``
and ``middleware``, assembled by ``app.create_app``; ``server``, ``testing`` and ``cli`` run it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certrotor.emulator.app import create_app
    from certrotor.emulator.config import EmulatorConfig
    from certrotor.emulator.state import EmulatorState
    from certrotor.emulator.tenant import DemoTenant, init_demo

__all__ = ["DemoTenant", "EmulatorConfig", "EmulatorState", "create_app", "init_demo"]

_HOMES = {
    "DemoTenant": "tenant",
    "EmulatorConfig": "config",
    "EmulatorState": "state",
    "create_app": "app",
    "init_demo": "tenant",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so that mounting the CLI does not load FastAPI."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"certrotor.emulator.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'certrotor.emulator' has no attribute {name!r}")
