"""NetSuite's answers turned into models or typed errors; no I/O beyond reading a response body.

Every message is built from status codes, error codes and NetSuite's own words, never from
request headers or bodies, so no token, assertion or key can leak into an exception. Bodies are
read whatever their content type: NetSuite's REST error JSON, a RESTlet's ``{"error": {...}}``,
other JSON, or plain text (as clients in production report, also with
``application/vnd.oracle.resource+json``); NetSuite's own text is kept in the error.
"""

from __future__ import annotations

import json
import re
import ssl
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel, TypeAdapter, ValidationError

from certrotor.errors import (
    AuthenticationError,
    NetSuiteAPIError,
    PermissionDeniedError,
    RemoteError,
    RemoteNotFoundError,
    RemoteUnavailableError,
    TokenRequestError,
    UntrustedServerError,
)
from certrotor.protocol.models import (
    REVOKE_SUCCESS_TEXT,
    CertificateListItem,
    NetSuiteErrorBody,
    OAuthErrorBody,
    TokenResponse,
    UploadCertificateResponse,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

_SNIPPET_CHARS = 120
_WORDS_CHARS = 500
"""NetSuite's own words in an error are kept up to this length (masked like a snippet)."""
_MESSAGE_KEYS = ("detail", "message", "error_description", "title")
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?")
_LONG_OPAQUE = re.compile(r"[A-Za-z0-9_\-+/=.]{40,}")

_NETSUITE_ERRORS: dict[int, type[NetSuiteAPIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: RemoteNotFoundError,
}

_TOKEN_ERROR_HINTS = {
    "invalid_client": (
        "check the client ID and certificate ID, and that the certificate is uploaded for this "
        "integration, unrevoked and unexpired (`certrotor list`)."
    ),
    "invalid_grant": (
        "check the system clock, the token URL (assertion audience) and, for a login, that the "
        "authorization code was used once and within its lifetime."
    ),
    "invalid_scope": "use the scopes the integration record allows: restlets, rest_webservices.",
    "invalid_request": "this is a certrotor bug if it persists; run with --debug and report it.",
    "unsupported_grant_type": "enable the grant on the integration record in NetSuite.",
    "unauthorized_client": "enable this grant type on the integration record in NetSuite.",
    "access_denied": "approve the request, or use a role that may use this integration.",
}


def safe_snippet(text: str, *, limit: int = _SNIPPET_CHARS) -> str:
    """A short, single-line excerpt of an unexpected body, with anything token-like masked."""
    masked = _LONG_OPAQUE.sub("[redacted]", _JWT_LIKE.sub("[redacted]", text))
    line = " ".join(masked.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _describe(response: httpx2.Response) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    return f"HTTP {response.status_code} ({content_type}, {len(response.content)} bytes)"


def _json_body(response: httpx2.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _validation_summary(exc: ValidationError) -> str:
    # Locations and messages only: ``str(exc)`` would echo input values, which may hold a token.
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(body)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _netsuite_error(body: Any) -> NetSuiteErrorBody | None:
    if not (isinstance(body, dict) and "o:errorDetails" in body):
        return None
    try:
        return NetSuiteErrorBody.model_validate(body)
    except ValidationError:
        return None


def _oauth_error(body: Any) -> OAuthErrorBody | None:
    if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
        return None
    try:
        return OAuthErrorBody.model_validate(body)
    except ValidationError:
        return None


def _restlet_error(body: Any) -> tuple[str | None, str] | None:
    """A RESTlet's ``{"error": {"code": ..., "message": ...}}`` (``N/error``): its code and text."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code") or error.get("name")
    message = error.get("message")
    if not isinstance(message, str) and not isinstance(code, str):
        return None
    return (str(code) if code else None), (str(message) if message else "")


def _other_words(response: httpx2.Response, body: Any) -> str:
    """NetSuite's words in an error body of no known shape: a message field of JSON, or plain text.

    HTML (a proxy's or login page) has no words of NetSuite's; its snippet goes into a generic error.
    """
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return safe_snippet(value, limit=_WORDS_CHARS)
        return ""
    if isinstance(body, str):
        return safe_snippet(body, limit=_WORDS_CHARS)
    if body is not None or not response.content:
        return ""
    content_type = response.headers.get("Content-Type", "").lower()
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    if "html" in content_type or text.lstrip().startswith("<"):
        return ""
    return safe_snippet(text, limit=_WORDS_CHARS)


def error_for_response(response: httpx2.Response, *, operation: str) -> RemoteError:
    """The typed error for a non-success answer (read ``response`` first)."""
    status = response.status_code
    body = _json_body(response)
    netsuite = _netsuite_error(body)
    oauth = _oauth_error(body) if netsuite is None else None
    restlet = _restlet_error(body) if netsuite is None and oauth is None else None
    words = "" if netsuite or oauth or restlet else _other_words(response, body)
    if status == 429 or status >= 500:
        said = words
        if netsuite or oauth or restlet:
            said = netsuite.message if netsuite else (oauth.error if oauth else restlet[1] if restlet else "")
        return RemoteUnavailableError(
            f"NetSuite could not serve {operation}: {_describe(response)}" + (f": {said}." if said else ".")
        )
    if netsuite is not None:
        error_class = _NETSUITE_ERRORS.get(status, NetSuiteAPIError)
        code = f" {netsuite.error_code}" if netsuite.error_code else ""
        return error_class(
            f"NetSuite refused {operation} (HTTP {status}{code}): {netsuite.message}",
            status_code=status,
            error_code=netsuite.error_code,
            hint=error_class.default_hint or _netsuite_hint(status),
        )
    if oauth is not None:
        described = f": {oauth.error_description}" if oauth.error_description else ""
        return TokenRequestError(
            f"The token endpoint refused {operation} (HTTP {status} {oauth.error}){described}",
            error=oauth.error,
            status_code=status,
            hint=_TOKEN_ERROR_HINTS.get(oauth.error),
        )
    if restlet is not None or words:
        restlet_code = restlet[0] if restlet is not None else None
        text = restlet[1] if restlet is not None else words
        error_class = _NETSUITE_ERRORS.get(status, NetSuiteAPIError)
        shown = f" {restlet_code}" if restlet_code else ""
        return error_class(
            f"NetSuite refused {operation} (HTTP {status}{shown}): {text}",
            status_code=status,
            error_code=restlet_code,
            hint=error_class.default_hint or _netsuite_hint(status),
        )
    snippet = safe_snippet(response.text) if response.content else ""
    return RemoteError(
        f"Unexpected answer to {operation}: {_describe(response)}" + (f": {snippet!r}" if snippet else "."),
        hint="check that the base URL points at NetSuite (or the emulator) and not at a proxy or login page.",
    )


def _netsuite_hint(status: int) -> str:
    if status == 404:
        return (
            "check the client ID and certificate ID (`certrotor list` shows the certificates); "
            "the integration record may have been deleted."
        )
    if status == 400:
        return "correct the request as NetSuite's message says; nothing was changed."
    return "see NetSuite's message; retry later if it is a temporary condition."


def raise_for_status(response: httpx2.Response, *, operation: str) -> None:
    """Raise the typed error unless the answer is a success (2xx)."""
    if not response.is_success:
        response.read()
        raise error_for_response(response, operation=operation)


def parse_json_model(response: httpx2.Response, model: type[ModelT], *, operation: str) -> ModelT:
    """Validate a success answer against ``model`` or raise a clear ``RemoteError``."""
    body = _json_body(response)
    if body is None:
        raise _not_json(response, operation)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RemoteError(
            f"The answer to {operation} does not have NetSuite's shape: {_validation_summary(exc)}.",
            hint="check that the base URL points at NetSuite or the certrotor emulator.",
        ) from None


def _not_json(response: httpx2.Response, operation: str) -> RemoteError:
    snippet = safe_snippet(response.text) if response.content else ""
    return RemoteError(
        f"The answer to {operation} is not JSON: {_describe(response)}"
        + (f": {snippet!r}" if snippet else "."),
        hint="check that the base URL points at NetSuite or the certrotor emulator, not at a "
        "proxy or login page.",
    )


_CERTIFICATE_LIST = TypeAdapter(list[CertificateListItem])


def parse_upload_response(response: httpx2.Response) -> UploadCertificateResponse:
    raise_for_status(response, operation="the certificate upload")
    return parse_json_model(response, UploadCertificateResponse, operation="the certificate upload")


def parse_certificate_list(response: httpx2.Response) -> list[CertificateListItem]:
    operation = "the certificate list"
    raise_for_status(response, operation=operation)
    body = _json_body(response)
    if body is None:
        raise _not_json(response, operation)
    try:
        return _CERTIFICATE_LIST.validate_python(body)
    except ValidationError as exc:
        raise RemoteError(
            f"The answer to {operation} does not have NetSuite's shape: {_validation_summary(exc)}.",
            hint="check that the base URL points at NetSuite or the certrotor emulator.",
        ) from None


def check_revoke_response(response: httpx2.Response, *, certificate_id: str) -> None:
    """A revoke succeeded only if NetSuite says ``Successfully revoked``."""
    operation = f"the revocation of certificate {certificate_id}"
    raise_for_status(response, operation=operation)
    if REVOKE_SUCCESS_TEXT.lower() not in response.text.lower():
        raise RemoteError(
            f"Unexpected answer to {operation}: {_describe(response)}: "
            f"{safe_snippet(response.text)!r} (expected {REVOKE_SUCCESS_TEXT!r}).",
            hint="list the certificates (`certrotor list`) to see whether it is revoked.",
        )


def parse_token_response(response: httpx2.Response, *, operation: str) -> TokenResponse:
    raise_for_status(response, operation=operation)
    token = parse_json_model(response, TokenResponse, operation=operation)
    if token.token_type.lower() != "bearer" or not token.access_token or token.expires_in <= 0:
        raise RemoteError(
            f"The answer to {operation} is not a usable bearer token "
            f"(token_type {token.token_type!r}, expires_in {token.expires_in}).",
            hint="check that the token URL points at NetSuite or the certrotor emulator.",
        )
    return token


def transport_error_message(exc: httpx2.TransportError, *, operation: str) -> str:
    """What went wrong on the wire, with the host but never the request's headers or body."""
    try:
        where = f" at {exc.request.url.scheme}://{exc.request.url.netloc.decode('ascii')}"
    except RuntimeError:
        where = ""
    detail = str(exc).strip()
    return f"Could not complete {operation}{where}: {type(exc).__name__}" + (
        f" ({safe_snippet(detail)})" if detail else ""
    )


def unavailable_error(exc: httpx2.TransportError, *, operation: str) -> RemoteUnavailableError:
    """A transport failure that outlived the retries; a refused TLS certificate is named as such."""
    refusal = tls_verification_failure(exc)
    if refusal is not None:
        try:
            where = f" at {exc.request.url.scheme}://{exc.request.url.netloc.decode('ascii')}"
        except RuntimeError:
            where = ""
        reason = safe_snippet(refusal.verify_message or refusal.reason or "certificate verify failed")
        return UntrustedServerError(
            f"Could not complete {operation}{where}: the server's TLS certificate is not trusted "
            f"({reason}); nothing was sent."
        )
    return RemoteUnavailableError(transport_error_message(exc, operation=operation) + ".")


def tls_verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a transport error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
