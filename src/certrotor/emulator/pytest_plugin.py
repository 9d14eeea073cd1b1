"""pytest plugin (entry point ``pytest11``): the ``netsuite_emulator`` fixture, a NetSuite to test against.

::

    def test_my_m2m_client(netsuite_emulator):
        certificate_id = netsuite_emulator.upload_certificate(my_certificate_pem)
        token = my_client.token(netsuite_emulator.endpoints.token_url, certificate_id)

The fixture is a :class:`~certrotor.emulator.testing.RunningEmulator` on 127.0.0.1: its demo account,
integration (``tenant.client_id``), entity, role and admin token, its ``base_url`` and ``endpoints``, and
the controls ``set_faults``, ``set_config`` and ``set_integration``. Each test gets a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certrotor.emulator.testing import RunningEmulator, serve_emulator


@pytest.fixture
def netsuite_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A running NetSuite emulator with a demo tenant, on a free loopback port, stopped after the test."""
    with serve_emulator(tmp_path_factory.mktemp("netsuite-emulator") / "emulator.db") as running:
        yield running
