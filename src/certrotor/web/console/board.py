"""What the console knows of each credential's health: its own evaluations, kept with their time.

A background thread evaluates every credential against NetSuite (with a token probe, so a revoked
or missing current certificate is never reported OK) every ``interval`` seconds; pages read the
last evaluation and say how old it is. A credential never evaluated remotely yet is judged from
local facts only, and its observation age reads "never".
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from certrotor.errors import CertrotorError
from certrotor.health_rules import HealthReport
from certrotor.logging import get_logger
from certrotor.services.health import check_credential
from certrotor.services.runtime import Runtime
from certrotor.store import Credential

log = get_logger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One health verdict and when the console made it; ``remote`` if NetSuite was asked."""

    report: HealthReport
    evaluated_at: dt.datetime
    remote: bool


class HealthBoard:
    """The latest evaluation per credential; thread-safe; refreshed by :meth:`start`'s thread."""

    def __init__(self, runtime: Runtime, *, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.runtime = runtime
        self.interval = interval
        self._latest: dict[str, Evaluation] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def evaluate(self, credential: Credential, *, remote: bool = True) -> Evaluation:
        """Judge ``credential`` now (remote: list on NetSuite and a token probe) and remember it."""
        report = check_credential(self.runtime, credential, remote=remote, probe=remote)
        evaluation = Evaluation(report=report, evaluated_at=self.runtime.now(), remote=remote)
        if remote:
            with self._lock:
                self._latest[credential.name] = evaluation
        return evaluation

    def latest(self, credential: Credential) -> Evaluation:
        """The last remote evaluation, or a local-facts one made now when there is none yet."""
        with self._lock:
            known = self._latest.get(credential.name)
        if known is not None:
            return known
        return self.evaluate(credential, remote=False)

    def forget(self, name: str) -> None:
        """Drop a stale verdict (after a rotation), so pages re-judge from fresh facts."""
        with self._lock:
            self._latest.pop(name, None)

    def refresh_all(self) -> None:
        for credential in self.runtime.store.list_credentials():
            if self._stop.is_set():
                return
            try:
                self.evaluate(credential)
            except CertrotorError as exc:
                log.warning("console health evaluation failed", credential=credential.name, error=exc.message)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh_all()
            except CertrotorError as exc:
                log.warning("console health pass failed", error=exc.message)
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is None and self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="certrotor-console-health", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
