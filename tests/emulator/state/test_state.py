"""The emulator's state as a whole: identifiers, opening, persistence, bulk set-up, replay memory, threads."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from pathlib import Path

import pytest

from certrotor.crypto import utcnow
from certrotor.emulator.state import (
    EmulatorState,
    NewCertificate,
    TokenGrant,
    new_certificate_id,
    new_client_id,
)
from certrotor.emulator.tenant import ensure_demo_tenant
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError


class TestIdentifiers:
    def test_certificate_ids_are_base64url_of_32_bytes(self) -> None:
        """Certificate IDs are 43 base64url characters decoding to 32 bytes, all different."""
        ids = {new_certificate_id() for _ in range(200)}
        assert len(ids) == 200
        for certificate_id in ids:
            assert len(certificate_id) == 43
            assert len(base64.urlsafe_b64decode(certificate_id + "=")) == 32

    def test_leading_dash_ids_stay_valid(self) -> None:
        """A forced leading '-' still decodes to 32 bytes."""
        certificate_id = new_certificate_id(leading_dash=True)
        assert certificate_id.startswith("-")
        assert len(base64.urlsafe_b64decode(certificate_id + "=")) == 32

    def test_client_ids_are_hex(self) -> None:
        """Client IDs are 64 hexadecimal characters, like NetSuite's."""
        client_id = new_client_id()
        assert len(client_id) == 64
        int(client_id, 16)


class TestOpening:
    def test_directory_is_refused(self, tmp_path: Path) -> None:
        """A directory as state path gets a clear error."""
        with pytest.raises(InputError, match="is a directory"):
            EmulatorState.open(tmp_path)

    def test_missing_parent_is_refused(self, tmp_path: Path) -> None:
        """A state path in a missing directory gets a clear error."""
        with pytest.raises(InputError, match="does not exist"):
            EmulatorState.open(tmp_path / "missing" / "state.db")

    def test_foreign_file_is_refused_untouched(self, tmp_path: Path) -> None:
        """A file that is not SQLite is refused and left as it was."""
        path = tmp_path / "notes.txt"
        path.write_text("hello\n" * 100)
        with pytest.raises(InputError, match="is not an emulator state"):
            EmulatorState.open(path)
        assert path.read_text() == "hello\n" * 100

    def test_everything_persists_across_reopening(self, tmp_path: Path) -> None:
        """Tenant, signing key and counters survive closing and reopening the file."""
        first = EmulatorState.open(tmp_path / "state.db")
        tenant = ensure_demo_tenant(first)
        kid, _key = first.grants.signing_key()
        first.counters.increment("uploads", "x", 2)
        first.close()
        second = EmulatorState.open(tmp_path / "state.db")
        try:
            assert ensure_demo_tenant(second) == tenant
            assert second.grants.signing_key()[0] == kid
            assert second.counters.all()["uploads"] == {"x": 2}
        finally:
            second.close()


class TestTenantsAndCertificates:
    def test_duplicate_names_are_refused(self, state: EmulatorState) -> None:
        """Accounts, entity IDs and role IDs are unique within their scope."""
        state.tenants.create_account("ACME1", company_id="1")
        with pytest.raises(AlreadyExistsError):
            state.tenants.create_account("ACME1")
        state.tenants.create_entity("ACME1", "Someone", entity_id=7)
        with pytest.raises(AlreadyExistsError):
            state.tenants.create_entity("ACME1", "Someone else", entity_id=7)
        state.tenants.create_role("ACME1", "Admin", role_id=3)
        with pytest.raises(AlreadyExistsError):
            state.tenants.create_role("ACME1", "Admin", role_id=3)

    def test_unknown_account_is_not_found(self, state: EmulatorState) -> None:
        """Working on an account that does not exist says so."""
        with pytest.raises(NotFoundError, match="does not exist"):
            state.tenants.create_integration("NOPE", "Integration")

    def test_bulk_combinations(self, state: EmulatorState) -> None:
        """250 new (entity, role) pairs are created, distinct and mapped, in one transaction."""
        tenant = ensure_demo_tenant(state)
        pairs = state.tenants.add_combinations(tenant.client_id, 250)
        assert len(set(pairs)) == 250
        assert len({entity for entity, _role in pairs}) == 250
        shared = state.tenants.add_combinations(tenant.client_id, 3, role_id=3)
        assert {role for _entity, role in shared} == {3}

    def test_datetimes_come_back_aware_utc(self, state: EmulatorState) -> None:
        """Stored instants come back as the same instants, aware and in UTC."""
        tenant = ensure_demo_tenant(state)
        moment = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        stored = state.certificates.upload(
            tenant.client_id,
            entity_id=7,
            role_id=3,
            certificate=NewCertificate(
                pem="pem", fingerprint="f" * 64, algorithm="EC", valid_from=moment, valid_until=moment
            ),
            now=moment,
            max_active_per_integration=5,
            max_active_per_combination=None,
        )
        found = state.certificates.find(stored.certificate_id)
        assert found is not None
        assert found.valid_from == moment
        assert found.valid_from.tzinfo == dt.UTC
        assert found.valid_from.hour == 1


