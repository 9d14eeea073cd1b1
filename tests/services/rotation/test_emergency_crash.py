"""Crash safety of the emergency path: `certrotor rotate NAME` on a revoked current certificate (an
emergency, authenticated by the previous certificate) SIGKILLs itself at a fault point, runs again, and
the credential is healed with every key kept and nothing unknown left on NetSuite.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from certrotor.client import BearerTokenAuth, NetSuiteClient
from certrotor.services.rotation import Rotator
from certrotor.services.runtime import endpoints_for
from certrotor.store import RotationTrigger, Strategy
from support.processes import ForkServer

from .._support import ServiceWorld, assert_settled

POINTS = [
    "before:prepare",
    "after:upload-sent",
    "after:verify",
    "after:activate",
    "after:deliver",
    "before:retire",
    "before:done",
]
"""Both ends of the emergency rotation, the upload NetSuite took unrecorded, and each switch between."""


@pytest.mark.slow
class TestEmergencyCrash:
    """An emergency rotation killed at a fault point, then `certrotor rotate NAME` again."""

    @pytest.mark.parametrize("fault_point", POINTS)
    def test_an_emergency_rotation_survives_sigkill(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path, fault_point: str
    ) -> None:
        """Killed mid-emergency, run again: healed through the previous certificate, settled, trigger kept."""
        client_id = world.new_integration()
        world.enrol("app", client_id=client_id, strategy=Strategy.OVERLAP, grace_seconds=7 * 86400)
        outcome = Rotator(world.runtime(token=world.admin_token), owner="t").rotate(
            "app", RotationTrigger.MANUAL
        )
        assert outcome.status == "rotated"
        credential = world.store.get_credential("app")
        dead = world.store.current_version(credential)
        assert dead is not None
        assert dead.certificate_id is not None
        with NetSuiteClient(
            endpoints_for(credential), client_id=client_id, auth=BearerTokenAuth(world.admin_token)
        ) as admin:
            admin.revoke_certificate(dead.certificate_id)
        scratch = tmp_path / "runs"

        crashed = fork_server.run(["rotate", "app"], world.env(CERTROTOR_FAULT_POINT=fault_point), scratch)
        assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
        resumed = fork_server.run(["rotate", "app"], world.env(), scratch)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr

        current = assert_settled(world, "app")
        assert current.id != dead.id
        emergencies = [r for r in world.store.rotations("app") if r.trigger is RotationTrigger.EMERGENCY]
        assert emergencies, "the emergency was not journaled as one"
        assert world.uploads(client_id) == 3, "an upload was repeated"
