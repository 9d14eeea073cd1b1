"""Tests of the journal write: a rotation step's lease, versions, journal and events in one transaction."""

from __future__ import annotations

import pytest

from certrotor.errors import LeaseLostError
from certrotor.store import (
    EventDraft,
    EventOutcome,
    RotationStep,
    RotationTrigger,
    Store,
    Strategy,
    VersionState,
)

from ._factories import make_pair, make_spec


class TestJournalWrite:
    def test_a_step_commits_as_one(self, store: Store) -> None:
        """The claim, the new rotation, its version, the step and the events are all there after it."""
        credential = store.add_credential(make_spec())
        with store.journal_write() as write:
            write.claim(credential, "me", 300)
            rotation = write.start_rotation(credential, RotationTrigger.MANUAL, Strategy.OVERLAP, None)
            version = write.add_version(credential, *make_pair())
            write.advance(rotation.id, RotationStep.UPLOAD, new_version_id=version.id)
            write.append_events([EventDraft(credential, "test", "prepare", EventOutcome.OK)])
            assert write.rotation(rotation.id).step is RotationStep.UPLOAD
        assert store.get_credential("orders").lease_owner == "me"
        assert store.open_rotation("orders") == store.get_rotation(rotation.id)
        assert store.get_rotation(rotation.id).new_version_id == version.id
        assert [e.action for e in store.events("orders")] == ["prepare"]

    def test_a_lost_lease_undoes_the_whole_write(self, store: Store) -> None:
        """Found lost after the step's changes: none of them, nor its events, is kept."""
        credential = store.add_credential(make_spec())
        store.claim(credential, "thief", 300)
        rotation = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.OVERLAP, None)

        def step_without_the_lease() -> None:
            with store.journal_write() as write:
                version = write.add_version(credential, *make_pair())
                write.advance(rotation.id, RotationStep.UPLOAD, new_version_id=version.id)
                write.append_events([EventDraft(credential, "test", "prepare", EventOutcome.OK)])
                write.renew_lease(credential, "me", 300)

        with pytest.raises(LeaseLostError):
            step_without_the_lease()
        assert store.versions("orders") == []
        assert store.get_rotation(rotation.id).step is RotationStep.PREPARE
        assert store.events("orders") == []
        assert store.get_credential("orders").lease_owner == "thief"

    def test_a_rotation_and_its_versions_read_together(self, store: Store) -> None:
        """rotation_with_versions: the journal row and the credential's versions, oldest first."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair(), VersionState.UPLOADED)
        rotation = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.OVERLAP, None)
        assert store.rotation_with_versions(rotation.id) == (rotation, [first, second])
