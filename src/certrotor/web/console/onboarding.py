"""Onboarding a NetSuite account by consent: authorization code grant with PKCE, then the first certificate.

The operator starts it (:func:`start_onboarding`); the customer's administrator approves on NetSuite's
consent page, reached through a single-use share link or the operator's own button; NetSuite sends
the browser back to ``/connect/callback`` and :func:`finish_onboarding` exchanges the code, seals
the management token, generates and uploads the first certificate, verifies it by obtaining a token
with it, and activates it. Every step is audited with the operator who started it as the actor.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets
import time
from dataclasses import dataclass

from certrotor import crypto
from certrotor.client import BearerTokenAuth, NetSuiteClient, build_authorize_url, make_pkce_pair, make_state
from certrotor.client.login import s256_challenge
from certrotor.errors import CertrotorError, InputError, LoginError, VerificationError
from certrotor.logging import get_logger
from certrotor.protocol.urls import NetSuiteEndpoints, validate_account_id
from certrotor.scheduling import RenewalWindow, plan_next_rotation
from certrotor.services.runtime import Runtime
from certrotor.store import (
    AuthMode,
    CertificateVersion,
    Credential,
    CredentialSpec,
    EventOutcome,
    VersionState,
)
from certrotor.store.domain import DEFAULT_SCOPES
from certrotor.store.web_users import NewOnboarding, Onboarding, OnboardingOutcome, WebStore

log = get_logger(__name__)

SHARE_LINK_LIFETIME = dt.timedelta(hours=24)
VERIFY_ATTEMPTS = 3
VERIFY_PAUSE_SECONDS = 1.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DIGITS = re.compile(r"^-?[0-9]{1,10}$")


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """The operator's form on ``/connect``, as typed (checked by :func:`check_connect_request`)."""

    name: str
    account_id: str
    client_id: str
    entity: str
    role: str
    base_url: str = ""
    manager: str = ""


@dataclass(frozen=True, slots=True)
class StartedOnboarding:
    onboarding: Onboarding
    share_token: str


def _number(value: str, label: str) -> int:
    text = value.strip()
    if not _DIGITS.fullmatch(text):
        raise InputError(
            f"The {label} must be a NetSuite internal ID (digits, e.g. 7 or -5), not {value!r}.",
            hint=f"copy the {label}'s internal ID from NetSuite.",
        )
    return int(text)


def check_connect_request(runtime: Runtime, form: ConnectRequest) -> CredentialSpec:
    """The credential the onboarding will create; every field is checked before anything is stored."""
    name = form.name.strip()
    if not _NAME.fullmatch(name):
        raise InputError(
            f"{form.name!r} is not a valid credential name.",
            hint="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    if runtime.store.find_credential(name) is not None:
        raise InputError(f"A credential named {name!r} already exists.", hint="choose another name.")
    account_id = validate_account_id(form.account_id)
    client_id = form.client_id.strip()
    if not client_id or len(client_id) > 128 or any(c.isspace() for c in client_id):
        raise InputError(
            "The client ID is missing or malformed.",
            hint="copy the integration record's client ID (Setup > Integration > Manage Integrations).",
        )
    base_url = form.base_url.strip() or None
    if base_url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base_url):
        raise InputError(
            f"{form.base_url!r} is not an http(s) base URL.",
            hint="leave it empty for NetSuite itself, or give e.g. http://127.0.0.1:8080 for the emulator.",
        )
    manager = form.manager.strip() or None
    if manager is not None:
        managing = runtime.store.find_credential(manager)
        if managing is None:
            raise InputError(
                f"No credential named {manager!r} to manage certificates with.",
                hint="pick one of the listed credentials, or none.",
            )
    return CredentialSpec(
        name=name,
        account_id=account_id,
        client_id=client_id,
        entity_id=_number(form.entity, "entity"),
        role_id=_number(form.role, "role"),
        base_url=base_url.rstrip("/") if base_url else None,
        scopes=DEFAULT_SCOPES,
        auth_mode=AuthMode.CREDENTIAL if manager else AuthMode.SELF,
        auth_credential=manager,
    )


