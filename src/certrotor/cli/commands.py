"""Registers the sub-commands that need the store, the client or the services."""

from __future__ import annotations
