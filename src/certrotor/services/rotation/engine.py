"""The rotation engine: claim, the journaled step loop, the grace period, deferral, outcome, planning.

Each step is idempotent and recorded in the store before and after its effect, so a crash anywhere
resumes without losing a key, without an unknown certificate left remotely, and without retiring the
only working certificate early. What differs between kinds of credential (where the certificate
goes, how it is proved, what consumers get, what retiring means) is in their ``Steps``; the engine
asks ``steps_for`` and knows no kind.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from certrotor import crypto
from certrotor.errors import (
    CertrotorError,
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


class _Run:
    """One rotation of one credential by one rotator: the journal the steps see (``StepJournal``)."""

    def __init__(self, rotator: Rotator, credential: Credential, steps: Steps) -> None:
        self.rotator = rotator
        self.store = rotator.store
        self.credential = credential
        self.steps = steps
        self.current_rotation: Rotation | None = None
        self.drafts: list[EventDraft] = []
        """Events not written yet: they go with the next journal write (at the latest the lease
        renewal before the next remote effect, or the end of the rotation)."""

    @property
    def rotation(self) -> Rotation:
        assert self.current_rotation is not None, "no rotation started"
        return self.current_rotation

    def reread(self) -> Rotation:
        """The journal row as the store holds it now (after a step)."""
        self.current_rotation = self.store.get_rotation(self.rotation.id)
        return self.current_rotation

    def event(self, action: str, outcome: EventOutcome, **detail: object) -> None:
        """Draft an audit event; it is written in the transaction of the next journal write."""
        if self.current_rotation is not None:
            detail["rotation"] = self.current_rotation.id
        self.drafts.append(EventDraft(self.credential, self.rotator.actor, action, outcome, dict(detail)))

    def take_drafts(self) -> tuple[EventDraft, ...]:
        """The drafted events, for a journal write to carry (kept if that write fails)."""
        return tuple(self.drafts)

    def written(self, drafts: tuple[EventDraft, ...]) -> None:
        """The journal write carrying ``drafts`` committed."""
        del self.drafts[: len(drafts)]

    def flush_events(self) -> None:
        """Write drafted events that no journal write carried (the end of a rotation)."""
        drafts = self.take_drafts()
        self.store.append_events(drafts)
        self.written(drafts)

    def checkpoint(self) -> None:
        if self.rotator.should_stop():
            self.flush_events()
            raise _StopRequestedError
        drafts = self.take_drafts()
        self.store.renew_lease(self.credential, self.rotator.owner, self.rotator.lease_seconds, events=drafts)
        self.written(drafts)

    def advance(
        self,
        step: RotationStep,
        *,
        new_version_id: str | None = None,
        retire_after: dt.datetime | None = None,
    ) -> Rotation:
        """Journal that the rotation reached ``step``, with the events drafted since the last write."""
        drafts = self.take_drafts()
        self.current_rotation = self.store.advance_rotation(
            self.rotation.id, step, new_version_id=new_version_id, retire_after=retire_after, events=drafts
        )
        self.written(drafts)
        return self.current_rotation

    def finish(self, rotation_id: int, ok: bool, error: str | None = None) -> Rotation:
        """Close the journal entry, with the events drafted since the last write."""
        drafts = self.take_drafts()
        finished = self.store.finish_rotation(rotation_id, ok, error, events=drafts)
        self.written(drafts)
        return finished

    def schedule(
        self,
        at: dt.datetime | None,
        failed_attempts: int,
        error: str | None,
        *,
        last_rotation_at: dt.datetime | None = None,
    ) -> None:
        drafts = self.take_drafts()
        self.credential = self.store.set_schedule(
            self.credential, at, failed_attempts, error, last_rotation_at=last_rotation_at, events=drafts
        )
        self.written(drafts)


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
            steps_for(credential, self.runtime).check_rotatable()
        except CertrotorError:
            if claimed:
                self.store.release(credential, self.owner)
            raise
        if not claimed:
            # A lease left by a killed process of this host is taken over: `certrotor rotate NAME`
            # run again after a crash is not refused until the dead process's lease expires.
            credential = self.store.claim_taking_over_dead(credential, self.owner, self.lease_seconds)
        run = _Run(self, credential, steps_for(credential, self.runtime))
        try:
            return self._rotate_claimed(run, trigger, reason)
        finally:
            try:
                run.flush_events()
            finally:
                self.store.release(credential, self.owner)

    def _rotate_claimed(self, run: _Run, trigger: RotationTrigger, reason: str | None) -> RotationOutcome:
        run.current_rotation = self.store.open_rotation(run.credential)
        try:
            rotation = run.current_rotation
            if rotation is not None and rotation.step is RotationStep.RETIRE:
                # A manual or emergency trigger cuts a grace period short and starts a new rotation;
                # a rotation whose grace is over (resumed after a crash) is only finished.
                in_grace = rotation.retire_after is not None and self.runtime.now() < rotation.retire_after
                if trigger in (RotationTrigger.MANUAL, RotationTrigger.EMERGENCY) and in_grace:
                    # The previous certificate may be the only one that works: nothing is revoked
                    # until the new rotation has verified its certificate (see _retire_left_behind).
                    run.event("retire-postponed", EventOutcome.INFO, reason=f"{trigger.value} rotation")
                    run.finish(rotation.id, ok=True)
                    run.current_rotation = None
                else:
                    waiting = self._retire(run)
                    if waiting is not None:
                        return waiting
                    return self._outcome(run, "retired")
            if run.current_rotation is None:
                credential = run.credential
                old = self.store.current_version(credential)
                strategy = credential.effective_strategy or Strategy.OVERLAP
                # Not run.event: the event needs the rotation's ID, so start_rotation tags it.
                detail = {"trigger": trigger.value, **({"reason": reason} if reason else {})}
                start = EventDraft(credential, self.actor, "rotation-start", EventOutcome.INFO, detail)
                run.current_rotation = self.store.start_rotation(
                    credential, trigger, strategy, old, events=[start]
                )
                fault_point("before", RotationStep.PREPARE.value)
            return self._run(run)
        except _StopRequestedError:
            return self._outcome(run, "interrupted", "stopped between steps; resumes later")
        except LeaseLostError as exc:
            # Another process holds the credential now: leave its schedule and health alone.
            log.warning("lease lost, rotation left to its new holder", credential=run.credential.name)
            return self._outcome(run, "interrupted", exc.message)
        except VerificationError as exc:
            return self._fail_rotation(run, exc)
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
                    self._advance(run, RotationStep.VERIFY)
                else:
                    run.reread()
            elif step is RotationStep.VERIFY:
                run.checkpoint()
                steps.verify(run, self._new_version(run))
                self._advance(run, RotationStep.ACTIVATE)
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
        new_version_id: str | None = None,
        retire_after: dt.datetime | None = None,
    ) -> None:
        """Journal that the rotation reached ``step`` (fault points surround every transition)."""
        fault_point("after", run.rotation.step.value)
        run.advance(step, new_version_id=new_version_id, retire_after=retire_after)
        fault_point("before", step.value)

    def _prepare(self, run: _Run) -> None:
        """Generate the key pair and certificate and keep them (key sealed) as ``pending``."""
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
            version = self.store.add_version(credential, key, certificate, VersionState.PENDING)
        run.event("prepare", EventOutcome.OK, version=version.id)
        self._advance(run, RotationStep.UPLOAD, new_version_id=version.id)

    def _orphan_pending(self, run: _Run) -> CertificateVersion | None:
        """An unused pending version: made before a crash kept it from the journal, or by `credential add`."""
        if run.rotation.new_version_id:
            return self.store.get_version(run.rotation.new_version_id)
        now = self.runtime.now()
        for version in reversed(self.store.versions(run.credential, states=[VersionState.PENDING])):
            # Also the first key pair made by `credential add`, while it has most of its life left.
            fresh = version.not_after - now > (version.not_after - version.not_before) / 2
            if version.certificate_id is None and fresh:
                return version
        return None

    def _new_version(self, run: _Run) -> CertificateVersion:
        if run.rotation.new_version_id is None:
            raise RotationError(f"Rotation {run.rotation.id} has no new version.", hint="run it again.")
        return self.store.get_version(run.rotation.new_version_id)

    def _activate(self, run: _Run) -> None:
        """The new version becomes current, the old one previous; versions an earlier rotation left in
        grace (cut short by this one) are retired now that a new certificate is verified and current."""
        version = self._new_version(run)
        if version.state is not VersionState.CURRENT:
            self.store.activate(run.credential, version)
        run.event("activate", EventOutcome.OK, **run.steps.describe(version).detail())
        self._retire_left_behind(run, run.rotation.old_version_id)
        self._advance(run, RotationStep.DELIVER)

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
        run.schedule(retire_after, 0, None, last_rotation_at=now)
        self._advance(run, RotationStep.RETIRE, retire_after=retire_after)

    def _retire(self, run: _Run) -> RotationOutcome | None:
        """Retire the previous version once its grace period is over; ``None`` when the rotation is done."""
        rotation = run.rotation
        until = rotation.retire_after
        old_id = rotation.old_version_id
        if old_id is not None and until is not None and self.runtime.now() < until:
            self._plan_grace_end(run, until)
            return self._outcome(run, "waiting", run.steps.grace_note(until))
        if old_id is not None:
            old = self.store.get_version(old_id)
            if run.steps.retire(run, old):
                detail = run.steps.describe(old).detail()
                run.event("retire", EventOutcome.OK, **detail, grace_cut_short=False)
                # The version is retired for good: a resume after a crash would not say so again.
                run.flush_events()
        self._retire_left_behind(run, old_id)
        fault_point("after", RotationStep.RETIRE.value)
        fault_point("before", DONE)
        run.finish(rotation.id, ok=True)
        self._plan_next(run)
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
            run.schedule(until, credential.failed_attempts, credential.last_error)

    def _retire_left_behind(self, run: _Run, old_id: str | None) -> None:
        """A manual or emergency rotation postponed an earlier rotation's retire step: every previous
        version but this rotation's own old one goes, its grace cut short (idempotent: resumed after a
        crash, what is revoked already is skipped)."""
        emergency = run.rotation.trigger is RotationTrigger.EMERGENCY
        for version in self.store.versions(run.credential, states=[VersionState.PREVIOUS]):
            if version.id != old_id and run.steps.retire(run, version):
                detail = run.steps.describe(version).detail()
                run.event("retire", EventOutcome.OK, **detail, grace_cut_short=True, emergency=emergency)
                run.flush_events()

    def _plan_next(self, run: _Run) -> None:
        credential = run.credential
        current = self.store.current_version(credential)
        if current is None:
            return
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        planned = plan_next_rotation(current.not_before, current.not_after, window, self.rng)
        run.schedule(planned, 0, None)

    # -- outcomes --------------------------------------------------------------------------------

    def _defer(self, run: _Run, exc: CertrotorError) -> RotationOutcome:
        """A step failed but may succeed later: keep the journal, back off, raise the health."""
        credential = run.credential
        current = self.store.current_version(credential)
        attempts = credential.failed_attempts + 1
        retry_at = next_attempt_after_failure(
            attempts,
            now=self.runtime.now(),
            expires_at=current.not_after if current else None,
            rng=self.rng,
        )
        run.event("rotation-deferred", EventOutcome.ERROR, error=exc.message, retry_at=retry_at.isoformat())
        run.schedule(retry_at, attempts, exc.message)
        log.warning(
            "rotation deferred", credential=credential.name, error=exc.message, retry_at=retry_at.isoformat()
        )
        return self._outcome(run, "deferred", str(exc))

    def _fail_rotation(self, run: _Run, exc: CertrotorError) -> RotationOutcome:
        """The rotation cannot succeed as started: close it; the old certificate stays current."""
        if run.current_rotation is not None:
            run.finish(run.current_rotation.id, ok=False, error=exc.message)
        outcome = self._defer(run, exc)
        return RotationOutcome(
            credential=run.credential.name,
            status="failed",
            rotation_id=outcome.rotation_id,
            message=str(exc),
        )

    def _outcome(self, run: _Run, status: str, message: str = "") -> RotationOutcome:
        new_id = old_id = None
        rotation = run.current_rotation
        if rotation is not None:
            # The engine's copy may predate what a step wrote since (a step that failed late).
            rotation = run.reread()
            if rotation.new_version_id:
                new_id = run.steps.describe(self.store.get_version(rotation.new_version_id)).value
            if rotation.old_version_id:
                old_id = run.steps.describe(self.store.get_version(rotation.old_version_id)).value
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
