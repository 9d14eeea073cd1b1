"""Health of each credential: gathers the facts once (the store, and what its kind's steps observe
remotely) and judges them.
"""

from __future__ import annotations

from certrotor.errors import MasterKeyError
from certrotor.health_rules import HealthFacts, HealthReport, evaluate_health
from certrotor.scheduling import RenewalWindow
from certrotor.services.rotation.kinds import steps_for
from certrotor.services.runtime import Runtime
from certrotor.store import Credential


def check_credential(
    runtime: Runtime, credential: Credential, *, remote: bool = True, probe: bool = False
) -> HealthReport:
    """Judge one credential; remote checks that fail leave the remote state ``unknown``."""
    store = runtime.store
    current = store.current_version(credential)
    key_ok = True
    window_opens = None
    if current is not None:
        try:
            store.load_private_key(current)
        except MasterKeyError:
            key_ok = False
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        window_opens, _ = window.bounds(current.not_before, current.not_after)
    steps = steps_for(credential, runtime)
    observed = steps.observe(current, remote=remote, probe=probe)
    facts = HealthFacts(
        name=credential.name,
        now=runtime.now(),
        kind=steps.kind,
        current_not_after=current.not_after if current else None,
        current_certificate_id=current.certificate_id if current else None,
        renewal_window_opens_at=window_opens,
        next_rotation_at=credential.next_rotation_at,
        rotation_in_progress=store.open_rotation(credential) is not None,
        last_error=credential.last_error,
        failed_attempts=credential.failed_attempts,
        remote_state=observed.state,
        key_decryptable=key_ok,
        foreign_certificate_ids=observed.foreign_certificate_ids,
        probe=observed.probe,
        placeholder_detected=observed.placeholder,
        record_script_id=credential.record_script_id,
        insecure_base_url=None if credential.verify_tls else (credential.base_url or "(derived)"),
    )
    return evaluate_health(facts)


def check_all(
    runtime: Runtime, names: list[str] | None = None, *, remote: bool = True, probe: bool = False
) -> list[HealthReport]:
    store = runtime.store
    credentials = [store.get_credential(n) for n in names] if names else store.list_credentials()
    return [check_credential(runtime, c, remote=remote, probe=probe) for c in credentials]
