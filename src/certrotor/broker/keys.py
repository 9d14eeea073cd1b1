"""Application keys: made here (random, shown once), kept as SHA-256, recognised per request from memory.

A key is ``crk_`` and 43 random base64url characters (256 bits). Such a key cannot be guessed, so
a plain SHA-256 is as good as a slow password hash for it and costs a microsecond per request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from certrotor.store import Store
from certrotor.store.broker_keys import BrokerKey, StoreChanges

KEY_PREFIX = "crk_"
_PREFIX_SHOWN = len(KEY_PREFIX) + 4


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: ``key`` is shown to the user once and never stored."""

    key: str
    record: BrokerKey

    def __repr__(self) -> str:
        return f"NewKey(app={self.record.app!r}, key=<redacted>)"


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store: Store, app: str, credentials: Sequence[str]) -> NewKey:
    """Make a key for ``app`` reaching ``credentials``; the store keeps only its hash and first characters."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = store.add_broker_key(
        app, credentials, key_sha256=key_sha256(key), key_prefix=key[:_PREFIX_SHOWN]
    )
    return NewKey(key=key, record=record)


class KeyRing:
    """The live keys by hash, re-read from the store only when the store changed."""

    def __init__(self, store: Store, changes: StoreChanges) -> None:
        self._store = store
        self._changes = changes
        self._by_hash: dict[str, BrokerKey] = {}
        self._seen: int | None = None

    def lookup(self, presented: str) -> BrokerKey | None:
        """The live key whose hash matches ``presented``, or ``None``.

        Runs on the event loop: a re-read happens only after a commit (a new or revoked key, a
        rotation) and costs one small query.
        """
        version = self._changes.value()
        if version != self._seen:
            self._by_hash = {key.key_sha256: key for key in self._store.broker_keys()}
            self._seen = version
        return self._by_hash.get(key_sha256(presented))
