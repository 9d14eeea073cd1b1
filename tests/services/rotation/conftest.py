"""Fixtures of the rotation tests: the service world (from ``services``) and a record credential with its
receiver (the record tests' own fixtures, so both kinds rotate on the same footing)."""

from __future__ import annotations

from records.conftest import certrotor_env, credential, receiver_url, records, runtime

__all__ = ["certrotor_env", "credential", "receiver_url", "records", "runtime"]
