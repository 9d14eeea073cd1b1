"""The console's health: the verdicts `certrotor health` gives from the stored observations, and a pass
that observes (through the observation service, into the same store) what nobody observed lately.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from certrotor.errors import CertrotorError
from certrotor.health_rules import HealthReport
from certrotor.logging import get_logger
from certrotor.services.health import DEFAULT_STALE_AFTER, check_all
from certrotor.services.observation import DEFAULT_OBSERVE_INTERVAL
from certrotor.services.rotation import default_owner
from certrotor.services.runtime import Runtime
from certrotor.store import Credential
from certrotor.store import observations as stored
from certrotor.store.observations import Observation

log = get_logger(__name__)

DEFAULT_INTERVAL_SECONDS = DEFAULT_OBSERVE_INTERVAL.total_seconds()


@dataclass(frozen=True, slots=True)
class Standing:
    """One credential as the pages show it: the health verdict and its newest stored observation."""

    credential: Credential
    report: HealthReport
    observation: Observation | None
    """The newest observation of the credential by anyone (the daemon, this or another console,
    ``certrotor health``); ``None`` if nobody ever observed it."""

    @property
    def observed_at(self) -> dt.datetime | None:
        return self.observation.observed_at if self.observation is not None else None

    @property
    def observed_before_rotation(self) -> bool:
        """The newest observation is of an earlier certificate: the current one is not observed yet."""
        return self.observation is not None and self.report.observed_at is None


_PROCESS = re.compile(r"(?P<host>.+):(?P<pid>\d+):[0-9a-f]{8}")


def describe_observer(observer: str) -> str:
    """Who stored an observation, for people: the daemon (its lease owner name), a console, health."""
    if observer == "health":
        return "certrotor health"
    who, _, by = observer.partition(" ") if observer.startswith("console ") else ("daemon", "", observer)
    process = _PROCESS.fullmatch(by)
    if process is not None:
        return f"the {who} on {process['host']} (pid {process['pid']})"
    if who == "console":
        return f"the console ({by})"  # Check now: the web user
    return observer or "an unnamed observer"


class HealthBoard:
    """Reads verdicts from the store; every ``interval`` seconds observes the credentials whose newest
    observation is older than that (none when the daemon keeps them fresh); ``interval`` 0: never."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        stale_after: dt.timedelta | None = None,
    ) -> None:
        self.runtime = runtime
        self.interval = interval
        self.stale_after = stale_after or (
            dt.timedelta(seconds=2 * interval) if interval > 0 else DEFAULT_STALE_AFTER
        )
        """A credential nobody observed for this long is WARN (two observe intervals, as health says)."""
        self.observer = f"console {default_owner()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def standings(self, names: Sequence[str] | None = None) -> list[Standing]:
        """Each named (or every) credential judged from local facts and stored observations, in name order."""
        wanted = list(names) if names is not None else None
        reports = {
            report.name: report
            for report in check_all(self.runtime, wanted, remote=False, stale_after=self.stale_after)
        }
        store = self.runtime.store
        observed = stored.latest(store, wanted)
        if wanted is None:
            credentials = store.list_credentials()
        else:
            credentials = [store.get_credential(name) for name in wanted]
        return [
            Standing(credential, reports[credential.name], observed.get(credential.name))
            for credential in credentials
            if credential.name in reports  # added between the reads: shown at the next refresh
        ]

    def standing(self, credential: Credential) -> Standing:
        return self.standings([credential.name])[0]

    def check(self, credential: Credential, actor: str | None = None) -> HealthReport:
        """Observe ``credential`` now (NetSuite's list and a token with its current certificate); stored."""
        observer = f"console {actor}" if actor else self.observer
        return check_all(self.runtime, [credential.name], remote=True, probe=True, observer=observer)[0]

    def observe_due(self) -> int:
        """Observe every credential nobody observed within the interval; returns how many were judged."""
        reports = check_all(
            self.runtime,
            remote=True,
            max_age=dt.timedelta(seconds=self.interval),
            stale_after=self.stale_after,
            observer=self.observer,
        )
        return len(reports)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.observe_due()
            except CertrotorError as exc:
                log.warning("console observation pass failed", error=exc.message)
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is None and self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="certrotor-console-observe", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
