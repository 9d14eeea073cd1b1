"""Tests of scheduling and leases: due credentials, and no credential handed to two live holders at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from certrotor.crypto import utcnow
from certrotor.errors import CredentialBusyError, InputError, LeaseLostError, NotFoundError
from certrotor.store import Store, default_owner, lease_holder_is_dead
from certrotor.store.leases import due_query

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
            compiled = due_query(now).limit(100).compile(dialect=store._engine.dialect)
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
            compiled = due_query(now).limit(100).compile(dialect=store._engine.dialect)
            with store._engine.connect() as connection:
                plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).fetchall()
        details = " | ".join(str(row[0]) for row in plan)
        assert "ix_credentials_due" in details


class TestSchedule:
    def test_set_schedule_and_due(self, store) -> None:
        """Due credentials are those planned at or before now, soonest first."""
        now = utcnow()
        for name, offset in (("late", -60), ("later", -10), ("future", 3600)):
            store.add_credential(make_spec(name))
            store.set_schedule(name, now + dt.timedelta(seconds=offset), 0, None)
        store.add_credential(make_spec("unplanned"))
        assert [c.name for c in store.due_credentials(now)] == ["late", "later"]
        assert [c.name for c in store.due_credentials(now, limit=1)] == ["late"]

    def test_failure_bookkeeping(self, store) -> None:
        """set_schedule records failed attempts, last error and last rotation time."""
        store.add_credential(make_spec())
        moment = utcnow().replace(microsecond=0)
        got = store.set_schedule("orders", moment, 3, "upload refused", last_rotation_at=moment)
        assert (got.failed_attempts, got.last_error, got.last_rotation_at) == (
            3,
            "upload refused",
            moment,
        )
        with pytest.raises(InputError):
            store.set_schedule("orders", moment, -1, None)

    def test_removed_credentials_are_never_due(self, store) -> None:
        """A removed credential leaves the due list."""
        now = utcnow()
        store.add_credential(make_spec())
        store.set_schedule("orders", now - dt.timedelta(seconds=1), 0, None)
        store.remove_credential("orders")
        assert store.due_credentials(now) == []

    def test_timestamps_are_aware_utc(self, store) -> None:
        """Datetimes come back timezone-aware in UTC whatever zone they went in with."""
        store.add_credential(make_spec())
        tokyo = dt.timezone(dt.timedelta(hours=9))
        planned = dt.datetime(2030, 1, 1, 9, 0, tzinfo=tokyo)
        got = store.set_schedule("orders", planned, 0, None)
        assert got.next_rotation_at == planned
        assert got.next_rotation_at.utcoffset() == dt.timedelta(0)

    def test_naive_datetimes_are_refused(self, store) -> None:
        """A naive datetime never reaches the database."""
        store.add_credential(make_spec())
        with pytest.raises(InputError, match="naive"):
            store.set_schedule("orders", dt.datetime(2030, 1, 1), 0, None)


def _finished_process_pid() -> int:
    """The PID of a process that has run and been reaped: nothing runs under it any more."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(finished.stdout)


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """A separate process that runs until the test ends (it waits for its stdin to close)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        yield process
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


class TestLeaseOwners:
    def test_default_owner_names_host_and_process(self) -> None:
        """default_owner is host:pid:random, different at every call."""
        host, pid, suffix = default_owner().split(":")
        assert (host, int(pid)) == (socket.gethostname(), os.getpid())
        assert len(suffix) == 8
        assert default_owner() != default_owner()

    def test_finished_local_process_is_dead(self) -> None:
        """An owner naming a local process that has ended is dead."""
        assert lease_holder_is_dead(f"{socket.gethostname()}:{_finished_process_pid()}:0badcafe") is True

    def test_running_local_processes_are_alive(self, live_process) -> None:
        """An owner naming a running local process (another one, or this one) is alive."""
        assert lease_holder_is_dead(f"{socket.gethostname()}:{live_process.pid}:0badcafe") is False
        assert lease_holder_is_dead(default_owner()) is False

    @pytest.mark.parametrize("owner", ["other-host.invalid:{pid}:0badcafe", "daemon-a", "{host}:x:1", ""])
    def test_other_hosts_and_unparsable_owners_count_as_alive(self, owner) -> None:
        """Another host's owner (even with a PID dead here) or a name without a PID is never dead."""
        pid = _finished_process_pid()
        assert lease_holder_is_dead(owner.format(pid=pid, host=socket.gethostname())) is False


