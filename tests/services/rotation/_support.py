"""What the rotation tests share: a rotator on a world, one rotation's audit actions, recording hooks."""

from __future__ import annotations

import random
import stat
from pathlib import Path

from certrotor import crypto
from certrotor.services.rotation import Rotator, delivery_directory
from certrotor.store import RotationTrigger

from .._support import ServiceWorld

MANUAL = RotationTrigger.MANUAL
SCHEDULE = RotationTrigger.SCHEDULE


def rotator(world: ServiceWorld, seed: int = 7) -> Rotator:
    return Rotator(world.runtime(), owner="test:1:rotator", actor="test", rng=random.Random(seed))


def actions(world: ServiceWorld, name: str, rotation_id: int) -> list[str]:
    """The audit actions of one rotation, oldest first."""
    events = world.store.events(name, limit=500)
    return [e.action for e in reversed(events) if e.detail.get("rotation") == rotation_id]


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def recording_hook(path: Path) -> str:
    """A hook command that writes the environment it was given into ``path``."""
    return f"sh -c 'env > \"$1\"' hook {path}"


def assert_delivered(world: ServiceWorld, name: str, hook_env: Path) -> None:
    """The current key, certificate and metadata are in 0600 files, and the hook saw their paths."""
    current = world.store.current_version(name)
    assert current is not None
    directory = delivery_directory(world.runtime(), world.store.get_credential(name))
    for file_name in ("key.pem", "cert.pem", "credential.json"):
        assert stat.S_IMODE((directory / file_name).stat().st_mode) == 0o600
    certificate = crypto.load_certificate_pem((directory / "cert.pem").read_bytes())
    assert crypto.fingerprint_sha256(certificate) == current.fingerprint_sha256
    key = crypto.load_private_key_pem((directory / "key.pem").read_bytes())
    assert crypto.keys_match(key, certificate)
    env = env_file(hook_env)
    assert env["CERTROTOR_CERTIFICATE_ID"] == current.certificate_id
    assert env["CERTROTOR_KEY_FILE"] == str(directory / "key.pem")
