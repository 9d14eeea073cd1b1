"""Tests of scheduling claims and leases: no credential is ever handed to two holders at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from certrotor.crypto import utcnow
from certrotor.errors import CredentialBusyError, InputError, LeaseLostError, NotFoundError
from certrotor.store import Store
from certrotor.store.repository import _due_query

from ._factories import make_spec

CLAIMER = Path(__file__).with_name("_claimer.py")


def _add_due(store: Store, count: int, *, now: dt.datetime) -> list[str]:
    names = [f"cred-{index:04d}" for index in range(count)]
    store.add_credentials([make_spec(name) for name in names])
    for index, name in enumerate(names):
        store.set_schedule(name, now - dt.timedelta(seconds=count - index), 0, None)
    return names


class TestClaimDue:
    def test_claims_soonest_first_and_sets_the_lease(self, store) -> None:
        """claim_due leases the most overdue credentials to the owner."""
        now = utcnow()
        names = _add_due(store, 5, now=now)
        claimed = store.claim_due(now, "daemon-a", lease_seconds=60, limit=2)
        assert [c.name for c in claimed] == names[:2]
        assert all(c.lease_owner == "daemon-a" for c in claimed)
        assert all(c.lease_expires_at == now + dt.timedelta(seconds=60) for c in claimed)

    def test_leased_credentials_are_not_due_until_the_lease_expires(self, store) -> None:
        """A leased credential is skipped by others, and due again once its lease expired."""
        now = utcnow()
        _add_due(store, 3, now=now)
        first = store.claim_due(now, "daemon-a", lease_seconds=60, limit=10)
        assert len(first) == 3
        assert store.claim_due(now, "daemon-b", lease_seconds=60, limit=10) == []
        assert store.due_credentials(now) == []
        later = now + dt.timedelta(seconds=61)
        assert len(store.due_credentials(later)) == 3
        taken = store.claim_due(later, "daemon-b", lease_seconds=60, limit=10)
        assert {c.lease_owner for c in taken} == {"daemon-b"}

    def test_not_due_and_removed_are_never_claimed(self, store) -> None:
        """Future, unplanned and removed credentials are not claimed."""
        now = utcnow()
        store.add_credential(make_spec("future"))
        store.set_schedule("future", now + dt.timedelta(hours=1), 0, None)
        store.add_credential(make_spec("unplanned"))
        store.add_credential(make_spec("removed"))
        store.set_schedule("removed", now - dt.timedelta(hours=1), 0, None)
        store.remove_credential("removed")
        assert store.claim_due(now, "daemon-a", lease_seconds=60, limit=10) == []

    def test_owner_must_be_named(self, store) -> None:
        """An empty owner is refused."""
        with pytest.raises(InputError):
            store.claim_due(utcnow(), " ", lease_seconds=60, limit=1)

    def test_threads_never_share_a_credential(self, store_url, master_key) -> None:
        """Four threads with their own connections claim 60 due credentials: each exactly once."""
        now = utcnow()
        with Store.open(store_url, master_key) as setup:
            names = _add_due(setup, 60, now=now)
        stores = [Store.open(store_url, master_key) for _ in range(4)]
        start = threading.Barrier(len(stores))
        results: dict[int, list[str]] = {}

        def work(index: int) -> None:
            start.wait(timeout=30)
            claimed: list[str] = []
            for _round in range(100):
                batch = stores[index].claim_due(now, f"worker-{index}", 600, limit=4)
                if not batch:
                    break
                claimed.extend(c.name for c in batch)
            results[index] = claimed

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        finally:
            for opened in stores:
                opened.close()
        counts = Counter(name for claimed in results.values() for name in claimed)
        assert sorted(counts) == names
        assert set(counts.values()) == {1}
        assert len(results) == len(stores)

    @pytest.mark.slow
    def test_processes_never_share_a_credential(self, store_url, master_key) -> None:
        """Three processes claiming 30 due credentials at once get disjoint sets covering all."""
        now = utcnow()
        with Store.open(store_url, master_key) as setup:
            names = _add_due(setup, 30, now=now)
        env = {**os.environ, "CERTROTOR_MASTER_KEY": master_key.to_base64url()}
        processes = [
            subprocess.Popen(
                [sys.executable, str(CLAIMER), store_url, f"process-{index}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for index in range(3)
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            outputs = [process.communicate(timeout=120)[0] for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        assert [process.returncode for process in processes] == [0, 0, 0]
        counts = Counter(name for output in outputs for name in json.loads(output))
        assert sorted(counts) == names
        assert set(counts.values()) == {1}


class TestManualClaim:
    def test_claim_renew_release(self, store) -> None:
        """A manual claim leases one credential; renew extends it; release frees it."""
        store.add_credential(make_spec())
        now = utcnow()
        claimed = store.claim("orders", "cli-1", lease_seconds=30, now=now)
        assert (claimed.lease_owner, claimed.lease_expires_at) == (
            "cli-1",
            now + dt.timedelta(seconds=30),
        )
        assert store.claim("orders", "cli-1", lease_seconds=30, now=now).lease_owner == "cli-1"
        renewed = store.renew_lease("orders", "cli-1", lease_seconds=90, now=now)
        assert renewed.lease_expires_at == now + dt.timedelta(seconds=90)
        assert store.release("orders", "cli-1") is True
        assert store.release("orders", "cli-1") is False
        assert store.get_credential("orders").lease_owner is None

    def test_claim_refused_while_another_holds_it(self, store) -> None:
        """Claiming a credential another holder leases raises CredentialBusyError naming it."""
        store.add_credential(make_spec())
        now = utcnow()
        store.claim("orders", "daemon-a", lease_seconds=60, now=now)
        with pytest.raises(CredentialBusyError) as caught:
            store.claim("orders", "cli-1", lease_seconds=60, now=now)
        assert isinstance(caught.value, LeaseLostError)
        assert "daemon-a" in caught.value.message
        assert store.release("orders", "cli-1") is False
        assert store.get_credential("orders").lease_owner == "daemon-a"

    def test_expired_lease_can_be_taken_over_and_is_then_lost(self, store) -> None:
        """After expiry another holder may claim; the old holder's renew raises LeaseLostError."""
        store.add_credential(make_spec())
        now = utcnow()
        store.claim("orders", "daemon-a", lease_seconds=10, now=now)
        later = now + dt.timedelta(seconds=11)
        store.claim("orders", "daemon-b", lease_seconds=60, now=later)
        with pytest.raises(LeaseLostError):
            store.renew_lease("orders", "daemon-a", lease_seconds=60, now=later)
        assert store.renew_lease("orders", "daemon-b", 60, now=later).lease_owner == "daemon-b"

    def test_expired_lease_nobody_took_can_be_renewed(self, store) -> None:
        """A lease past expiry that no one else claimed is still the holder's to renew."""
        store.add_credential(make_spec())
        now = utcnow()
        store.claim("orders", "daemon-a", lease_seconds=10, now=now)
        later = now + dt.timedelta(seconds=30)
        renewed = store.renew_lease("orders", "daemon-a", lease_seconds=10, now=later)
        assert renewed.lease_expires_at == later + dt.timedelta(seconds=10)

    def test_renew_without_lease_is_lost(self, store) -> None:
        """Renewing a lease never held raises LeaseLostError."""
        store.add_credential(make_spec())
        with pytest.raises(LeaseLostError):
            store.renew_lease("orders", "daemon-a", lease_seconds=10)

    def test_unknown_credential(self, store) -> None:
        """Claiming an unknown name raises NotFoundError."""
        with pytest.raises(NotFoundError):
            store.claim("nope", "cli-1", lease_seconds=10)