class TestReplayMemory:
    def test_spent_assertion_is_forgotten_after_expiry(self, state: EmulatorState) -> None:
        """A spent key is refused until it expires, then purged."""
        now = utcnow()
        assert state.grants.consume_assertion("a", expires_at=now + dt.timedelta(minutes=5), now=now)
        assert not state.grants.consume_assertion("a", expires_at=now + dt.timedelta(minutes=5), now=now)
        later = now + dt.timedelta(minutes=6)
        assert state.grants.consume_assertion("a", expires_at=later + dt.timedelta(minutes=5), now=later)

    def test_only_one_thread_spends_a_key(self, state: EmulatorState) -> None:
        """Eight threads racing to spend one key: exactly one wins."""
        now = utcnow()
        results: list[bool] = []
        barrier = threading.Barrier(8)

        def spend() -> None:
            barrier.wait(timeout=10)
            results.append(
                state.grants.consume_assertion("race", expires_at=now + dt.timedelta(minutes=1), now=now)
            )

        threads = [threading.Thread(target=spend) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(results) == [False] * 7 + [True]


class TestWriteBehind:
    def test_spent_assertions_tokens_and_counts_reach_the_file(self, tmp_path: Path) -> None:
        """Spent keys (a re-spent one with its later expiry), issued tokens and grant counts written
        behind are what another emulator over the same file reads."""
        now = utcnow()
        later = now + dt.timedelta(minutes=6)
        first = EmulatorState.open(tmp_path / "state.db")
        try:
            tenant = ensure_demo_tenant(first)
            integration = first.tenants.find_integration(tenant.client_id)
            entity = first.tenants.find_entity(tenant.account_id, tenant.entity_id)
            role = first.tenants.find_role(tenant.account_id, tenant.role_id)
            assert integration is not None
            assert entity is not None
            assert role is not None
            grant = TokenGrant(integration=integration, entity=entity, role=role, scopes=("restlets",))
            assert first.grants.consume_assertion("a", expires_at=now + dt.timedelta(minutes=5), now=now)
            first.database.flush()
            assert first.grants.consume_assertion("a", expires_at=later + dt.timedelta(minutes=5), now=later)
            assert first.grants.consume_assertion("b", expires_at=later + dt.timedelta(minutes=5), now=later)
            for jti in ("t1", "t2"):
                first.grants.store_issued_token(
                    jti=jti,
                    kind="access",
                    grant=grant,
                    issued_at=now,
                    expires_at=later,
                    counter="client_credentials",
                )
        finally:
            first.close()
        second = EmulatorState.open(tmp_path / "state.db")
        try:
            for key in ("a", "b"):
                assert not second.grants.consume_assertion(key, expires_at=later, now=later)
            token = second.grants.find_token("t2")
            assert token is not None
            assert (token.grant.scopes, token.expires_at, token.revoked) == (("restlets",), later, False)
            assert second.counters.all()["token_grants"] == {"client_credentials": 2}
        finally:
            second.close()

    def test_revocation_by_another_process_is_seen_once_written(self, tmp_path: Path) -> None:
        """A token revoked through another state over the same file is revoked for the one that
        issued it, once its write-behind reached the file."""
        now = utcnow()
        issuer = EmulatorState.open(tmp_path / "state.db")
        other = EmulatorState.open(tmp_path / "state.db")
        try:
            tenant = ensure_demo_tenant(issuer)
            integration = issuer.tenants.find_integration(tenant.client_id)
            entity = issuer.tenants.find_entity(tenant.account_id, tenant.entity_id)
            role = issuer.tenants.find_role(tenant.account_id, tenant.role_id)
            assert integration is not None
            assert entity is not None
            assert role is not None
            grant = TokenGrant(integration=integration, entity=entity, role=role, scopes=("restlets",))
            issuer.grants.store_issued_token(
                jti="t", kind="access", grant=grant, issued_at=now, expires_at=now + dt.timedelta(hours=1)
            )
            issuer.database.flush()
            assert other.grants.revoke_token("t")
            found = issuer.grants.find_token("t")
            assert found is not None
            assert found.revoked
        finally:
            other.close()
            issuer.close()
