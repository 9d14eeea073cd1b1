"""Stored observations and the bulk health snapshot, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from certrotor.crypto import utcnow
from certrotor.store import Store, VersionState
from certrotor.store import observations as stored
from certrotor.store.observations import Observation

from ._factories import make_pair, make_spec


def _current(store: Store, name: str, certificate_id: str) -> None:
    key, certificate = make_pair()
    version = store.add_version(name, key, certificate, VersionState.PENDING)
    version = store.set_remote_certificate_id(version, certificate_id, state=VersionState.UPLOADED)
    store.activate(name, version)


class TestSnapshots:
    def test_json_lists_come_back_as_tuples_of_what_was_saved(self, store: Store) -> None:
        """Scopes and certificate ID lists survive the bulk read (read as text, parsed once each)."""
        store.add_credential(make_spec("orders", scopes=("restlets", "rest_webservices")))
        store.add_credential(make_spec("billing"))
        _current(store, "orders", "cert-1")
        _current(store, "billing", "cert-2")
        now = utcnow()
        stored.save(
            store,
            [
                Observation(
                    "orders", now, "active", certificate_id="cert-1", foreign_certificate_ids=("x", "y")
                ),
                Observation("billing", now, "active", certificate_id="cert-2", pending_adoption_ids=("p",)),
            ],
        )
        by_name = {s.credential.name: s for s in stored.snapshots(store)}
        orders, billing = by_name["orders"], by_name["billing"]
        assert orders.credential.scopes == ("restlets", "rest_webservices")
        assert orders.observation is not None
        assert billing.observation is not None
        assert orders.observation.foreign_certificate_ids == ("x", "y")
        assert orders.observation.pending_adoption_ids == ()
        assert billing.observation.pending_adoption_ids == ("p",)
        assert billing.observation.foreign_certificate_ids == ()

    def test_each_snapshot_matches_what_the_store_reads_one_by_one(self, store: Store) -> None:
        """The bulk read and the per-credential reads agree: credential, current version, observation."""
        for name in ("a1", "a2", "a3"):
            store.add_credential(make_spec(name))
            _current(store, name, f"cert-{name}")
        observed_at = utcnow() - dt.timedelta(minutes=5)
        stored.save(
            store, [Observation("a2", observed_at, "revoked", certificate_id="cert-a2", error="boom")]
        )
        snapshots = stored.snapshots(store)
        assert [s.credential.name for s in snapshots] == ["a1", "a2", "a3"]
        for snapshot in snapshots:
            assert snapshot.credential == store.get_credential(snapshot.credential.name)
            assert snapshot.current == store.current_version(snapshot.credential.name)
            assert snapshot.key_decryptable
            assert not snapshot.rotation_open
        assert stored.snapshots(store, ["a2"])[0].observation == stored.latest(store, ["a2"])["a2"]
