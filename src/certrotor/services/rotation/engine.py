"""The rotation engine: claim, the journaled step loop, the grace period, deferral, outcome, planning.

Each step is idempotent and recorded in the store before and after its effect, so a crash anywhere
resumes without losing a key, without an unknown certificate left remotely, and without retiring the
only working certificate early. What differs between kinds of credential (where the certificate
goes, how it is proved, what consumers get, what retiring means) is in their ``Steps``; the engine
asks ``steps_for`` and knows no kind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from certrotor import crypto
from certrotor.errors import (
    CertrotorError,
    CredentialBusyError,
    LeaseLostError,
    RotationError,
    VerificationError,
)
from certrotor.logging import get_logger
from certrotor.scheduling import RenewalWindow, next_attempt_after_failure, plan_next_rotation
from certrotor.services.rotation.delivery import run_delivery_hook
from certrotor.services.rotation.faults import DONE, fault_point
from certrotor.services.rotation.kinds import steps_for
from certrotor.services.rotation.steps import Steps
from certrotor.services.runtime import Runtime
from certrotor.store import (
    CertificateVersion,
    Credential,
    EventDraft,
    EventOutcome,
    JournalWrite,
    Rotation,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)

log = get_logger(__name__)


def subject_for(credential: Credential) -> str:
    return f"certrotor {credential.name}"


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What one call to :meth:`Rotator.rotate` achieved."""

    credential: str
    status: str
    """``rotated`` | ``waiting`` (grace period before retire) | ``retired`` | ``failed`` |
    ``interrupted`` | ``deferred`` (a step failed transiently; retried later)."""
    rotation_id: int | None = None
    new_certificate_id: str | None = None
    old_certificate_id: str | None = None
    message: str = ""


class _StopRequestedError(Exception):
    """Internal: a stop was requested between two steps."""


T = TypeVar("T")


def _nothing(_write: JournalWrite) -> None:
    """A journal write that records nothing besides what it always does."""


class _Run:
    """One rotation of one credential by one rotator: the journal the steps see (``StepJournal``).

    Every store write of the rotation is a journal write (:meth:`write`): one transaction that makes
    sure the lease is still ours and extends it, records what the steps noted since the last one,
    the change of the step itself and the events drafted since, and reads back the journal row and
    the credential's versions, which the next step works from (so a rotation commits about once a
    step and reads little besides).
    """

    def __init__(self, rotator: Rotator, credential: Credential, steps: Steps, *, held: bool) -> None:
        self.rotator = rotator
        self.store = rotator.store
        self.credential = credential
        self.steps = steps
        self.current_rotation: Rotation | None = None
        self.versions: list[CertificateVersion] = []
        """The credential's versions as the last journal write (or re-read) left them."""
        self.drafts: list[EventDraft] = []
        """Events not written yet: they go with the next journal write (at the latest the one before
        the next remote effect, or the end of the rotation)."""
        self.notes: list[Callable[[JournalWrite], object]] = []
        """What steps found out (an upload's certificate ID, a revocation), for the next journal write."""
        self.held = held
        """Whether this run holds the credential's lease (given by the caller, or claimed)."""
        self.lease_checked = False
        """A journal write found the lease ours and extended it, and no remote effect came since."""

    @property
    def rotation(self) -> Rotation:
        assert self.current_rotation is not None, "no rotation started"
        return self.current_rotation

    def reread(self) -> Rotation:
        """The journal row and the versions as the store holds them now (after a step), in one read."""
        self.current_rotation, self.versions = self.store.rotation_with_versions(self.rotation.id)
        return self.current_rotation

    def version(self, version_id: str) -> CertificateVersion:
        """A version of the credential as last read (the store is asked only for one not seen yet)."""
        for version in self.versions:
            if version.id == version_id:
                return version
        return self.store.get_version(version_id)

    def versions_in(self, state: VersionState) -> list[CertificateVersion]:
        return [version for version in self.versions if version.state is state]

    def event(self, action: str, outcome: EventOutcome, **detail: object) -> None:
        """Draft an audit event; it is written in the transaction of the next journal write."""
        if self.current_rotation is not None:
            detail["rotation"] = self.current_rotation.id
        self.drafts.append(EventDraft(self.credential, self.rotator.actor, action, outcome, dict(detail)))

    def note(self, record: Callable[[JournalWrite], object]) -> None:
        """Record with the next journal write (its transaction makes sure the lease is still ours)."""
        self.notes.append(record)

    def write(self, record: Callable[[JournalWrite], T], *, lease: bool = True) -> T:
        """One journal write: the lease checked and extended (unless ``lease`` is false: ``record``
        claims it), the noted facts, ``record``'s changes and the drafted events, in one transaction.

        If it fails, the events ``record`` drafted and the notes go with it (a note that cannot be
        written is not tried again: whoever resumes finds the fact again, on NetSuite); the events
        drafted before are kept for the next write.
        """
        drafted = len(self.drafts)
        notes = list(self.notes)
        try:
            with self.store.journal_write() as write:
                if lease:
                    self.credential = write.renew_lease(
                        self.credential, self.rotator.owner, self.rotator.lease_seconds
                    )
                for noted in notes:
                    noted(write)
                result = record(write)
                drafts = tuple(self.drafts)
                write.append_events(drafts)
                if self.current_rotation is not None:
                    rotation: Rotation | None = write.rotation(self.current_rotation.id)
                else:
                    rotation = None
                held = write.versions(self.credential)
        except BaseException:
            del self.drafts[drafted:]
            del self.notes[: len(notes)]
            raise
        del self.drafts[: len(drafts)]
        del self.notes[: len(notes)]
        self.current_rotation = rotation
        self.versions = held
        self.lease_checked = True
        return result

    def flush(self) -> None:
        """Write what is drafted and noted now, in a journal write (the lease checked)."""
        self.write(lambda _write: None)

    def checkpoint(self) -> None:
        """Before a remote effect: stop if asked, and make sure the lease is still ours (the journal
        write just before did, if no remote effect came since; otherwise a write of its own)."""
        if self.rotator.should_stop():
            self.flush()
            raise _StopRequestedError
        if not self.lease_checked:
            self.flush()
        self.lease_checked = False

    def close(self) -> None:
        """The end of the rotation, however it ended: nothing drafted is lost, the lease is given up.

        Noted facts are written only while the lease is ours (the new holder finds them again on
        NetSuite); drafted events are written in any case.
        """
        try:
            if self.notes:
                with contextlib.suppress(LeaseLostError):
                    self.flush()
        finally:
            try:
                if self.drafts:
                    drafts = tuple(self.drafts)
                    self.store.append_events(drafts)
                    del self.drafts[: len(drafts)]
            finally:
                if self.held:
                    self.store.release(self.credential, self.rotator.owner)
                    self.held = False


