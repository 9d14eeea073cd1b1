"""Tests of the rotation journal: one open rotation per credential, steps, finishing."""

from __future__ import annotations

import datetime as dt

import pytest

from certrotor.crypto import utcnow
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError, StoreError
from certrotor.store import RotationStep, RotationTrigger, Strategy

from ._factories import make_pair, make_spec


class TestJournal:
    def test_rotation_lifecycle(self, store) -> None:
        """start, advance with fields, open_rotation, finish: every step is persisted."""
        credential = store.add_credential(make_spec())
        old = store.add_version(credential, *make_pair())
        store.activate(credential, old.id)
        rotation = store.start_rotation(credential, RotationTrigger.SCHEDULE, Strategy.OVERLAP, old)
        assert (rotation.step, rotation.old_version_id, rotation.is_open) == (
            RotationStep.PREPARE,
            old.id,
            True,
        )
        new = store.add_version(credential, *make_pair())
        retire_after = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
        store.advance_rotation(rotation.id, RotationStep.UPLOAD, new_version_id=new.id)
        advanced = store.advance_rotation(rotation.id, RotationStep.RETIRE, retire_after=retire_after)
        assert advanced.new_version_id == new.id
        assert advanced.retire_after == retire_after
        assert store.open_rotation("orders") == advanced
        finished = store.finish_rotation(rotation.id, ok=True)
        assert finished.step is RotationStep.DONE
        assert finished.finished_at is not None
        assert store.open_rotation("orders") is None
        assert store.finish_rotation(rotation.id, ok=False, error="late") == finished
        assert store.rotations(credential) == [finished]

    def test_only_one_open_rotation(self, store) -> None:
        """A second rotation cannot start while one is unfinished."""
        credential = store.add_credential(make_spec())
        first = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.REPLACE, None)
        with pytest.raises(AlreadyExistsError) as caught:
            store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.REPLACE, None)
        assert "resume" in caught.value.hint
        store.finish_rotation(first.id, ok=False, error="remote refused")
        second = store.start_rotation(credential, RotationTrigger.RECOVERY, Strategy.OVERLAP, None)
        assert [r.id for r in store.rotations(credential)] == [second.id, first.id]
        assert store.get_rotation(first.id).error == "remote refused"

    def test_refusals(self, store) -> None:
        """auto is not a rotation strategy, final steps need finish_rotation, finished stays finished."""
        credential = store.add_credential(make_spec())
        with pytest.raises(InputError):
            store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.AUTO, None)
        rotation = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.OVERLAP, None)
        with pytest.raises(InputError):
            store.advance_rotation(rotation.id, RotationStep.DONE)
        store.finish_rotation(rotation.id, ok=True)
        with pytest.raises(StoreError):
            store.advance_rotation(rotation.id, RotationStep.VERIFY)
        with pytest.raises(NotFoundError):
            store.get_rotation(10_000)
