"""The token broker: applications get NetSuite access tokens, or authenticated calls, without a key.

The server side (``app``, ``server``, ``tokens``, ``proxy``, ``keys``) runs as ``certrotor broker
serve`` or inside the daemon; applications use :class:`BrokerAuth` (this import stays light).
"""

from __future__ import annotations

from certrotor.broker.client import BrokerAuth, BrokerRefusedError

__all__ = ["BrokerAuth", "BrokerRefusedError"]
