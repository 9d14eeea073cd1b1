"""The broker's token cache: one token per credential and scope set, one NetSuite request at a time.

Runs on the broker's event loop. Each call first asks the store, cheaply, whether anything changed
(:class:`~certrotor.store.broker_keys.StoreChanges`); only then it re-reads the credential and its
current version, so a rotation that activates a new certificate is seen by the very next call and
the next token comes from the new certificate. Tokens are refreshed in the background shortly
before they expire; callers wait only when there is no usable token at all, and then however many
wait, one token request per credential is in flight and they all share its answer (or its error).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from certrotor.client.auth import M2MAuth
from certrotor.errors import ConfigError, InputError
from certrotor.logging import get_logger
from certrotor.protocol.assertion import check_scopes
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import CertificateVersion, Credential, CredentialKind, Store
from certrotor.store.broker_keys import StoreChanges

log = get_logger(__name__)

DEFAULT_REFRESH_MARGIN_SECONDS = 60.0
"""Refresh this long before expiry (at most a tenth of the lifetime)."""

Fetcher = Callable[[Credential, CertificateVersion, tuple[str, ...]], Awaitable[tuple[str, float]]]
"""Obtains ``(access_token, expires_in_seconds)`` from NetSuite with a version's key."""


@dataclass(frozen=True, slots=True)
class CredentialState:
    """A credential and its current version as read after store change number ``seen``."""

    credential: Credential
    current: CertificateVersion | None
    seen: int


