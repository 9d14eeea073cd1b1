"""Management access: the first way that works to authenticate NetSuite's certificate endpoints for a
credential, with access tokens reused (per certificate) until they near expiry.

The fallback chain: the credential's configured auth; its previous certificate while still active;
another credential of the same account and integration; the sealed management token, then the
bootstrap token. A token given on the command line (``--token``) is used alone. A certificate the
token endpoint refuses (``invalid_client``: revoked, unknown ``kid``, expired) or whose token a
management call answers 401 is remembered as refused, a fact health reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from certrotor.errors import (
    AuthenticationError,
    MasterKeyError,
    NoManagementAccessError,
    NotFoundError,
    PermissionDeniedError,
    TokenRequestError,
)
from certrotor.logging import get_logger
from certrotor.protocol.urls import NetSuiteEndpoints, check_transport
from certrotor.store import AuthMode, CertificateVersion, Credential, VersionState

if TYPE_CHECKING:
    # The HTTP client is imported where a remote call is made: `health --offline` never loads it.
    import httpx2

    from certrotor.client.auth import M2MAuth
    from certrotor.client.netsuite import NetSuiteClient
    from certrotor.services.runtime import Runtime

log = get_logger(__name__)

T = TypeVar("T")

REFUSAL_MEMORY_SECONDS = 600.0
"""How long a refused certificate is skipped without asking again (revocation is final; a
mapping fixed by an administrator is retried after this)."""


def repair_command(name: str) -> str:
    """The commands that give ``name`` a working management access again."""
    return f"certrotor login {name}  (or: certrotor credential set {name} --token TOKEN)"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to authenticate: a certificate (M2M token) or a bearer token."""

    label: str
    certificate_id: str | None = None
    credential: Credential | None = None
    version: CertificateVersion | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never the token
        return f"Candidate({self.label!r})"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a certificate could not authenticate, and whether that proves it dead on NetSuite."""

    message: str
    proves_dead: bool
    at: float


def _endpoints(credential: Credential) -> NetSuiteEndpoints:
    """The credential's endpoints; like ``runtime.endpoints_for``, plain http:// needs an insecure account."""
    check_transport(credential.base_url, insecure=not credential.verify_tls)
    return NetSuiteEndpoints.for_account(credential.account_id, credential.base_url)


