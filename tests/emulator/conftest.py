"""Fixtures of the emulator tests: HTTP callers on a fresh or a module-wide emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certrotor.crypto import KeySpec, PrivateKey, generate_private_key
from certrotor.emulator.testing import RunningEmulator, serve_emulator

from ._support import Caller, open_caller


@pytest.fixture
def caller(emulator: RunningEmulator) -> Iterator[Caller]:
    """A caller on a fresh emulator (for tests that change state)."""
    with open_caller(emulator) as opened:
        yield opened


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator for a whole module of refusal tests, which must leave it unchanged anyway."""
    with serve_emulator(tmp_path_factory.mktemp("emulator") / "emulator.db") as running:
        yield running


@pytest.fixture
def shared_caller(shared_emulator: RunningEmulator) -> Iterator[Caller]:
    with open_caller(shared_emulator) as opened:
        yield opened


@pytest.fixture(scope="session")
def rsa_key() -> PrivateKey:
    """One RSA 3072 key for the session: RSA key generation is slow."""
    return generate_private_key(KeySpec.RSA_3072)
