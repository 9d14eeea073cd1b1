"""``certrotor credential recover NAME``: a credential whose private keys can no longer be opened (lost
master key) gets a new key pair, uploaded with a bootstrap or management token; the old certificates
are revoked on NetSuite where that works.

The new key is sealed under the master key in use, which then becomes the store's key: other
credentials sealed under the lost key stay undecryptable until they are recovered in turn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from certrotor import crypto
from certrotor.client.auth import BearerTokenAuth
from certrotor.errors import CertrotorError, ConfigError, InputError, MasterKeyError
from certrotor.scheduling import RenewalWindow, plan_next_rotation
from certrotor.services.rotation.kinds import m2m_steps_for
from certrotor.services.rotation.m2m import deliver_current, revoke_remote
from certrotor.services.runtime import Runtime
from certrotor.store import CertificateVersion, EventOutcome, VersionState

ACTOR = "cli"
_LIVE = (VersionState.CURRENT, VersionState.PREVIOUS, VersionState.UPLOADED, VersionState.PENDING)


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    version: CertificateVersion
    revoked: tuple[str, ...]
    not_revoked: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """Certificate IDs that could not be revoked, each with the reason."""
    previous_key_id: str | None = None
    """The master key id the store recorded before, when the key in use replaced it."""


def recover(runtime: Runtime, name: str) -> RecoveryResult:
    """New key pair, uploaded with a token, verified, activated and delivered; old certificates revoked."""
    store = runtime.store
    credential = m2m_steps_for(store.get_credential(name), runtime).credential
    current = store.current_version(credential)
    if current is not None and _opens(runtime, current):
        raise InputError(
            f"The private key of {name!r} opens with the master key in use: there is nothing to recover.",
            hint=f"rotate it as usual with `certrotor rotate {name}`.",
        )
    token = _management_token(runtime, name)
    if store.open_rotation(credential) is not None:
        rotation = store.open_rotation(credential)
        assert rotation is not None
        store.finish_rotation(rotation.id, ok=False, error="abandoned by credential recover")
    old_versions = store.versions(credential, states=_LIVE)
    private_key = crypto.generate_private_key(credential.key_spec)
    certificate = crypto.build_self_signed_certificate(
        private_key, common_name=f"certrotor {credential.name}", validity_days=0, validity=credential.validity
    )
    version = store.add_version(credential, private_key, certificate, VersionState.PENDING)
    with runtime.client_for(credential, auth=BearerTokenAuth(token)) as client:
        answer = client.upload_certificate(
            crypto.certificate_to_pem(certificate), entity=credential.entity_id, role=credential.role_id
        )
        version = store.set_remote_certificate_id(version, answer.certificate_id, state=VersionState.UPLOADED)
        with runtime.token_client(credential) as token_client:
            token_client.request_token(
                private_key, certificate_id=answer.certificate_id, scopes=list(credential.scopes)
            )
        version = store.activate(credential, version)
        previous_key_id = store.adopt_master_key()
        revoked: list[str] = []
        not_revoked: list[tuple[str, str]] = []
        for old in old_versions:
            if old.certificate_id is not None:
                try:
                    revoke_remote(client, old)
                except CertrotorError as exc:
                    not_revoked.append((old.certificate_id, exc.message))
                    continue
                revoked.append(old.certificate_id)
            store.set_version_state(old, VersionState.REVOKED)
    deliver_current(runtime, store.get_credential(name), version)
    window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
    store.set_schedule(
        credential,
        plan_next_rotation(version.not_before, version.not_after, window, random.Random()),
        0,
        None,
    )
    store.append_event(
        credential,
        ACTOR,
        "credential-recover",
        EventOutcome.OK if not not_revoked else EventOutcome.ERROR,
        {
            "certificate_id": answer.certificate_id,
            "revoked": revoked,
            "not_revoked": [certificate_id for certificate_id, _ in not_revoked],
            "previous_master_key_id": previous_key_id,
        },
    )
    return RecoveryResult(version, tuple(revoked), tuple(not_revoked), previous_key_id)


def _opens(runtime: Runtime, version: CertificateVersion) -> bool:
    try:
        runtime.store.load_private_key(version)
    except MasterKeyError:
        return False
    return True


def _management_token(runtime: Runtime, name: str) -> str:
    """``--token``, else the stored token if it still opens, else ``CERTROTOR_BOOTSTRAP_TOKEN``."""
    if runtime.token_override:
        return runtime.token_override
    credential = runtime.store.get_credential(name)
    if credential.has_management_token:
        try:
            stored = runtime.store.management_token(credential)
        except MasterKeyError:
            stored = None  # sealed under the lost key
        if stored:
            return stored
    if runtime.settings.bootstrap_token is not None:
        return runtime.settings.bootstrap_token.get_secret_value()
    raise ConfigError(
        f"Recovering {name!r} needs a management token: its own certificate's key cannot be opened.",
        hint="pass --token TOKEN (a bootstrap token from NetSuite, or `certrotor login` on another "
        "machine) or set CERTROTOR_BOOTSTRAP_TOKEN.",
    )


__all__ = ["RecoveryResult", "recover"]