class TestClaimTakingOverDead:
    def test_free_and_own_leases_are_claimed(self, store) -> None:
        """Without a holder, or held by the same owner, it claims like claim()."""
        store.add_credential(make_spec())
        now = utcnow()
        claimed = store.claim_taking_over_dead("orders", "cli-1", lease_seconds=30, now=now)
        assert (claimed.lease_owner, claimed.lease_expires_at) == ("cli-1", now + dt.timedelta(seconds=30))
        again = store.claim_taking_over_dead("orders", "cli-1", lease_seconds=60, now=now)
        assert again.lease_expires_at == now + dt.timedelta(seconds=60)

    def test_lease_of_a_finished_local_process_is_taken_over(self, store) -> None:
        """A live lease left by a local process that has ended goes to the new owner."""
        store.add_credential(make_spec())
        dead = f"{socket.gethostname()}:{_finished_process_pid()}:0badcafe"
        store.claim("orders", dead, lease_seconds=3600)
        with pytest.raises(CredentialBusyError):
            store.claim("orders", "cli-1", lease_seconds=60)
        taken = store.claim_taking_over_dead("orders", "cli-1", lease_seconds=60)
        assert taken.lease_owner == "cli-1"
        with pytest.raises(LeaseLostError):
            store.renew_lease("orders", dead, lease_seconds=60)

    def test_lease_of_a_killed_claimer_is_taken_over(self, store_url, master_key) -> None:
        """A process SIGKILLed while holding the lease (a crashed rotation) leaves it to be taken over."""
        with Store.open(store_url, master_key) as store:
            store.add_credential(make_spec())
        script = (
            "import os, signal, sys\n"
            "from certrotor.keyvault import MasterKey\n"
            "from certrotor.store import Store, default_owner\n"
            "store = Store.open(sys.argv[1], MasterKey.from_base64url(os.environ['CERTROTOR_MASTER_KEY']))\n"
            "print(store.claim('orders', default_owner(), 3600).lease_owner, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        env = {**os.environ, "CERTROTOR_MASTER_KEY": master_key.to_base64url()}
        crashed = subprocess.run(
            [sys.executable, "-c", script, store_url], capture_output=True, text=True, env=env, timeout=120
        )
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        holder = crashed.stdout.strip()
        with Store.open(store_url, master_key) as store:
            assert store.get_credential("orders").lease_owner == holder
            assert store.claim_taking_over_dead("orders", "cli-2", lease_seconds=60).lease_owner == "cli-2"

    def test_live_local_holder_is_refused(self, store, live_process) -> None:
        """The lease of a running local process is never taken: CredentialBusyError, lease unchanged."""
        store.add_credential(make_spec())
        alive = f"{socket.gethostname()}:{live_process.pid}:0badcafe"
        held = store.claim("orders", alive, lease_seconds=3600)
        with pytest.raises(CredentialBusyError) as caught:
            store.claim_taking_over_dead("orders", "cli-1", lease_seconds=60)
        assert alive in caught.value.message
        after = store.get_credential("orders")
        assert (after.lease_owner, after.lease_expires_at) == (alive, held.lease_expires_at)

    def test_holder_on_another_host_is_refused(self, store) -> None:
        """Another host's lease is refused even if its PID names no process here."""
        store.add_credential(make_spec())
        remote = f"other-host.invalid:{_finished_process_pid()}:0badcafe"
        store.claim("orders", remote, lease_seconds=3600)
        with pytest.raises(CredentialBusyError):
            store.claim_taking_over_dead("orders", "cli-1", lease_seconds=60)
        assert store.get_credential("orders").lease_owner == remote

    def test_unknown_credential_and_bad_owner(self, store) -> None:
        """An unknown name raises NotFoundError; an empty owner raises InputError."""
        with pytest.raises(NotFoundError):
            store.claim_taking_over_dead("nope", "cli-1", lease_seconds=10)
        store.add_credential(make_spec())
        with pytest.raises(InputError):
            store.claim_taking_over_dead("orders", " ", lease_seconds=10)
