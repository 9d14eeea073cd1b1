"""What every service needs: settings, the opened store, and NetSuite clients for a credential."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import httpx2

from certrotor.client.auth import BearerTokenAuth, M2MAuth
from certrotor.client.netsuite import NetSuiteClient
from certrotor.config import Settings
from certrotor.crypto import PrivateKey, utcnow
from certrotor.errors import ConfigError
from certrotor.keyvault import MasterKey
from certrotor.protocol.urls import NetSuiteEndpoints, check_transport
from certrotor.store import AuthMode, CertificateVersion, Credential, Store


def endpoints_for(credential: Credential) -> NetSuiteEndpoints:
    """The credential's endpoints; a plain http:// base URL outside loopback needs an insecure account."""
    check_transport(credential.base_url, insecure=not credential.verify_tls)
    return NetSuiteEndpoints.for_account(credential.account_id, credential.base_url)


@dataclass
class Runtime:
    """Settings plus the store, opened lazily; one per CLI invocation or daemon process."""

    settings: Settings
    token_override: str | None = field(default=None, repr=False)
    """A management token given on the command line (``--token``); wins over stored ones."""
    check_master_key: bool = True
    """``False`` opens a store sealed under another master key (health reports each key it cannot open)."""
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            master_key = MasterKey.from_settings(self.settings)
            self._store = Store.open(
                self.settings.resolved_database_url, master_key, check_master_key=self.check_master_key
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def now(self) -> dt.datetime:
        return utcnow()

    # -- authentication ------------------------------------------------------------------------

    def m2m_auth(self, credential: Credential, version: CertificateVersion) -> M2MAuth:
        """Tokens from ``version``'s own key and certificate ID (the client credentials flow)."""
        if version.certificate_id is None:
            raise ConfigError(
                f"Certificate version {version.id} of {credential.name!r} was never uploaded.",
                hint=f"run `certrotor upload {credential.name}` first.",
            )
        return M2MAuth(
            endpoints_for(credential).token_url,
            credential.client_id,
            version.certificate_id,
            self.store.load_private_key(version),
            credential.scopes,
            verify_tls=credential.verify_tls,
            timeout=self.settings.http_timeout_seconds,
        )

    def _stored_token(self, credential: Credential) -> str | None:
        if self.token_override:
            return self.token_override
        if credential.has_management_token:
            token = self.store.management_token(credential)
            if token:
                return token
        if self.settings.bootstrap_token is not None:
            return self.settings.bootstrap_token.get_secret_value()
        return None

    def management_auth(self, credential: Credential) -> httpx2.Auth:
        """How certificate-endpoint calls for ``credential`` authenticate (see ``AuthMode``).

        ``self``: the credential's current certificate, falling back to a bootstrap token while
        there is none; ``credential``: another credential's current certificate; ``token``: a
        token given by the user (``--token``, stored, or ``CERTROTOR_BOOTSTRAP_TOKEN``).
        """
        if self.token_override:
            return BearerTokenAuth(self.token_override)
        if credential.auth_mode is AuthMode.CREDENTIAL and credential.auth_credential_name:
            manager = self.store.get_credential(credential.auth_credential_name)
            current = self.store.current_version(manager)
            if current is None:
                raise ConfigError(
                    f"Credential {manager.name!r}, which manages {credential.name!r}, has no "
                    "current certificate.",
                    hint=f"run `certrotor rotate {manager.name}` first.",
                )
            return self.m2m_auth(manager, current)
        if credential.auth_mode is AuthMode.SELF:
            current = self.store.current_version(credential)
            if current is not None and current.certificate_id and current.is_valid_at(self.now()):
                return self.m2m_auth(credential, current)
        token = self._stored_token(credential)
        if token is None:
            raise ConfigError(
                f"No way to authenticate certificate management for {credential.name!r}: it has no "
                "current certificate and no management token.",
                hint="pass --token TOKEN, set CERTROTOR_BOOTSTRAP_TOKEN, or run "
                f"`certrotor login {credential.name}`.",
            )
        return BearerTokenAuth(token)

    def client_for(self, credential: Credential, auth: httpx2.Auth | None = None) -> NetSuiteClient:
        """A client for ``credential``'s account; management auth unless ``auth`` is given."""
        return NetSuiteClient(
            endpoints_for(credential),
            client_id=credential.client_id,
            auth=auth if auth is not None else self.management_auth(credential),
            verify_tls=credential.verify_tls,
            timeout=self.settings.http_timeout_seconds,
        )

    def token_client(self, credential: Credential) -> NetSuiteClient:
        """A client for the token endpoint only (no management auth needed)."""
        return NetSuiteClient(
            endpoints_for(credential),
            client_id=credential.client_id,
            auth=None,
            verify_tls=credential.verify_tls,
            timeout=self.settings.http_timeout_seconds,
        )

    def private_key(self, version: CertificateVersion) -> PrivateKey:
        return self.store.load_private_key(version)
