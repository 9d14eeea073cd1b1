"""certrotor keeps Oracle NetSuite OAuth 2.0 M2M certificates valid with no human in the loop.

The public API below is imported on first use (``certrotor --version`` stays light). As a library
certrotor prints nothing: its loggers live under ``certrotor.*`` and only the CLI and the daemon
install handlers; an application sees certrotor's records once it configures ``logging`` itself.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

# Without this, Python's last-resort handler would print certrotor's warnings to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# Where each public name lives (no import statement here: the package root stays outside the layers).
_PUBLIC = {
    "BearerTokenAuth": "certrotor.client",
    "CertrotorError": "certrotor.errors",
    "DeliveredCredential": "certrotor.delivered",
    "M2MAuth": "certrotor.client",
    "NetSuiteClient": "certrotor.client",
    "NetSuiteEndpoints": "certrotor.protocol.urls",
    "read_delivered": "certrotor.delivered",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'certrotor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BearerTokenAuth",
    "CertrotorError",
    "DeliveredCredential",
    "M2MAuth",
    "NetSuiteClient",
    "NetSuiteEndpoints",
    "__version__",
    "read_delivered",
]
