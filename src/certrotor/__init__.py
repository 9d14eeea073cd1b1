"""certrotor keeps Oracle NetSuite OAuth 2.0 M2M certificates valid with no human in the loop."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
