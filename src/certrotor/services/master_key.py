"""The master key's life: show its id, export it, and rotate it (every secret re-sealed in one transaction).

``rotate`` writes the new key beside the key file, re-seals and records it in one transaction, and
only then renames it over the key file; killed anywhere, every secret opens under exactly one of the
two keys, and the next command finishes or forgets the half-done rotation
(:func:`certrotor.store.sealed.master_key_for`). Fault points (test-only, ``CERTROTOR_FAULT_POINT``):
``after:master-key-written``, ``before:master-key-commit``, ``after:master-key-commit``,
``after:master-key-replaced``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from certrotor.errors import InputError
from certrotor.keyvault import (
    MasterKey,
    export_key_file,
    pending_key_path,
    promote_pending_key_file,
    write_pending_key_file,
)
from certrotor.services.rotation.faults import fault_point
from certrotor.services.runtime import Runtime
from certrotor.store import EventOutcome
from certrotor.store.sealed import master_key_for

ACTOR = "cli"
WRITTEN, COMMIT, REPLACED = "master-key-written", "master-key-commit", "master-key-replaced"
FAULT_POINTS = (f"after:{WRITTEN}", f"before:{COMMIT}", f"after:{COMMIT}", f"after:{REPLACED}")


@dataclass(frozen=True, slots=True)
class MasterKeyInfo:
    """The key in use and what the store records (ids only, never the key)."""

    key_id: str
    recorded_key_id: str | None
    source: str
    """``CERTROTOR_MASTER_KEY`` or the key file's path."""
    sealed_secrets: int


def show(runtime: Runtime) -> MasterKeyInfo:
    store = runtime.store
    settings = runtime.settings
    source = "CERTROTOR_MASTER_KEY"
    if settings.master_key is None:
        source = str(settings.resolved_master_key_file)
    recorded = store.recorded_master_key_id()
    return MasterKeyInfo(store.master_key_id, recorded, source, store.sealed_secret_count())


def export(runtime: Runtime, destination: Path) -> str:
    """Write the master key to ``destination`` (a new file, mode 0600); returns the key id."""
    store = runtime.store  # opened (and checked against the store) first: export only the right key
    export_key_file(master_key_for(runtime.settings), destination)
    store.append_event(None, ACTOR, "master-key-export", EventOutcome.OK, {"key_id": store.master_key_id})
    return store.master_key_id


@dataclass(frozen=True, slots=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    resealed: int
    key_file: Path


def rotate(runtime: Runtime) -> RotationResult:
    """Re-seal every secret under a new key in one transaction; the old key file stays until the commit."""
    settings = runtime.settings
    if settings.master_key is not None:
        raise InputError(
            "The master key comes from CERTROTOR_MASTER_KEY, which certrotor cannot rewrite.",
            hint="unset CERTROTOR_MASTER_KEY and keep the key in a file (`certrotor master-key export "
            "FILE`, then CERTROTOR_MASTER_KEY_FILE=FILE) before rotating it.",
        )
    store = runtime.store
    old_key_id = store.master_key_id
    key_file = settings.resolved_master_key_file
    new_key = MasterKey.generate()
    write_pending_key_file(key_file, new_key)
    fault_point("after", WRITTEN)
    try:
        resealed = store.reseal_secrets(new_key, before_commit=lambda: fault_point("before", COMMIT))
    except BaseException:
        pending_key_path(key_file).unlink(missing_ok=True)
        raise
    fault_point("after", COMMIT)
    promote_pending_key_file(key_file)
    fault_point("after", REPLACED)
    store.append_event(
        None,
        ACTOR,
        "master-key-rotate",
        EventOutcome.OK,
        {"old_key_id": old_key_id, "new_key_id": new_key.key_id, "resealed": resealed},
    )
    return RotationResult(old_key_id, new_key.key_id, resealed, key_file)


__all__ = ["FAULT_POINTS", "MasterKeyInfo", "RotationResult", "export", "rotate", "show"]
