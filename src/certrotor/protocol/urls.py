"""NetSuite host names and endpoint paths, derived from an account ID or a user's base URL."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from certrotor.errors import InputError

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
AUTHORIZE_PATH = "/app/login/oauth2/authorize.nl"
CERTIFICATES_PATH = "/services/rest/auth/oauth2/v1/clients/{client_id}/certificates"
REVOKE_PATH = CERTIFICATES_PATH + "/{certificate_id}/revoke"
RECORD_PATH_PREFIX = "/services/rest/record/v1"

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$")


def validate_account_id(account_id: str) -> str:
    value = account_id.strip()
    if not value or not _ACCOUNT_ID.fullmatch(value):
        raise InputError(
            f"Invalid NetSuite account ID {account_id!r}.",
            hint="use the ID from Setup > Company > Company Information, e.g. 1234567 or 1234567_SB1.",
        )
    return value


def account_host_label(account_id: str) -> str:
    """``1234567_SB1`` becomes ``1234567-sb1`` (lower case, ``_`` to ``-``), as NetSuite's hosts."""
    return validate_account_id(account_id).lower().replace("_", "-")


def _normalize_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InputError(
            f"Invalid base URL {base_url!r}.",
            hint="give a full URL such as https://1234567.restlets.api.netsuite.com or "
            "http://127.0.0.1:8080 for the emulator.",
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1): traffic that never leaves the machine."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_transport(base_url: str | None, *, insecure: bool) -> None:
    """Refuse a plain ``http://`` base URL outside loopback unless the account is marked insecure.

    Management tokens, client assertions and certificate record uploads (private keys included)
    would otherwise cross the network in clear text.
    """
    if not base_url or insecure:
        return
    parts = urlsplit(base_url.strip())
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise InputError(
            f"Refusing the plain http:// base URL {base_url}: tokens and private keys would cross "
            "the network in clear text.",
            hint="use https://, or, for a test server only, mark the account insecure with --insecure "
            "(which also turns TLS verification off).",
        )


@dataclass(frozen=True, slots=True)
class NetSuiteEndpoints:
    """Where one account's token endpoint and certificate endpoints live."""

    token_base: str
    api_base: str

    @classmethod
    def for_account(cls, account_id: str, base_url: str | None = None) -> NetSuiteEndpoints:
        """Real NetSuite hosts for ``account_id``, or one base URL for both (e.g. the emulator)."""
        if base_url:
            base = _normalize_base_url(base_url)
            return cls(token_base=base, api_base=base)
        label = account_host_label(account_id)
        return cls(
            token_base=f"https://{label}.suitetalk.api.netsuite.com",
            api_base=f"https://{label}.restlets.api.netsuite.com",
        )

    @property
    def token_url(self) -> str:
        return self.token_base + TOKEN_PATH

    @property
    def authorize_url(self) -> str:
        return self.api_base + AUTHORIZE_PATH

    def certificates_url(self, client_id: str) -> str:
        return self.api_base + CERTIFICATES_PATH.format(client_id=quote(client_id, safe=""))

    def revoke_url(self, client_id: str, certificate_id: str) -> str:
        return self.api_base + REVOKE_PATH.format(
            client_id=quote(client_id, safe=""), certificate_id=quote(certificate_id, safe="")
        )

    def record_url(self, path: str) -> str:
        return self.api_base + RECORD_PATH_PREFIX + "/" + path.lstrip("/")