@dataclass(frozen=True, slots=True)
class CachedToken:
    """An access token and the certificate that obtained it; times are ``time.monotonic()``."""

    access_token: str = field(repr=False)
    certificate_id: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_at: float

    def expires_in(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


class NoCurrentCertificateError(ConfigError):
    """The credential has no active certificate to sign a token request with."""


def m2m_fetcher(runtime: Runtime) -> Fetcher:
    """Token requests with :class:`M2MAuth` (retries on 429/5xx included), run in worker threads."""

    def fetch(
        credential: Credential, version: CertificateVersion, scopes: tuple[str, ...]
    ) -> tuple[str, float]:
        assert version.certificate_id is not None
        with M2MAuth(
            endpoints_for(credential).token_url,
            credential.client_id,
            version.certificate_id,
            runtime.store.load_private_key(version),
            scopes,
            verify_tls=credential.verify_tls,
            timeout=runtime.settings.http_timeout_seconds,
        ) as auth:
            token = auth.current_token()
            expires_at = auth.token_expires_at
        return token, (expires_at - time.time()) if expires_at is not None else 0.0

    async def fetch_in_thread(
        credential: Credential, version: CertificateVersion, scopes: tuple[str, ...]
    ) -> tuple[str, float]:
        return await asyncio.to_thread(fetch, credential, version, scopes)

    return fetch_in_thread


class TokenCache:
    """Tokens per (credential, scope set), switched to the new certificate as soon as one is current."""

    def __init__(
        self,
        store: Store,
        changes: StoreChanges,
        fetcher: Fetcher,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[str, str], None] | None = None,
    ) -> None:
        self._store = store
        self._changes = changes
        self._fetcher = fetcher
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._on_fetch = on_fetch or (lambda _credential, _outcome: None)
        self._states: dict[str, CredentialState] = {}
        self._state_loads: dict[str, asyncio.Task[CredentialState]] = {}
        self._tokens: dict[tuple[str, tuple[str, ...]], CachedToken] = {}
        self._fetches: dict[str, tuple[tuple[str, ...], asyncio.Task[CachedToken]]] = {}
        self._background: set[asyncio.Task[CachedToken]] = set()

    def now(self) -> float:
        """The cache's clock (``time.monotonic`` unless a test gave another)."""
        return self._clock()

    # -- the credential and its current certificate -------------------------------------------

    async def state(self, name: str) -> CredentialState:
        """``name`` and its current version, re-read only when the store changed since last time."""
        seen = self._changes.value()
        while True:
            known = self._states.get(name)
            if known is not None and known.seen >= seen:
                return known
            load = self._state_loads.get(name)
            if load is None:
                load = asyncio.ensure_future(asyncio.to_thread(self._read_state, name, seen))
                self._state_loads[name] = load
                load.add_done_callback(functools.partial(self._forget_load, name))
            state = await asyncio.shield(load)
            known = self._states.get(name)
            if known is None or known.seen < state.seen:
                self._states[name] = state
            if state.seen >= seen:
                return state

    def _forget_load(self, name: str, _done: asyncio.Future[CredentialState]) -> None:
        self._state_loads.pop(name, None)

    def _read_state(self, name: str, seen: int) -> CredentialState:
        credential = self._store.get_credential(name)
        return CredentialState(credential, self._store.current_version(credential), seen)

    # -- tokens ---------------------------------------------------------------------------------

    def scopes_for(self, credential: Credential, requested: Sequence[str] | None) -> tuple[str, ...]:
        """The scope set of a request: the credential's own, or a subset of them."""
        if not requested:
            return tuple(sorted(credential.scopes))
        wanted = check_scopes(requested)
        extra = sorted(set(wanted) - set(credential.scopes))
        if extra:
            raise InputError(
                f"The credential {credential.name!r} has no scope {', '.join(extra)}.",
                hint=f"ask for some of: {', '.join(credential.scopes)}.",
            )
        return tuple(sorted(set(wanted)))

    async def token(self, name: str, scopes: Sequence[str] | None = None) -> CachedToken:
        """A valid token for ``name`` from its current certificate (cached, refreshed ahead of expiry)."""
        state = await self.state(name)
        scope_set = self.scopes_for(state.credential, scopes)
        certificate_id = _certificate_id(state)
        key = (name, scope_set)
        while True:
            now = self._clock()
            cached = self._tokens.get(key)
            if cached is not None and cached.certificate_id == certificate_id:
                if now < cached.refresh_at:
                    return cached
                if now < cached.expires_at - 1.0:
                    self._refresh_in_background(key, state)
                    return cached
            running = self._fetches.get(name)
            if running is None:
                return await asyncio.shield(self._start_fetch(key, state))
            running_scopes, task = running
            try:
                fetched = await asyncio.shield(task)
            except Exception:
                if running_scopes == scope_set:
                    raise  # the shared request failed: every waiter hears it, none asks again
                continue
            if running_scopes == scope_set and fetched.certificate_id == certificate_id:
                return fetched

    def invalidate(self, name: str, access_token: str | None = None) -> int:
        """Forget ``name``'s cached tokens (only the one equal to ``access_token`` if given)."""
        dropped = 0
        for key, cached in list(self._tokens.items()):
            if key[0] != name:
                continue
            if access_token is None or hmac.compare_digest(
                cached.access_token.encode(), access_token.encode()
            ):
                del self._tokens[key]
                dropped += 1
        return dropped

    async def close(self) -> None:
        """Wait for background refreshes to end (their failures are already logged)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _start_fetch(
        self, key: tuple[str, tuple[str, ...]], state: CredentialState
    ) -> asyncio.Task[CachedToken]:
        name, scope_set = key
        task = asyncio.ensure_future(self._fetch(key, state))
        self._fetches[name] = (scope_set, task)

        def finished(done: asyncio.Task[CachedToken]) -> None:
            if self._fetches.get(name, (None, None))[1] is done:
                del self._fetches[name]
            if not done.cancelled():
                done.exception()  # retrieved: a failure is reported to the callers, not as "never retrieved"

        task.add_done_callback(finished)
        return task

    async def _fetch(self, key: tuple[str, tuple[str, ...]], state: CredentialState) -> CachedToken:
        name, scope_set = key
        assert state.current is not None
        certificate_id = _certificate_id(state)
        try:
            token, expires_in = await self._fetcher(state.credential, state.current, scope_set)
        except Exception as exc:
            self._on_fetch(name, "failed")
            log.warning("broker token request failed", credential=name, error=type(exc).__name__)
            raise
        self._on_fetch(name, "ok")
        now = self._clock()
        margin = min(self._refresh_margin, expires_in * 0.1)
        cached = CachedToken(
            access_token=token,
            certificate_id=certificate_id,
            scopes=scope_set,
            expires_at=now + expires_in,
            refresh_at=now + expires_in - margin,
        )
        # A rotation may have made another certificate current meanwhile: keep the newest state's.
        latest = self._states.get(name)
        if latest is None or latest.current is None or latest.current.certificate_id == certificate_id:
            self._tokens[key] = cached
        log.info(
            "broker token obtained",
            credential=name,
            certificate_id=certificate_id,
            expires_in=int(expires_in),
        )
        return cached

    def _refresh_in_background(self, key: tuple[str, tuple[str, ...]], state: CredentialState) -> None:
        if key[0] in self._fetches:
            return
        task = self._start_fetch(key, state)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _certificate_id(state: CredentialState) -> str:
    credential = state.credential
    if credential.kind is CredentialKind.RECORD:
        raise InputError(
            f"{credential.name!r} is a certificate record, which obtains no access tokens.",
            hint="ask for an M2M credential's token.",
        )
    current = state.current
    if current is None or current.certificate_id is None:
        raise NoCurrentCertificateError(
            f"The credential {credential.name!r} has no current certificate.",
            hint=f"run `certrotor rotate {credential.name}` (or upload its first certificate).",
        )
    return current.certificate_id
