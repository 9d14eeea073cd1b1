"""Tests of certificate versions in the store: sealed keys, states, remote IDs, activation."""

from __future__ import annotations

import pytest

from certrotor.crypto import fingerprint_sha256, keys_match, utcnow
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError, StoreError, TamperedDataError
from certrotor.store import VersionState

from ._factories import make_pair, make_spec


class TestVersions:
    def test_add_and_load_private_key(self, store) -> None:
        """A version keeps the certificate; its key decrypts to the same key."""
        credential = store.add_credential(make_spec())
        key, certificate = make_pair()
        version = store.add_version(credential, key, certificate)
        assert version.state is VersionState.PENDING
        assert version.fingerprint_sha256 == fingerprint_sha256(certificate)
        assert version.algorithm == "ES256"
        assert version.not_after == certificate.not_valid_after_utc
        assert version.certificate == certificate
        loaded = store.load_private_key(version.id)
        assert keys_match(loaded, certificate)
        assert store.get_version(version) == version

    def test_key_and_certificate_must_match(self, store) -> None:
        """A key that does not belong to the certificate is refused."""
        credential = store.add_credential(make_spec())
        key, _ = make_pair()
        _, certificate = make_pair()
        with pytest.raises(InputError):
            store.add_version(credential, key, certificate)
        assert store.versions(credential) == []

    def test_duplicate_certificate_refused(self, store) -> None:
        """The same certificate cannot be stored twice."""
        credential = store.add_credential(make_spec())
        key, certificate = make_pair()
        store.add_version(credential, key, certificate)
        with pytest.raises(AlreadyExistsError):
            store.add_version(credential, key, certificate)

    def test_cannot_add_as_current(self, store) -> None:
        """current is only reached through activate()."""
        credential = store.add_credential(make_spec())
        with pytest.raises(InputError):
            store.add_version(credential, *make_pair(), VersionState.CURRENT)

    def test_activate_swaps_current_and_previous(self, store) -> None:
        """activate makes the new version current and the old one previous, atomically."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        store.activate(credential, first.id)
        second = store.add_version(credential, *make_pair())
        activated = store.activate(credential, second.id)
        assert activated.state is VersionState.CURRENT
        assert activated.activated_at is not None
        assert store.get_version(first.id).state is VersionState.PREVIOUS
        assert store.current_version("orders") == activated
        assert store.activate(credential, second.id) == activated

    def test_activate_refuses_foreign_and_dead_versions(self, store) -> None:
        """A version of another credential, or a revoked one, cannot become current."""
        orders = store.add_credential(make_spec("orders"))
        billing = store.add_credential(make_spec("billing"))
        foreign = store.add_version(billing, *make_pair())
        with pytest.raises(InputError):
            store.activate(orders, foreign.id)
        revoked = store.add_version(orders, *make_pair())
        store.set_version_state(revoked.id, VersionState.REVOKED)
        with pytest.raises(InputError):
            store.activate(orders, revoked.id)
        assert store.current_version(orders) is None

    def test_set_version_state_stamps_revocation(self, store) -> None:
        """Revoking stamps revoked_at; current is refused outside activate()."""
        credential = store.add_credential(make_spec())
        version = store.add_version(credential, *make_pair())
        revoked = store.set_version_state(version.id, VersionState.REVOKED)
        assert revoked.revoked_at is not None
        with pytest.raises(InputError):
            store.set_version_state(version.id, VersionState.CURRENT)
        moment = utcnow().replace(microsecond=0)
        failed = store.set_version_state(version, VersionState.FAILED, revoked_at=moment)
        assert (failed.state, failed.revoked_at) == (VersionState.FAILED, moment)

    def test_remote_certificate_id(self, store) -> None:
        """The remote ID (which may start with '-') is recorded once, with its state."""
        credential = store.add_credential(make_spec())
        version = store.add_version(credential, *make_pair())
        uploaded = store.set_remote_certificate_id(version.id, "-Abc_123", state=VersionState.UPLOADED)
        assert (uploaded.certificate_id, uploaded.state) == ("-Abc_123", VersionState.UPLOADED)
        assert store.set_remote_certificate_id(version.id, "-Abc_123") == uploaded
        with pytest.raises(StoreError):
            store.set_remote_certificate_id(version.id, "other")
        assert store.version_by_certificate_id(credential, "-Abc_123") == uploaded
        assert store.version_by_certificate_id(credential, "unknown") is None

    def test_the_current_version_is_never_demoted(self, store) -> None:
        """Recording the current's ID as uploaded (a stale adopter) or moving it back is refused."""
        credential = store.add_credential(make_spec())
        version = store.add_version(credential, *make_pair())
        store.set_remote_certificate_id(version.id, "cert-1", state=VersionState.UPLOADED)
        current = store.activate(credential, version.id)
        with pytest.raises(StoreError) as refused:
            store.set_remote_certificate_id(version.id, "cert-1", state=VersionState.UPLOADED)
        assert refused.value.message == (
            f"Version {version.id} is current; making it uploaded would leave the credential without a "
            "current certificate."
        )
        assert refused.value.hint.startswith("read the version again: another process has changed it")
        for state in (VersionState.PENDING, VersionState.PREVIOUS, VersionState.FAILED):
            with pytest.raises(StoreError):
                store.set_version_state(version.id, state)
        assert store.get_version(version.id) == current
        assert store.current_version(credential) == current

    def test_remote_certificate_id_unique_per_credential(self, store) -> None:
        """Two versions of one credential cannot claim the same remote certificate."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair())
        store.set_remote_certificate_id(first.id, "cert-1")
        with pytest.raises(AlreadyExistsError):
            store.set_remote_certificate_id(second.id, "cert-1")

    def test_lookups(self, store) -> None:
        """versions (with state filter) and version_by_fingerprint find the right rows."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair(), VersionState.UPLOADED)
        assert [v.id for v in store.versions(credential)] == [first.id, second.id]
        assert store.versions("orders", states=[VersionState.UPLOADED]) == [second]
        upper = ":".join(second.fingerprint_sha256[i : i + 2].upper() for i in range(0, 64, 2))
        assert store.version_by_fingerprint(upper) == second
        assert store.version_by_fingerprint("0" * 64) is None
        with pytest.raises(InputError):
            store.version_by_fingerprint("abc")
        with pytest.raises(NotFoundError):
            store.get_version("no-such-version")

    def test_tampered_key_row_is_refused(self, store) -> None:
        """A sealed key copied onto another version's row fails with TamperedDataError."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair())
        from sqlalchemy import update

        from certrotor.store.models import CertificateVersionRow

        with store._writer.begin() as session:
            sealed = session.get(CertificateVersionRow, first.id).key_sealed
            session.execute(
                update(CertificateVersionRow)
                .where(CertificateVersionRow.id == second.id)
                .values(key_sealed=sealed)
            )
        assert store.load_private_key(first.id)
        with pytest.raises(TamperedDataError):
            store.load_private_key(second.id)
