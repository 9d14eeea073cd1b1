"""A NetSuite-compatible emulator: token, authorization and certificate endpoints over real HTTP.

Shares only ``certrotor.errors``, ``certrotor.crypto`` and ``certrotor.protocol`` with the rest.
Layers: ``state`` (SQLite) below ``tokens`` and ``runtime`` below ``routes/*`` and ``middleware``,
assembled by ``app.create_app``; ``server``, ``testing`` and ``cli`` run it.
"""

from __future__ import annotations

from certrotor.emulator.app import create_app
from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import DemoTenant, init_demo

__all__ = ["DemoTenant", "EmulatorConfig", "EmulatorState", "create_app", "init_demo"]
