"""Fixtures of the client tests: a fast retry policy, a key, a scripted server, a closed port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from certrotor.client import BearerTokenAuth, NetSuiteClient, RetryPolicy
from certrotor.crypto import KeySpec, PrivateKey, generate_private_key
from certrotor.emulator.testing import RunningEmulator

from ._scripted import ScriptedServer

FAST_RETRY = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.01, wait_jitter=0.0, timeout=20)
"""Real retries without waiting, so fault tests stay fast."""


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


@pytest.fixture(scope="session")
def ec_key() -> PrivateKey:
    return generate_private_key(KeySpec.EC_P256)


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def admin_client(emulator: RunningEmulator, fast_retry: RetryPolicy) -> Iterator[NetSuiteClient]:
    """A NetSuiteClient on the demo integration, authenticated with the bootstrap admin token."""
    with NetSuiteClient(
        emulator.endpoints,
        client_id=emulator.tenant.client_id,
        auth=BearerTokenAuth(emulator.tenant.admin_token),
        timeout=10,
        retry=fast_retry,
    ) as client:
        yield client
