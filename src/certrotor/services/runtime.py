"""What every service needs: settings, the opened store, and NetSuite clients for a credential."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certrotor.config import Settings
from certrotor.crypto import PrivateKey, utcnow
from certrotor.errors import ConfigError
from certrotor.protocol.urls import NetSuiteEndpoints, check_transport
from certrotor.services.management_auth import ManagementAccess
from certrotor.store import CertificateVersion, Credential, Store
from certrotor.store.sealed import master_key_for

if TYPE_CHECKING:
    # Imported where a remote call is made: commands that ask NetSuite nothing never load httpx2.
    import httpx2

    from certrotor.client.auth import M2MAuth
    from certrotor.client.netsuite import NetSuiteClient


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
    _access: ManagementAccess | None = field(default=None, repr=False)

    @property
    def access(self) -> ManagementAccess:
        """Management access (the fallback chain, cached tokens, refusals), shared by all threads."""
        if self._access is None:
            self._access = ManagementAccess(self)
        return self._access

    @property
    def store(self) -> Store:
        if self._store is None:
            master_key = master_key_for(self.settings)
            self._store = Store.open(
                self.settings.resolved_database_url, master_key, check_master_key=self.check_master_key
            )
        return self._store

    def close(self) -> None:
        if self._access is not None:
            self._access.close()
            self._access = None
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
        from certrotor.client.auth import M2MAuth

        return M2MAuth(
            endpoints_for(credential).token_url,
            credential.client_id,
            version.certificate_id,
            self.store.load_private_key(version),
            credential.scopes,
            verify_tls=credential.verify_tls,
            timeout=self.settings.http_timeout_seconds,
        )

    def management_auth(self, credential: Credential) -> httpx2.Auth:
        """How certificate-endpoint calls for ``credential`` authenticate: the first that works of
        the fallback chain (see :mod:`certrotor.services.management_auth`); ``--token`` wins.
        """
        return self.access.auth_for(credential)

    def client_for(self, credential: Credential, auth: httpx2.Auth | None = None) -> NetSuiteClient:
        """A client for ``credential``'s account; management auth unless ``auth`` is given."""
        from certrotor.client.netsuite import NetSuiteClient

        return NetSuiteClient(
            endpoints_for(credential),
            client_id=credential.client_id,
            auth=auth if auth is not None else self.management_auth(credential),
            verify_tls=credential.verify_tls,
            timeout=self.settings.http_timeout_seconds,
        )

    def token_client(self, credential: Credential) -> NetSuiteClient:
        """A client for the token endpoint only (no management auth needed)."""
        from certrotor.client.netsuite import NetSuiteClient

        return NetSuiteClient(
            endpoints_for(credential),
            client_id=credential.client_id,
            auth=None,
            verify_tls=credential.verify_tls,
            timeout=self.settings.http_timeout_seconds,
        )

    def private_key(self, version: CertificateVersion) -> PrivateKey:
        return self.store.load_private_key(version)
