"""``NetSuiteClient``: the certificate endpoints, the token endpoint and a protected REST call.

Retries only what is safe to repeat: GETs, token requests and revocations (idempotent) on
transport errors, 429 and 5xx. An upload is repeated only when it provably never reached the
server; any other failure raises ``UploadOutcomeUnknown`` so the caller lists before uploading.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx2

from certrotor.client._http import OwnsHttpClient, build_http_client, never_left
from certrotor.client._retry import RetryPolicy
from certrotor.client._token import (
    CLIENT_CREDENTIALS_OPERATION,
    authorization_code_request,
    client_credentials_request,
    read_token_response,
)
from certrotor.client.responses import (
    check_revoke_response,
    error_for_response,
    parse_certificate_list,
    parse_upload_response,
    raise_for_status,
    transport_error_message,
    unavailable_error,
)
from certrotor.crypto import PrivateKey, certificate_to_pem, load_certificate_pem
from certrotor.errors import (
    CertificateError,
    NetSuiteAPIError,
    RemoteError,
    UploadOutcomeUnknown,
)
from certrotor.logging import get_logger
from certrotor.protocol.models import (
    CertificateListItem,
    TokenResponse,
    UploadCertificateRequest,
    UploadCertificateResponse,
)
from certrotor.protocol.urls import NetSuiteEndpoints

log = get_logger(__name__)

UPLOAD_OPERATION = "the certificate upload"
CODE_EXCHANGE_OPERATION = "the authorization code exchange"


def build_upload_body(certificate_pem: str, *, entity: int | str, role: int | str) -> dict[str, object]:
    """The upload JSON, with exactly one certificate and never a private key in ``fileContent``."""
    if "PRIVATE KEY" in certificate_pem:
        raise CertificateError(
            "The certificate text also contains a private key; certrotor never sends a key.",
            hint="give only the certificate (-----BEGIN CERTIFICATE-----), not the key file or "
            "a bundle holding the key.",
        )
    certificate = load_certificate_pem(certificate_pem)
    body = UploadCertificateRequest.model_validate(
        {"fileContent": certificate_to_pem(certificate), "role": role, "entity": entity}
    )
    return body.to_wire()


class NetSuiteClient(OwnsHttpClient):
    """One account's certificate and token endpoints over one ``httpx2.Client`` (a context manager).

    ``auth`` authenticates the certificate endpoints and ``call_protected``: a ``BearerTokenAuth``
    for a bootstrap token, or an ``M2MAuth``. The token endpoint itself never gets it.
    """

    def __init__(
        self,
        endpoints: NetSuiteEndpoints,
        *,
        client_id: str,
        auth: httpx2.Auth | None,
        verify_tls: bool = True,
        timeout: float = 30,
        transport: httpx2.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self._retry = retry or RetryPolicy()
        self._http = build_http_client(auth=auth, verify_tls=verify_tls, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"NetSuiteClient(api_base={self.endpoints.api_base!r}, client_id={self.client_id!r})"

    # -- certificates --------------------------------------------------------------------------

    def upload_certificate(
        self, certificate_pem: str, *, entity: int | str, role: int | str
    ) -> UploadCertificateResponse:
        """Upload a certificate for (entity, role); never repeated once it may have arrived.

        Raises ``UploadOutcomeUnknown`` on a transport error after sending or a 5xx answer.
        """
        body = build_upload_body(certificate_pem, entity=entity, role=role)
        url = self.endpoints.certificates_url(self.client_id)

        try:
            response = self._send_creation(
                lambda: self._http.build_request("POST", url, json=body), operation=UPLOAD_OPERATION
            )
        except httpx2.TransportError as exc:
            if never_left(exc):
                raise unavailable_error(exc, operation=UPLOAD_OPERATION) from exc
            raise UploadOutcomeUnknown(
                transport_error_message(exc, operation=UPLOAD_OPERATION)
                + " after the upload was sent; NetSuite may or may not have stored the "
                "certificate."
            ) from exc
        if response.status_code >= 500:
            response.read()
            said = error_for_response(response, operation=UPLOAD_OPERATION).message
            raise UploadOutcomeUnknown(f"{said} NetSuite may or may not have stored the certificate.")
        return parse_upload_response(response)

    def list_certificates(self) -> list[CertificateListItem]:
        """Every certificate of the integration, revoked ones included (``"revoked": true``)."""
        url = self.endpoints.certificates_url(self.client_id)
        response = self._send_idempotent(
            lambda: self._http.build_request("GET", url), operation="the certificate list"
        )
        return parse_certificate_list(response)

    def revoke_certificate(self, certificate_id: str) -> None:
        """Revoke a certificate; NetSuite answers ``Successfully revoked`` (idempotent, retried)."""
        url = self.endpoints.revoke_url(self.client_id, certificate_id)
        attempts: list[int] = []

        def build() -> httpx2.Request:
            attempts.append(1)
            return self._http.build_request("POST", url)

        operation = f"the revocation of certificate {certificate_id}"
        response = self._send_idempotent(build, operation=operation)
        if len(attempts) > 1 and response.status_code == 400:
            # An earlier attempt may have revoked it and lost the answer: "already revoked" on a
            # retry is the outcome that was asked for.
            response.read()
            error = error_for_response(response, operation=operation)
            if _says_already_revoked(error):
                log.info("certificate.revoke_confirmed_on_retry", certificate_id=certificate_id)
                return
        check_revoke_response(response, certificate_id=certificate_id)

    # -- tokens --------------------------------------------------------------------------------

    def request_token(
        self, private_key: PrivateKey, *, certificate_id: str, scopes: Sequence[str]
    ) -> TokenResponse:
        """An access token with the client credentials grant; a fresh assertion per attempt."""

        def build() -> httpx2.Request:
            return client_credentials_request(
                token_url=self.endpoints.token_url,
                client_id=self.client_id,
                certificate_id=certificate_id,
                private_key=private_key,
                scopes=scopes,
            )

        response = self._send_idempotent(build, operation=CLIENT_CREDENTIALS_OPERATION, use_auth=False)
        return read_token_response(response, operation=CLIENT_CREDENTIALS_OPERATION)

    def exchange_authorization_code(
        self,
        code: str,
        *,
        redirect_uri: str,
        code_verifier: str,
        client_secret: str | None = None,
    ) -> TokenResponse:
        """Exchange a login's authorization code; codes are single-use, so it is sent once."""
        request = authorization_code_request(
            token_url=self.endpoints.token_url,
            client_id=self.client_id,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            client_secret=client_secret,
        )
        try:
            response = self._send(request, use_auth=False)
        except httpx2.TransportError as exc:
            raise unavailable_error(exc, operation=CODE_EXCHANGE_OPERATION) from exc
        return read_token_response(response, operation=CODE_EXCHANGE_OPERATION)

    # -- proof -------------------------------------------------------------------------------

    def call_protected(self, path: str = "") -> httpx2.Response:
        """GET a REST record path (under ``/services/rest/record/v1/``) to prove a token works."""
        url = self.endpoints.record_url(path)
        operation = f"GET record/v1/{path.lstrip('/')}"
        response = self._send_idempotent(lambda: self._http.build_request("GET", url), operation=operation)
        raise_for_status(response, operation=operation)
        return response


def _says_already_revoked(error: RemoteError) -> bool:
    if not isinstance(error, NetSuiteAPIError):
        return False
    return error.error_code == "CERTIFICATE_ALREADY_REVOKED" or ("already revoked" in error.message.lower())
