"""Rotations started from the console: each runs in a background thread while the page polls the journal."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from certrotor.errors import CertrotorError, CredentialBusyError
from certrotor.logging import get_logger
from certrotor.services.rotation import RotationOutcome, Rotator
from certrotor.services.rotation import default_owner as _default_owner
from certrotor.services.runtime import Runtime
from certrotor.store import RotationTrigger

log = get_logger(__name__)


@dataclass
class RotationJob:
    """One console-started rotation; ``outcome`` or ``error`` is set when the thread ends."""

    id: int
    credential: str
    actor: str
    started_at: dt.datetime
    outcome: RotationOutcome | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    @property
    def status(self) -> str:
        if self.running:
            return "running"
        if self.outcome is not None:
            return self.outcome.status
        return "failed"

    @property
    def message(self) -> str:
        if self.outcome is not None:
            return self.outcome.message
        return self.error or ""


class RotationJobs:
    """At most one running console rotation per credential; the store's lease guards the rest."""

    def __init__(self, runtime: Runtime, *, after: Callable[[str], None] | None = None) -> None:
        self.runtime = runtime
        self._after = after
        self._jobs: dict[str, RotationJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def latest(self, credential: str) -> RotationJob | None:
        with self._lock:
            return self._jobs.get(credential)

    def start(self, credential: str, actor: str) -> RotationJob:
        """Start rotating ``credential`` in the background; refused while one is running."""
        with self._lock:
            running = self._jobs.get(credential)
            if running is not None and running.running:
                raise CredentialBusyError(
                    f"A rotation of {credential!r} started from the console is still running.",
                    hint="wait for it to finish; its steps show on the credential's page.",
                )
            job = RotationJob(
                id=next(self._ids), credential=credential, actor=actor, started_at=self.runtime.now()
            )
            self._jobs[credential] = job
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"certrotor-console-rotate-{job.id}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def _run(self, job: RotationJob) -> None:
        try:
            rotator = Rotator(self.runtime, owner=_default_owner(), actor=job.actor)
            job.outcome = rotator.rotate(job.credential, RotationTrigger.MANUAL)
            log.info(
                "console rotation", credential=job.credential, status=job.outcome.status, actor=job.actor
            )
        except CertrotorError as exc:
            job.error = str(exc)
            log.warning("console rotation failed", credential=job.credential, error=exc.message)
        except Exception as exc:
            job.error = f"unexpected {type(exc).__name__}; see the console's log."
            log.error("console rotation crashed", credential=job.credential, error=type(exc).__name__)
        finally:
            try:
                if self._after is not None:
                    self._after(job.credential)
            finally:
                job.finished.set()

    def wait_all(self, timeout: float = 30.0) -> None:
        """Let running rotations reach their end (used when the console stops)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)
