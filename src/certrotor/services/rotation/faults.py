"""Test-only fault points: a rotation SIGKILLs its own process at a named point when asked to.

The points are the same for every kind of credential: ``before:STEP`` and ``after:STEP`` around
every journal step (``prepare`` ... ``retire``, then ``before:done``), and two inside ``upload``,
where a crash is hardest to survive: ``after:upload-sent`` (NetSuite took the upload; the journal
does not know yet) and ``after:revoke-old`` (replace: the old certificate is revoked on NetSuite,
not yet in the store).
"""

from __future__ import annotations

import os
import signal

from certrotor.logging import get_logger

log = get_logger(__name__)

FAULT_POINT_ENV = "CERTROTOR_FAULT_POINT"
"""Test-only: ``MOMENT:STEP`` (e.g. ``after:upload-sent``) makes the process SIGKILL itself there."""

UPLOAD_SENT = "upload-sent"
REVOKE_OLD = "revoke-old"
DONE = "done"


def fault_point(moment: str, step: str) -> None:
    """Kill this process at ``moment:step`` when the test-only environment variable names it."""
    if os.environ.get(FAULT_POINT_ENV) == f"{moment}:{step}":
        log.warning("fault point reached, killing process", fault_point=f"{moment}:{step}")
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["DONE", "FAULT_POINT_ENV", "REVOKE_OLD", "UPLOAD_SENT", "fault_point"]