class Rotator:
    """Runs rotations for one owner (a CLI call or a daemon worker), one credential at a time."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        owner: str,
        actor: str = "cli",
        lease_seconds: float = 300.0,
        rng: random.Random | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.owner = owner
        self.actor = actor
        self.lease_seconds = lease_seconds
        self.rng = rng or random.Random()
        self.should_stop = should_stop

    # -- entry point ---------------------------------------------------------------------------

    def rotate(
        self,
        credential: Credential | str,
        trigger: RotationTrigger,
        *,
        claimed: bool = False,
        reason: str | None = None,
    ) -> RotationOutcome:
        """Rotate ``credential`` (or resume its open rotation), holding its lease throughout.

        ``claimed``: the caller already holds the lease (the daemon's ``claim_due``) and hands over
        the credential it got with it; a name is read once. ``reason``: why, for the audit trail
        (an emergency rotation says what is wrong with the current certificate).
        """
        if isinstance(credential, str):
            credential = self.store.get_credential(credential)
        try:
            # A watched record is refused before anything is claimed, generated or written.
            steps = steps_for(credential, self.runtime)
            steps.check_rotatable()
        except CertrotorError:
            if claimed:
                self.store.release(credential, self.owner)
            raise
        run = _Run(self, credential, steps, held=claimed)
        try:
            # A lease left by a killed process of this host is taken over: `certrotor rotate NAME`
            # run again after a crash is not refused until the dead process's lease expires.
            self._begin(run, trigger, reason)
        except CredentialBusyError:
            raise  # another process holds it: nothing was claimed, drafted or written
        except LeaseLostError as exc:
            # claim_due gave it to us, and another process took it since (our lease expired).
            run.held = False
            run.current_rotation = None
            return self._outcome(run, "interrupted", exc.message)
        except BaseException:
            run.close()
            raise
        try:
            return self._rotate_claimed(run)
        finally:
            run.close()

    def _begin(self, run: _Run, trigger: RotationTrigger, reason: str | None) -> None:
        """Claim the credential (unless the caller did) and open its rotation, or find the one to
        resume, in one journal write."""

        def begin(write: JournalWrite) -> bool:
            if run.held:
                run.credential = write.renew_lease(run.credential, self.owner, self.lease_seconds)
            else:
                run.credential = write.claim(
                    run.credential, self.owner, self.lease_seconds, take_over_dead=True
                )
            run.current_rotation = rotation = write.open_rotation(run.credential)
            if rotation is not None and rotation.step is RotationStep.RETIRE:
                # A manual or emergency trigger cuts a grace period short and starts a new rotation;
                # a rotation whose grace is over (resumed after a crash) is only finished.
                in_grace = rotation.retire_after is not None and self.runtime.now() < rotation.retire_after
                if trigger in (RotationTrigger.MANUAL, RotationTrigger.EMERGENCY) and in_grace:
                    # The previous certificate may be the only one that works: nothing is revoked
                    # until the new rotation has verified its certificate (see _retire_left_behind).
                    run.event("retire-postponed", EventOutcome.INFO, reason=f"{trigger.value} rotation")
                    write.finish(rotation.id, ok=True)
                    rotation = None
            if rotation is not None:
                return False
            credential = run.credential
            old = write.current_version(credential)
            strategy = credential.effective_strategy or Strategy.OVERLAP
            run.current_rotation = write.start_rotation(credential, trigger, strategy, old)
            run.event(
                "rotation-start",
                EventOutcome.INFO,
                trigger=trigger.value,
                **({"reason": reason} if reason else {}),
            )
            return True

        started = run.write(begin, lease=False)
        run.held = True
        if started:
            fault_point("before", RotationStep.PREPARE.value)

    def _rotate_claimed(self, run: _Run) -> RotationOutcome:
        try:
            if run.rotation.step is RotationStep.RETIRE:
                waiting = self._retire(run)
                if waiting is not None:
                    return waiting
                return self._outcome(run, "retired")
            return self._run(run)
        except _StopRequestedError:
            return self._outcome(run, "interrupted", "stopped between steps; resumes later")
        except LeaseLostError as exc:
            return self._lost(run, exc)
        except VerificationError as exc:
            return self._defer(run, exc, fail=True)
        except CertrotorError as exc:
            return self._defer(run, exc)

    # -- the state machine ---------------------------------------------------------------------

    def _run(self, run: _Run) -> RotationOutcome:
        steps = run.steps
        while True:
            step = run.rotation.step
            if step is RotationStep.PREPARE:
                self._prepare(run)
            elif step is RotationStep.UPLOAD:
                run.checkpoint()
                if steps.upload(run, self._new_version(run)):
                    self._advance(run, RotationStep.VERIFY, also=_nothing)
                else:
                    run.reread()
            elif step is RotationStep.VERIFY:
                run.checkpoint()
                steps.verify(run, self._new_version(run))
                self._advance(run, RotationStep.ACTIVATE, also=_nothing)
            elif step is RotationStep.ACTIVATE:
                self._activate(run)
            elif step is RotationStep.DELIVER:
                self._deliver(run)
            elif step is RotationStep.RETIRE:
                waiting = self._retire(run)
                return self._outcome(run, "rotated", waiting.message if waiting else "")
            else:
                return self._outcome(run, step.value)

    def _advance(
        self,
        run: _Run,
        step: RotationStep,
        *,
        also: Callable[[JournalWrite], T],
        new_version_id: str | None = None,
        retire_after: dt.datetime | None = None,
    ) -> T:
        """Journal that the rotation reached ``step``, with what ``also`` records in the same write
        (fault points surround every transition); returns what ``also`` returned."""
        fault_point("after", run.rotation.step.value)
        rotation_id = run.rotation.id

        def advance(write: JournalWrite) -> T:
            result = also(write)
            write.advance(rotation_id, step, new_version_id=new_version_id, retire_after=retire_after)
            return result

        result = run.write(advance)
        fault_point("before", step.value)
        return result

    def _prepare(self, run: _Run) -> None:
        """Generate the key pair and certificate and keep them (key sealed) as ``pending``, in the
        journal write that moves on to the upload."""
        credential = run.credential
        version = self._orphan_pending(run)
        if version is None:
            key = crypto.generate_private_key(credential.key_spec)
            certificate = crypto.build_self_signed_certificate(
                key,
                common_name=subject_for(credential),
                validity_days=0,
                validity=credential.validity,
            )
            fault_point("after", RotationStep.PREPARE.value)
            rotation_id = run.rotation.id

            def prepare(write: JournalWrite) -> None:
                kept = write.add_version(credential, key, certificate, VersionState.PENDING)
                run.event("prepare", EventOutcome.OK, version=kept.id)
                write.advance(rotation_id, RotationStep.UPLOAD, new_version_id=kept.id)

            run.write(prepare)
            fault_point("before", RotationStep.UPLOAD.value)
            return
        run.event("prepare", EventOutcome.OK, version=version.id)
        self._advance(run, RotationStep.UPLOAD, also=_nothing, new_version_id=version.id)

    def _orphan_pending(self, run: _Run) -> CertificateVersion | None:
        """An unused pending version: by `credential add`, or (before journal writes kept the version and
        the step together) made before a crash kept it from the journal."""
        if run.rotation.new_version_id:
            return run.version(run.rotation.new_version_id)
        now = self.runtime.now()
        for version in reversed(run.versions_in(VersionState.PENDING)):
            # Also the first key pair made by `credential add`, while it has most of its life left.
            fresh = version.not_after - now > (version.not_after - version.not_before) / 2
            if version.certificate_id is None and fresh:
                return version
        return None

    def _new_version(self, run: _Run) -> CertificateVersion:
        if run.rotation.new_version_id is None:
            raise RotationError(f"Rotation {run.rotation.id} has no new version.", hint="run it again.")
        return run.version(run.rotation.new_version_id)

    def _activate(self, run: _Run) -> None:
        """The new version becomes current, the old one previous, in the journal write that moves on to
        delivery; versions an earlier rotation left in grace (cut short by this one) are retired then,
        now that a new certificate is verified and current."""
        version = self._new_version(run)
        credential = run.credential

        def activate(write: JournalWrite) -> None:
            if version.state is not VersionState.CURRENT:
                write.activate(credential, version)
            run.event("activate", EventOutcome.OK, **run.steps.describe(version).detail())

        self._advance(run, RotationStep.DELIVER, also=activate)
        self._retire_left_behind(run, run.rotation.old_version_id)

    def _deliver(self, run: _Run) -> None:
        """Write the files for consumers, then run the hook; never undone. The grace period starts."""
        version = self._new_version(run)
        delivered = run.steps.deliver(version)
        run_delivery_hook(
            run,
            run.credential,
            delivered.paths,
            version_name=run.steps.describe(version).value or "",
            extra_env=delivered.hook_env,
        )
        now = self.runtime.now()
        # An emergency replaced a dead certificate: nothing can still depend on it, no grace.
        emergency = run.rotation.trigger is RotationTrigger.EMERGENCY
        retire_after = now if emergency else now + run.credential.grace
        credential = run.credential

        def schedule(write: JournalWrite) -> Credential:
            return write.set_schedule(credential, retire_after, 0, None, last_rotation_at=now)

        run.credential = self._advance(run, RotationStep.RETIRE, also=schedule, retire_after=retire_after)

    def _retire(self, run: _Run) -> RotationOutcome | None:
        """Retire the previous version once its grace period is over; ``None`` when the rotation is done."""
        rotation = run.rotation
        until = rotation.retire_after
        old_id = rotation.old_version_id
        if old_id is not None and until is not None and self.runtime.now() < until:
            self._plan_grace_end(run, until)
            return self._outcome(run, "waiting", run.steps.grace_note(until))
        if old_id is not None:
            old = run.version(old_id)
            if run.steps.retire(run, old):
                detail = run.steps.describe(old).detail()
                # Written with the rotation's end, in one transaction with the retirement the step noted.
                run.event("retire", EventOutcome.OK, **detail, grace_cut_short=False)
        self._retire_left_behind(run, old_id)
        fault_point("after", RotationStep.RETIRE.value)
        fault_point("before", DONE)

        def finish(write: JournalWrite) -> Credential:
            write.finish(rotation.id, ok=True)
            credential = self._plan_next(run, write)
            write.release(credential, self.owner)
            return credential

        run.credential = run.write(finish)
        run.held = False
        return None

    def _plan_grace_end(self, run: _Run, until: dt.datetime) -> None:
        """A rotation waiting out its grace period is next due when the grace ends (claimed earlier, it
        would only wait again, pass after pass). An earlier retry that a failure set and that is still
        ahead is kept, and so are the failed attempts and the error, which health reports."""
        credential = run.credential
        planned = credential.next_rotation_at
        if planned is not None and self.runtime.now() < planned < until:
            return
        if planned != until:

            def schedule(write: JournalWrite) -> Credential:
                scheduled = write.set_schedule(
                    credential, until, credential.failed_attempts, credential.last_error
                )
                write.release(credential, self.owner)
                return scheduled

            run.credential = run.write(schedule)
            run.held = False

    def _retire_left_behind(self, run: _Run, old_id: str | None) -> None:
        """A manual or emergency rotation postponed an earlier rotation's retire step: every previous
        version but this rotation's own old one goes, its grace cut short (idempotent: resumed after a
        crash, what is revoked already is skipped)."""
        emergency = run.rotation.trigger is RotationTrigger.EMERGENCY
        for version in run.versions_in(VersionState.PREVIOUS):
            if version.id != old_id and run.steps.retire(run, version):
                detail = run.steps.describe(version).detail()
                run.event("retire", EventOutcome.OK, **detail, grace_cut_short=True, emergency=emergency)
                run.flush()  # revoked for good: a resume would not say so again

    def _plan_next(self, run: _Run, write: JournalWrite) -> Credential:
        """Plan the next rotation in the renewal window of the current certificate (in ``write``)."""
        credential = run.credential
        current = write.current_version(credential)
        if current is None:
            return credential
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        planned = plan_next_rotation(current.not_before, current.not_after, window, self.rng)
        return write.set_schedule(credential, planned, 0, None)

    # -- outcomes --------------------------------------------------------------------------------

    def _defer(self, run: _Run, exc: CertrotorError, *, fail: bool = False) -> RotationOutcome:
        """A step failed but may succeed later: keep the journal, back off, raise the health.

        With ``fail`` the rotation cannot succeed as started: it is closed (the old certificate stays
        current), in the same journal write.
        """
        credential = run.credential
        rotation = run.current_rotation

        def defer(write: JournalWrite) -> tuple[Credential, dt.datetime]:
            if fail and rotation is not None:
                write.finish(rotation.id, ok=False, error=exc.message)
            current = write.current_version(credential)
            attempts = credential.failed_attempts + 1
            retry_at = next_attempt_after_failure(
                attempts,
                now=self.runtime.now(),
                expires_at=current.not_after if current else None,
                rng=self.rng,
            )
            run.event(
                "rotation-deferred", EventOutcome.ERROR, error=exc.message, retry_at=retry_at.isoformat()
            )
            scheduled = write.set_schedule(credential, retry_at, attempts, exc.message)
            write.release(credential, self.owner)
            return scheduled, retry_at

        try:
            run.credential, retry_at = run.write(defer)
        except LeaseLostError as lost:
            return self._lost(run, lost)
        run.held = False
        log.warning(
            "rotation deferred", credential=credential.name, error=exc.message, retry_at=retry_at.isoformat()
        )
        outcome = self._outcome(run, "deferred", str(exc))
        if not fail:
            return outcome
        return RotationOutcome(
            credential=run.credential.name,
            status="failed",
            rotation_id=outcome.rotation_id,
            message=str(exc),
        )

    def _lost(self, run: _Run, exc: LeaseLostError) -> RotationOutcome:
        """Another process holds the credential now: leave its journal, schedule and health alone."""
        log.warning("lease lost, rotation left to its new holder", credential=run.credential.name)
        run.held = False
        return self._outcome(run, "interrupted", exc.message, reread=True)

    def _outcome(self, run: _Run, status: str, message: str = "", *, reread: bool = False) -> RotationOutcome:
        """What the rotation achieved; ``reread``: the journal as the store holds it (the run's view may
        predate what a step wrote since: a step interrupted late)."""
        new_id = old_id = None
        rotation = run.current_rotation
        if rotation is not None:
            if reread:
                rotation = run.reread()
            if rotation.new_version_id:
                new_id = run.steps.describe(run.version(rotation.new_version_id)).value
            if rotation.old_version_id:
                old_id = run.steps.describe(run.version(rotation.old_version_id)).value
        return RotationOutcome(
            credential=run.credential.name,
            status=status,
            rotation_id=rotation.id if rotation else None,
            new_certificate_id=new_id,
            old_certificate_id=old_id,
            message=message,
        )


def due_rotation_reason(credential: Credential, now: dt.datetime) -> str:
    """Why the daemon would act on ``credential`` now (for ``--dry-run``)."""
    if credential.next_rotation_at is None:
        return "no rotation planned yet (first certificate)"
    if credential.next_rotation_at <= now:
        return f"planned for {credential.next_rotation_at:%Y-%m-%d %H:%M:%S} UTC"
    return f"not due until {credential.next_rotation_at:%Y-%m-%d %H:%M:%S} UTC"


__all__ = [
    "RotationOutcome",
    "Rotator",
    "due_rotation_reason",
    "subject_for",
]
