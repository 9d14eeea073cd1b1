"""Observing NetSuite for many credentials at once: bounded concurrency (overall and per account), one
certificate list per integration shared by its credentials, management tokens reused; every result
is kept in the store, where health, alerts and emergency rotations read the same facts.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from certrotor.config import Settings
from certrotor.errors import (
    CertrotorError,
    NoManagementAccessError,
    RemoteUnavailableError,
    TokenRequestError,
)
from certrotor.logging import get_logger
from certrotor.protocol.models import CertificateListItem
from certrotor.services.management_auth import repair_command
from certrotor.services.reconcile import sort_unknown
from certrotor.services.runtime import Runtime
from certrotor.store import CertificateVersion, Credential, CredentialKind
from certrotor.store import observations as stored
from certrotor.store.observations import Observation

log = get_logger(__name__)

DEFAULT_OBSERVE_INTERVAL = dt.timedelta(minutes=15)
DEFAULT_CONCURRENCY = 32
"""Remote checks in flight at once, overall (``observe_concurrency``)."""
DEFAULT_PER_ACCOUNT = 5
"""Requests in flight at once per NetSuite account (``observe_per_account``). NetSuite limits the
concurrent requests of an account, token grants included: 5 on the Standard service tier, 15 on
Premium, 20 on Enterprise and Ultimate, plus 10 per SuiteCloud Plus license. 5 fits every account;
raise it to what the account allows beyond its other integrations' share."""


