"""Management access over the fallback chain: what it refuses before anything leaves the machine."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from certrotor.errors import InputError
from certrotor.services.management_auth import ManagementAccess

from ._support import ServiceWorld


class TestTransport:
    def test_a_certificate_is_never_used_over_plain_http_outside_loopback(self, world: ServiceWorld) -> None:
        """A store written before the rule (http:// off loopback, TLS on) gets no client assertion sent."""
        world.enrol("app")
        credential = world.store.get_credential("app")
        with world.store._write() as session:  # the store's own API refuses such a URL since the rule
            session.execute(
                text("UPDATE accounts SET base_url = :url WHERE account_id = :account"),
                {"url": "http://certrotor-test.invalid:8080", "account": credential.account_id},
            )
        moved = world.store.get_credential("app")
        current = world.store.current_version(moved)
        assert current is not None
        assert moved.verify_tls

        with pytest.raises(InputError, match=r"^Refusing the plain http:// base URL http://certrotor-test"):
            ManagementAccess(world.runtime()).m2m_auth(moved, current)