def _endpoints(onboarding: Onboarding) -> NetSuiteEndpoints:
    return NetSuiteEndpoints.for_account(onboarding.account_id, onboarding.base_url)


def start_onboarding(
    runtime: Runtime,
    web_store: WebStore,
    form: ConnectRequest,
    *,
    actor: str,
    redirect_uri: str,
    lifetime: dt.timedelta = SHARE_LINK_LIFETIME,
) -> StartedOnboarding:
    """Check the form and record a pending onboarding with a fresh state, PKCE pair and share link."""
    spec = check_connect_request(runtime, form)
    pkce = make_pkce_pair()
    share_token = secrets.token_urlsafe(32)
    onboarding = web_store.start_onboarding(
        NewOnboarding(
            credential_name=spec.name,
            account_id=spec.account_id,
            client_id=spec.client_id,
            entity_id=spec.entity_id,
            role_id=spec.role_id,
            base_url=spec.base_url,
            manager_credential=spec.auth_credential,
            redirect_uri=redirect_uri,
            started_by=actor,
            state=make_state(),
            code_verifier=pkce.verifier,
            share_token=share_token,
            expires_at=runtime.now() + lifetime,
        )
    )
    runtime.store.append_event(
        None,
        actor,
        "web-onboarding-start",
        EventOutcome.INFO,
        {"onboarding": onboarding.id, "credential": spec.name, "account": spec.account_id},
    )
    return StartedOnboarding(onboarding=onboarding, share_token=share_token)


def authorize_url(web_store: WebStore, onboarding: Onboarding) -> str:
    """NetSuite's consent page for this onboarding (PKCE S256, the console's own redirect URI)."""
    sealed = web_store.secrets(onboarding)
    return build_authorize_url(
        _endpoints(onboarding),
        client_id=onboarding.client_id,
        redirect_uri=onboarding.redirect_uri,
        scopes=list(DEFAULT_SCOPES),
        state=sealed.state,
        code_challenge=s256_challenge(sealed.code_verifier),
    )


@dataclass(frozen=True, slots=True)
class ConnectedCredential:
    credential: Credential
    version: CertificateVersion


def finish_onboarding(
    runtime: Runtime, web_store: WebStore, *, state: str, code: str | None, error: str | None
) -> ConnectedCredential:
    """The callback: exchange the code, store the credential, upload, verify and activate its certificate.

    Raises ``LoginError`` for an unknown, expired, finished or denied onboarding (nothing changed),
    and any ``CertrotorError`` of a later step (recorded on the onboarding and in the audit trail).
    """
    onboarding = web_store.onboarding_by_state(state) if state else None
    if onboarding is None:
        raise LoginError(
            "This consent answer belongs to no onboarding of this console.",
            reason="state_mismatch",
            hint="start the onboarding again at /connect and use its link.",
        )
    now = runtime.now()
    if onboarding.finished_at is not None:
        raise LoginError(
            f"Onboarding {onboarding.id} ({onboarding.credential_name}) is already finished.",
            reason="already_finished",
            hint="start a new onboarding at /connect if the account is still to be connected.",
        )
    if onboarding.is_expired(now):
        raise LoginError(
            f"Onboarding {onboarding.id} expired at {onboarding.expires_at:%Y-%m-%d %H:%M} UTC.",
            reason="expired",
            hint="start the onboarding again at /connect.",
        )
    if not web_store.claim_onboarding(onboarding, now):
        raise LoginError(
            f"Onboarding {onboarding.id} is being finished by another request.",
            reason="already_finished",
            hint="open the console to see the new credential.",
        )
    actor = onboarding.started_by
    try:
        if error is not None or not code:
            raise LoginError(
                f"NetSuite did not authorize the onboarding: {error or 'no code in the answer'}.",
                reason=error or "missing_code",
                hint="ask the account's administrator to approve the request; start again at /connect.",
            )
        connected = _connect(runtime, web_store, onboarding, code)
    except CertrotorError as exc:
        web_store.finish_onboarding(onboarding, OnboardingOutcome.FAILED, str(exc))
        runtime.store.append_event(
            None,
            actor,
            "web-onboarding",
            EventOutcome.ERROR,
            {"onboarding": onboarding.id, "credential": onboarding.credential_name, "error": exc.message},
        )
        raise
    web_store.finish_onboarding(
        onboarding, OnboardingOutcome.CONNECTED, f"certificate {connected.version.certificate_id}"
    )
    return connected