class TestDueIndex:
    def test_sqlite_due_query_uses_the_index(self, sqlite_url, master_key) -> None:
        """SQLite plans the due selection through ix_credentials_due, not a table scan."""
        now = utcnow()
        with Store.open(sqlite_url, master_key) as store:
            _add_due(store, 50, now=now)
            compiled = _due_query(now).limit(100).compile(dialect=store._engine.dialect)
            params = compiled.construct_params()
            positional = tuple(str(params[name]) for name in compiled.positiontup or ())
            with store._engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional).fetchall()
        details = " | ".join(str(row[-1]) for row in plan)
        assert "ix_credentials_due" in details

    @pytest.mark.postgres
    def test_postgresql_due_query_uses_the_index(self, clean_postgres_url, master_key) -> None:
        """PostgreSQL answers the due selection among many planned credentials from ix_credentials_due."""
        now = utcnow()
        with Store.open(clean_postgres_url, master_key) as store:
            store.add_credentials([make_spec(f"cred-{index:04d}") for index in range(600)])
            with store._engine.begin() as connection:
                # Spread the plans over the coming days; only a handful are due.
                connection.execute(
                    text("UPDATE credentials SET next_rotation_at = now() + (id - 5) * interval '1 minute'")
                )
                connection.execute(text("ANALYZE credentials"))
            compiled = _due_query(now).limit(100).compile(dialect=store._engine.dialect)
            with store._engine.connect() as connection:
                plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).fetchall()
        details = " | ".join(str(row[0]) for row in plan)
        assert "ix_credentials_due" in details
