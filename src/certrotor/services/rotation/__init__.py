"""Rotation: one journaled engine (``engine``) and the steps of each kind of credential (``m2m``, ``record``).

``steps_for`` (``kinds``) is the one place that chooses a kind's steps; delivery and the hook are in
``delivery``, the test-only fault points in ``faults``. ``default_owner`` and ``lease_holder_is_dead``
live with the leases in ``certrotor.store.leases``; they are re-exported here for the front ends.
"""

from certrotor.services.rotation.delivery import HOOK_TIMEOUT_SECONDS, delivery_directory
from certrotor.services.rotation.engine import RotationOutcome, Rotator, due_rotation_reason
from certrotor.services.rotation.faults import FAULT_POINT_ENV, fault_point
from certrotor.services.rotation.kinds import m2m_steps_for, steps_for
from certrotor.services.rotation.m2m import M2MSteps, deliver_current
from certrotor.services.rotation.record import RecordSteps, deliver_verifiers
from certrotor.services.rotation.steps import Delivered, RemoteFacts, StepJournal, Steps, VersionName
from certrotor.store import default_owner, lease_holder_is_dead

__all__ = [
    "FAULT_POINT_ENV",
    "HOOK_TIMEOUT_SECONDS",
    "Delivered",
    "M2MSteps",
    "RecordSteps",
    "RemoteFacts",
    "RotationOutcome",
    "Rotator",
    "StepJournal",
    "Steps",
    "VersionName",
    "default_owner",
    "deliver_current",
    "deliver_verifiers",
    "delivery_directory",
    "due_rotation_reason",
    "fault_point",
    "lease_holder_is_dead",
    "m2m_steps_for",
    "steps_for",
]