def _connect(runtime: Runtime, web_store: WebStore, onboarding: Onboarding, code: str) -> ConnectedCredential:
    store = runtime.store
    actor = onboarding.started_by
    endpoints = _endpoints(onboarding)
    with NetSuiteClient(
        endpoints, client_id=onboarding.client_id, auth=None, timeout=runtime.settings.http_timeout_seconds
    ) as client:
        token = client.exchange_authorization_code(
            code,
            redirect_uri=onboarding.redirect_uri,
            code_verifier=web_store.secrets(onboarding).code_verifier,
        )
    spec = CredentialSpec(
        name=onboarding.credential_name,
        account_id=onboarding.account_id,
        client_id=onboarding.client_id,
        entity_id=onboarding.entity_id,
        role_id=onboarding.role_id,
        base_url=onboarding.base_url,
        auth_mode=AuthMode.CREDENTIAL if onboarding.manager_credential else AuthMode.SELF,
        auth_credential=onboarding.manager_credential,
        management_token=token.access_token,
    )
    credential = store.add_credential(spec)
    private_key = crypto.generate_private_key(spec.key_spec)
    certificate = crypto.build_self_signed_certificate(
        private_key,
        common_name=f"certrotor {spec.name}",
        validity_days=0,
        validity=dt.timedelta(seconds=spec.validity_seconds),
    )
    version = store.add_version(credential, private_key, certificate, VersionState.PENDING)
    store.append_event(
        credential,
        actor,
        "credential-add",
        EventOutcome.OK,
        {"version": version.id, "onboarding": onboarding.id, "management_auth": "consent"},
    )
    with runtime.client_for(credential, auth=BearerTokenAuth(token.access_token)) as client:
        answer = client.upload_certificate(
            version.certificate_pem, entity=credential.entity_id, role=credential.role_id
        )
    version = store.set_remote_certificate_id(version, answer.certificate_id, state=VersionState.UPLOADED)
    store.append_event(
        credential, actor, "upload", EventOutcome.OK, {"certificate_id": answer.certificate_id}
    )
    _verify(runtime, credential, version, private_key, actor)
    store.append_event(
        credential, actor, "verify", EventOutcome.OK, {"certificate_id": answer.certificate_id}
    )
    version = store.activate(credential, version)
    window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
    planned = plan_next_rotation(version.not_before, version.not_after, window, random.Random())
    credential = store.set_schedule(credential, planned, 0, None)
    store.append_event(
        credential,
        actor,
        "activate",
        EventOutcome.OK,
        {"certificate_id": answer.certificate_id, "onboarding": onboarding.id},
    )
    log.info("onboarding connected", credential=credential.name, certificate_id=answer.certificate_id)
    return ConnectedCredential(credential=credential, version=version)


def _verify(
    runtime: Runtime,
    credential: Credential,
    version: CertificateVersion,
    private_key: crypto.PrivateKey,
    actor: str,
) -> None:
    """The new certificate must obtain a token (NetSuite may need a moment after the upload)."""
    assert version.certificate_id is not None
    last: CertrotorError | None = None
    for attempt in range(VERIFY_ATTEMPTS):
        if attempt:
            time.sleep(VERIFY_PAUSE_SECONDS)
        try:
            with runtime.token_client(credential) as client:
                client.request_token(
                    private_key, certificate_id=version.certificate_id, scopes=credential.scopes
                )
            return
        except CertrotorError as exc:
            last = exc
    assert last is not None
    runtime.store.append_event(
        credential, actor, "verify", EventOutcome.ERROR, {"certificate_id": version.certificate_id}
    )
    raise VerificationError(
        f"The first certificate {version.certificate_id} of {credential.name!r} was uploaded but "
        f"obtained no token: {last.message}",
        hint=f"check the integration's M2M mapping for entity {credential.entity_id} and role "
        f"{credential.role_id}, then run `certrotor rotate {credential.name}`.",
    )
