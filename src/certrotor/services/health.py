"""Health of each credential: gathers the facts (store, NetSuite's list, a token probe) and judges them."""

from __future__ import annotations

from certrotor.errors import CertrotorError, MasterKeyError
from certrotor.health_rules import HealthFacts, HealthReport, ProbeResult, RemoteState, evaluate_health
from certrotor.logging import get_logger
from certrotor.scheduling import RenewalWindow
from certrotor.services.reconcile import combination_items
from certrotor.services.records import check_record_credential
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, CredentialKind

log = get_logger(__name__)


def _remote_facts(
    runtime: Runtime, credential: Credential, certificate_id: str | None
) -> tuple[RemoteState, tuple[str, ...]]:
    """The current certificate's state on the server and unknown active certificates there."""
    with runtime.client_for(credential) as client:
        items = client.list_certificates()
    known = {v.certificate_id for v in runtime.store.versions(credential) if v.certificate_id}
    foreign = tuple(
        i.certificate_id
        for i in combination_items(credential, items)
        if not i.revoked and i.certificate_id not in known
    )
    if certificate_id is None:
        return "unknown", foreign
    remote = next((i for i in items if i.certificate_id == certificate_id), None)
    if remote is None:
        return "missing", foreign
    return ("revoked" if remote.revoked else "active"), foreign


def check_credential(
    runtime: Runtime, credential: Credential, *, remote: bool = True, probe: bool = False
) -> HealthReport:
    """Judge one credential; remote checks that fail leave the remote state ``unknown``."""
    if credential.kind is CredentialKind.RECORD:
        return check_record_credential(runtime, credential, remote=remote)
    store = runtime.store
    now = runtime.now()
    current = store.current_version(credential)
    key_ok = True
    if current is not None:
        try:
            private_key = store.load_private_key(current)
        except MasterKeyError:
            key_ok = False
    window_opens = None
    if current is not None:
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        window_opens, _ = window.bounds(current.not_before, current.not_after)
    remote_state: RemoteState = "unknown"
    foreign: tuple[str, ...] = ()
    probe_result: ProbeResult | None = None
    if remote:
        try:
            remote_state, foreign = _remote_facts(
                runtime, credential, current.certificate_id if current else None
            )
        except CertrotorError as exc:
            log.warning("remote health check failed", credential=credential.name, error=exc.message)
            if probe:
                probe_result = ProbeResult.failed(f"listing certificates failed: {exc.message}")
    if probe and probe_result is None:
        if current is None or current.certificate_id is None or not key_ok:
            probe_result = ProbeResult.failed("no usable current certificate")
        else:
            try:
                with runtime.token_client(credential) as client:
                    client.request_token(
                        private_key, certificate_id=current.certificate_id, scopes=credential.scopes
                    )
                probe_result = ProbeResult.succeeded()
            except CertrotorError as exc:
                probe_result = ProbeResult.failed(exc.message)
    facts = HealthFacts(
        name=credential.name,
        now=now,
        kind="m2m",  # record credentials were handed to check_record_credential above
        current_not_after=current.not_after if current else None,
        current_certificate_id=current.certificate_id if current else None,
        renewal_window_opens_at=window_opens,
        next_rotation_at=credential.next_rotation_at,
        rotation_in_progress=store.open_rotation(credential) is not None,
        last_error=credential.last_error,
        failed_attempts=credential.failed_attempts,
        remote_state=remote_state,
        key_decryptable=key_ok,
        foreign_certificate_ids=foreign,
        probe=probe_result,
        record_script_id=credential.record_script_id,
    )
    return evaluate_health(facts)


def check_all(
    runtime: Runtime, names: list[str] | None = None, *, remote: bool = True, probe: bool = False
) -> list[HealthReport]:
    store = runtime.store
    credentials = [store.get_credential(n) for n in names] if names else store.list_credentials()
    return [check_credential(runtime, c, remote=remote, probe=probe) for c in credentials]