@dataclass(frozen=True, slots=True)
class ObserveLimits:
    """How many remote checks may run at once: overall and per NetSuite account."""

    concurrency: int = DEFAULT_CONCURRENCY
    per_account: int = DEFAULT_PER_ACCOUNT

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_account < 1:
            raise ValueError("observation limits must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> ObserveLimits:
        """The limits of ``observe_concurrency`` and ``observe_per_account``."""
        return cls(concurrency=settings.observe_concurrency, per_account=settings.observe_per_account)


def subject_of(version: CertificateVersion | None) -> str | None:
    """What an observation is about: the certificate ID (M2M) or the fingerprint (record)."""
    if version is None:
        return None
    return version.certificate_id or version.fingerprint_sha256


class _AccountGates:
    """One semaphore per NetSuite account, made on first use."""

    def __init__(self, per_account: int) -> None:
        self._per_account = per_account
        self._lock = threading.Lock()
        self._gates: dict[str, threading.BoundedSemaphore] = {}

    def gate(self, account_id: str) -> threading.BoundedSemaphore:
        with self._lock:
            gate = self._gates.get(account_id)
            if gate is None:
                gate = self._gates[account_id] = threading.BoundedSemaphore(self._per_account)
            return gate


class _Observer:
    """One sweep: groups, runs and collects; ``observe`` below is its entry point."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        probe: bool,
        limits: ObserveLimits,
        observer: str,
        on_checked: Callable[[str], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.probe = probe
        self.limits = limits
        self.observer = observer
        self.gates = _AccountGates(limits.per_account)
        self.on_checked = on_checked
        self._reporting = threading.Lock()

    def run(self, credentials: Sequence[Credential]) -> list[Observation]:
        integrations: dict[tuple[str, str | None, str], list[Credential]] = defaultdict(list)
        jobs: list[list[Credential]] = []
        for credential in credentials:
            if credential.kind is CredentialKind.M2M:
                integrations[(credential.account_id, credential.base_url, credential.client_id)].append(
                    credential
                )
            else:
                jobs.append([credential])
        jobs.extend(integrations.values())
        if not jobs:
            return []
        workers = min(self.limits.concurrency, len(jobs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="observe") as pool:
            results = list(pool.map(self._job, jobs))
        return [observation for batch in results for observation in batch]

    def _job(self, group: list[Credential]) -> list[Observation]:
        """One integration's M2M credentials, or one record credential; its requests (one at a time)
        inside its account's bound, the store's part outside it."""
        gate = self.gates.gate(group[0].account_id)
        if group[0].kind is CredentialKind.M2M:
            found = self._integration(group, gate)
        else:
            with gate:
                found = [self._record(group[0])]
        if self.on_checked is not None:
            with self._reporting:  # one call at a time, whichever worker finished
                for observation in found:
                    self.on_checked(observation.credential)
        return found

    # -- M2M: one list per integration ---------------------------------------------------------

    def _integration(self, group: list[Credential], gate: threading.BoundedSemaphore) -> list[Observation]:
        access = self.runtime.access
        items: list[CertificateListItem] | None = None
        error: str | None = None
        no_access: dict[str, str] = {}
        with gate:
            for member in group:
                try:
                    items = access.call(member, lambda client: client.list_certificates())
                    break
                except NoManagementAccessError:
                    no_access[member.name] = repair_command(member.name)
                except CertrotorError as exc:
                    error = exc.message
                    break
        return [self._m2m(member, items, error, no_access.get(member.name), gate) for member in group]

    def _m2m(
        self,
        credential: Credential,
        items: list[CertificateListItem] | None,
        error: str | None,
        fix: str | None,
        gate: threading.BoundedSemaphore,
    ) -> Observation:
        store = self.runtime.store
        access = self.runtime.access
        current = store.current_version(credential)
        certificate_id = current.certificate_id if current else None
        state = "unknown"
        foreign: tuple[str, ...] = ()
        pending: tuple[str, ...] = ()
        if items is not None:
            foreign, pending = sort_unknown(self.runtime, credential, items)
            if certificate_id is not None:
                listed = next((i for i in items if i.certificate_id == certificate_id), None)
                state = "missing" if listed is None else ("revoked" if listed.revoked else "active")
        if state in ("active", "unknown") and access.refused_as_dead(certificate_id):
            state = "refused"  # the token endpoint's refusal is as much a fact as the list
        probe_ok: bool | None = None
        probe_error: str | None = None
        if self.probe:
            with gate:
                probe_ok, probe_error, failed = self._probe(credential, current)
            error = error or failed
            refused = access.refused_as_dead(certificate_id)
            if probe_ok is False and state in ("active", "unknown") and refused:
                state = "refused"
        return Observation(
            credential=credential.name,
            observed_at=self.runtime.now(),
            remote_state=state,
            certificate_id=certificate_id,
            foreign_certificate_ids=foreign,
            pending_adoption_ids=pending,
            probe_ok=probe_ok,
            probe_error=probe_error,
            error=error,
            management_fix=fix,
            observer=self.observer,
        )

    def _probe(
        self, credential: Credential, current: CertificateVersion | None
    ) -> tuple[bool | None, str | None, str | None]:
        """(probe ok, probe error, check error): a fresh token with the current certificate."""
        if current is None or current.certificate_id is None:
            return False, "no usable current certificate", None
        access = self.runtime.access
        try:
            auth = access.m2m_auth(credential, current)
            auth.invalidate()
            auth.current_token()
        except TokenRequestError as exc:
            dead = exc.error == "invalid_client"
            access.note_refused(current.certificate_id, exc.message, proves_dead=dead)
            fix = _integration_fix(credential, exc.error)
            return False, (exc.message.rstrip(".") + fix) if fix else exc.message, None
        except RemoteUnavailableError as exc:
            return None, None, exc.message
        except CertrotorError as exc:
            return False, exc.message, None
        access.forget_refusal(current.certificate_id)
        return True, None, None

    # -- certificate records -------------------------------------------------------------------

    def _record(self, credential: Credential) -> Observation:
        from certrotor.services.rotation.kinds import steps_for  # the rotation engine only for records

        current = self.runtime.store.current_version(credential)
        try:
            facts = steps_for(credential, self.runtime).observe(current, remote=True, probe=self.probe)
        except CertrotorError as exc:
            return Observation(
                credential=credential.name,
                observed_at=self.runtime.now(),
                certificate_id=subject_of(current),
                error=exc.message,
                observer=self.observer,
            )
        probe = facts.probe
        return Observation(
            credential=credential.name,
            observed_at=self.runtime.now(),
            remote_state=facts.state,
            certificate_id=subject_of(current),
            foreign_certificate_ids=facts.foreign_certificate_ids,
            pending_adoption_ids=facts.pending_adoption_ids,
            placeholder=facts.placeholder,
            probe_ok=probe.ok if probe is not None else None,
            probe_error=probe.error if probe is not None else None,
            error=facts.error,
            management_fix=facts.management_fix,
            observer=self.observer,
            certificate_not_after=facts.certificate_not_after,
        )


def observe(
    runtime: Runtime,
    credentials: Sequence[Credential],
    *,
    probe: bool = False,
    limits: ObserveLimits | None = None,
    observer: str = "health",
    keep: bool = True,
    on_checked: Callable[[str], None] | None = None,
) -> dict[str, Observation]:
    """Ask NetSuite about ``credentials`` concurrently; each observation is kept in the store.

    ``on_checked(name)`` is called as each credential's check finishes (from the worker threads, one
    call at a time): a front end's progress.
    """
    sweep = _Observer(
        runtime,
        probe=probe,
        limits=limits or ObserveLimits.from_settings(runtime.settings),
        observer=observer,
        on_checked=on_checked,
    )
    found = sweep.run(credentials)
    if keep and found:
        try:
            stored.save(runtime.store, found)
        except CertrotorError as exc:
            # The answer stands even when the store cannot keep it (health must still answer).
            log.warning("observations not kept", error=exc.message, count=len(found))
    return {observation.credential: observation for observation in found}


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_OBSERVE_INTERVAL",
    "DEFAULT_PER_ACCOUNT",
    "ObserveLimits",
    "observe",
    "subject_of",
]


def _integration_fix(credential: Credential, error: str | None) -> str:
    """What to do when NetSuite's integration record refuses the credential's scopes or the grant."""
    if error == "invalid_scope":
        return (
            f". The integration record does not allow the scopes {','.join(credential.scopes)}: run "
            f"`certrotor credential set {credential.name} --scopes <the ones ticked on it>` (e.g. "
            "rest_webservices), or tick them on the integration record"
        )
    if error == "unauthorized_client":
        return (
            ". Tick 'Client Credentials (Machine to Machine) Grant' on the integration record in NetSuite"
        )
    return ""

