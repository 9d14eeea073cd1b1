"""``BrokerAuth``: an application calls NetSuite with the broker's tokens, sync and async, TCP and socket."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx2
import pytest
import time_machine

from certrotor.broker import BrokerAuth, BrokerRefusedError
from certrotor.broker.app import Broker, BrokerSettings, create_broker_app
from certrotor.broker.keys import create_key
from certrotor.broker.server import running_broker
from services._support import ServiceWorld

from ._support import RunningBroker, token_grants


def _record_url(world: ServiceWorld) -> str:
    return world.emulator.base_url + "/services/rest/record/v1/employee/1"


class TestBrokerAuth:
    def test_sync_calls_share_one_cached_token(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """Many calls through one BrokerAuth: one broker-side token request, every call authorised."""
        key = broker.add_key("crm", "sales")
        before = token_grants(world.emulator)
        with BrokerAuth(broker.url, key, "sales") as auth, httpx2.Client(auth=auth, timeout=30) as client:
            statuses = [client.get(_record_url(world)).status_code for _ in range(5)]
        assert statuses == [200] * 5
        assert token_grants(world.emulator) == before + 1

    def test_async_calls(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """An AsyncClient with BrokerAuth: concurrent calls, one token."""
        key = broker.add_key("crm", "sales")
        before = token_grants(world.emulator)

        async def calls() -> list[int]:
            auth = BrokerAuth(broker.url, key, "sales")
            async with httpx2.AsyncClient(auth=auth, timeout=30) as client:
                responses = await asyncio.gather(*(client.get(_record_url(world)) for _ in range(20)))
            return [response.status_code for response in responses]

        assert asyncio.run(calls()) == [200] * 20
        assert token_grants(world.emulator) == before + 1

    def test_a_401_reports_the_token_and_retries_with_a_fresh_one(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """NetSuite refuses the token: BrokerAuth invalidates it at the broker and retries once."""
        key = broker.add_key("crm", "sales")
        with BrokerAuth(broker.url, key, "sales") as auth, httpx2.Client(auth=auth, timeout=30) as client:
            assert client.get(_record_url(world)).status_code == 200
            with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2), tick=True):
                before = token_grants(world.emulator)
                assert client.get(_record_url(world)).status_code == 200
                assert token_grants(world.emulator) == before + 1

    def test_a_refusal_is_an_error_with_the_brokers_message(self, broker: RunningBroker) -> None:
        """A key without the credential: BrokerRefusedError carrying status, code and message."""
        key = broker.add_key("crm", "sales")
        with BrokerAuth(broker.url, key, "billing") as auth, pytest.raises(BrokerRefusedError) as refused:
            auth.token()
        assert (refused.value.status_code, refused.value.error) == (403, "not_granted")
        assert "may not use the credential 'billing'" in str(refused.value)
        assert key not in repr(auth)

    def test_over_a_unix_socket(self, world: ServiceWorld, tmp_path: Path) -> None:
        """``unix:PATH``: the broker's socket is private to its owner and serves tokens."""
        socket_path = tmp_path / "broker.sock"
        broker = Broker(world.runtime(), BrokerSettings(audit_interval=3600))
        with running_broker(create_broker_app(broker), socket_path=socket_path) as url:
            assert url == f"unix:{socket_path}"
            assert socket_path.stat().st_mode & 0o777 == 0o600
            key = create_key(world.store, "crm", ["sales"]).key
            with BrokerAuth(url, key, "sales") as auth, httpx2.Client(auth=auth, timeout=30) as client:
                assert client.get(_record_url(world)).status_code == 200
        assert not socket_path.exists()