class ManagementAccess:
    """Per runtime: cached M2M auths (one per certificate), refusals seen, and the fallback chain."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._auths: dict[tuple[str, str, str, tuple[str, ...]], M2MAuth] = {}
        self._refused: dict[str, Refusal] = {}

    # -- cached M2M auths and refusals ---------------------------------------------------------

    def m2m_auth(self, credential: Credential, version: CertificateVersion) -> M2MAuth:
        """The one ``M2MAuth`` of ``version`` in this runtime: its token is reused until near expiry."""
        if version.certificate_id is None:
            raise NotFoundError(
                f"Certificate version {version.id} of {credential.name!r} was never uploaded.",
                hint=f"run `certrotor upload {credential.name}` first.",
            )
        token_url = _endpoints(credential).token_url
        key = (token_url, credential.client_id, version.certificate_id, tuple(credential.scopes))
        with self._lock:
            auth = self._auths.get(key)
        if auth is not None:
            return auth
        from certrotor.client.auth import M2MAuth

        fresh = M2MAuth(
            token_url,
            credential.client_id,
            version.certificate_id,
            self._runtime.store.load_private_key(version),
            credential.scopes,
            verify_tls=credential.verify_tls,
            timeout=self._runtime.settings.http_timeout_seconds,
        )
        with self._lock:
            auth = self._auths.setdefault(key, fresh)
        if auth is not fresh:
            fresh.close()
        return auth

    def refusal(self, certificate_id: str | None) -> Refusal | None:
        """The recent refusal of ``certificate_id``, if any."""
        if certificate_id is None:
            return None
        with self._lock:
            refusal = self._refused.get(certificate_id)
            if refusal is not None and time.monotonic() - refusal.at > REFUSAL_MEMORY_SECONDS:
                del self._refused[certificate_id]
                return None
            return refusal

    def refused_as_dead(self, certificate_id: str | None) -> str | None:
        """Why NetSuite refused ``certificate_id`` as revoked, unknown or expired; else ``None``."""
        refusal = self.refusal(certificate_id)
        return refusal.message if refusal is not None and refusal.proves_dead else None

    def note_refused(self, certificate_id: str, message: str, *, proves_dead: bool) -> None:
        with self._lock:
            self._refused[certificate_id] = Refusal(message, proves_dead, time.monotonic())

    def forget_refusal(self, certificate_id: str) -> None:
        with self._lock:
            self._refused.pop(certificate_id, None)

    def close(self) -> None:
        with self._lock:
            auths, self._auths = list(self._auths.values()), {}
        for auth in auths:
            auth.close()

    # -- the chain -----------------------------------------------------------------------------

    def candidates(self, credential: Credential) -> Iterator[Candidate]:
        """The ways to authenticate ``credential``'s management calls, in the order they are tried."""
        runtime = self._runtime
        if runtime.token_override:
            yield Candidate("the token given with --token", token=runtime.token_override)
            return
        store = runtime.store
        now = runtime.now()
        seen: set[str] = set()

        def certificate(
            owner: Credential, version: CertificateVersion | None, what: str
        ) -> Iterator[Candidate]:
            if version is None or not version.certificate_id or version.certificate_id in seen:
                return
            if not version.is_valid_at(now):
                return
            seen.add(version.certificate_id)
            yield Candidate(
                f"{what} {version.certificate_id} of {owner.name}",
                certificate_id=version.certificate_id,
                credential=owner,
                version=version,
            )

        if credential.auth_mode is AuthMode.CREDENTIAL and credential.auth_credential_name:
            manager = store.find_credential(credential.auth_credential_name)
            if manager is not None:
                yield from certificate(manager, store.current_version(manager), "the current certificate")
        elif credential.auth_mode is AuthMode.TOKEN:
            yield from self._tokens(credential)
        else:
            yield from certificate(credential, store.current_version(credential), "the current certificate")
        for previous in reversed(store.versions(credential, states=[VersionState.PREVIOUS])):
            yield from certificate(credential, previous, "the previous certificate")
        for sibling in store.list_credentials():
            same_integration = (
                sibling.account_id == credential.account_id
                and sibling.client_id == credential.client_id
                and sibling.base_url == credential.base_url
            )
            if sibling.name != credential.name and same_integration:
                yield from certificate(sibling, store.current_version(sibling), "the current certificate")
        if credential.auth_mode is not AuthMode.TOKEN:
            yield from self._tokens(credential)

    def _tokens(self, credential: Credential) -> Iterator[Candidate]:
        if credential.has_management_token:
            token = self._runtime.store.management_token(credential)
            if token:
                yield Candidate(f"the sealed management token of {credential.name}", token=token)
        bootstrap = self._runtime.settings.bootstrap_token
        if bootstrap is not None and bootstrap.get_secret_value().strip():
            label = "the bootstrap token (CERTROTOR_BOOTSTRAP_TOKEN)"
            yield Candidate(label, token=bootstrap.get_secret_value())

    def _auth(self, candidate: Candidate, tried: list[str]) -> httpx2.Auth | None:
        """An auth for ``candidate``; a certificate must first obtain a token (reused afterwards)."""
        if candidate.token is not None:
            from certrotor.client.auth import BearerTokenAuth

            return BearerTokenAuth(candidate.token)
        assert candidate.credential is not None
        assert candidate.version is not None
        assert candidate.certificate_id is not None
        refusal = self.refusal(candidate.certificate_id)
        if refusal is not None:
            tried.append(f"{candidate.label}: {refusal.message}")
            return None
        try:
            auth = self.m2m_auth(candidate.credential, candidate.version)
            auth.current_token()
        except TokenRequestError as exc:
            # invalid_client is NetSuite saying the certificate is revoked, unknown or expired.
            dead = exc.error == "invalid_client"
            self.note_refused(candidate.certificate_id, exc.message, proves_dead=dead)
            tried.append(f"{candidate.label}: {exc.message}")
            return None
        except MasterKeyError as exc:
            tried.append(f"{candidate.label}: {exc.message}")
            return None
        return auth

    def _no_access(self, credential: Credential, tried: list[str]) -> NoManagementAccessError:
        detail = "; ".join(tried) if tried else "it has no current certificate and no management token"
        current = self._runtime.store.current_version(credential)
        if not tried and current is not None and not current.is_valid_at(self._runtime.now()):
            detail = (
                f"its current certificate {current.certificate_id} expired at "
                f"{current.not_after:%Y-%m-%d %H:%M:%S} UTC, and management calls cannot authenticate "
                "with an expired certificate; it has no management token"
            )
        return NoManagementAccessError(
            f"No way to authenticate certificate management for {credential.name!r}: {detail}.",
            hint=(
                "pass --token TOKEN, set CERTROTOR_BOOTSTRAP_TOKEN, or run "
                f"`certrotor login {credential.name}`."
            ),
        )

    def auth_for(self, credential: Credential) -> httpx2.Auth:
        """The first auth of the chain that works (a certificate that obtains a token, or a token).

        Raises ``NoManagementAccessError`` (with the repairing command) when none does, and a
        ``RemoteUnavailableError`` when NetSuite cannot be reached to find out.
        """
        tried: list[str] = []
        for candidate in self.candidates(credential):
            auth = self._auth(candidate, tried)
            if auth is not None:
                return auth
        raise self._no_access(credential, tried)

    def call(self, credential: Credential, operation: Callable[[NetSuiteClient], T]) -> T:
        """Run ``operation`` with the first auth of the chain that NetSuite accepts (401/403: next)."""
        tried: list[str] = []
        for candidate in self.candidates(credential):
            auth = self._auth(candidate, tried)
            if auth is None:
                continue
            try:
                with self._runtime.client_for(credential, auth=auth) as client:
                    return operation(client)
            except AuthenticationError as exc:
                if candidate.certificate_id is not None:
                    message = f"a management call with its token answered 401: {exc.message}"
                    self.note_refused(candidate.certificate_id, message, proves_dead=True)
                tried.append(f"{candidate.label}: {exc.message}")
            except PermissionDeniedError as exc:
                if candidate.certificate_id is not None:
                    self.note_refused(candidate.certificate_id, exc.message, proves_dead=False)
                tried.append(f"{candidate.label}: {exc.message}")
        raise self._no_access(credential, tried)


__all__ = [
    "REFUSAL_MEMORY_SECONDS",
    "Candidate",
    "ManagementAccess",
    "Refusal",
    "repair_command",
]
