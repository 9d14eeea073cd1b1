"""Refusals the emulator answers with, in NetSuite's REST error format or as RFC 6749 token errors.

Routes and the state raise these; the app turns them into answers. Messages name identifiers only,
never a token or a key.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from certrotor.protocol.models import NetSuiteErrorBody, NetSuiteErrorDetail, OAuthErrorBody

# NetSuite REST error codes (``o:errorCode``) the emulator uses.
INVALID_LOGIN = "INVALID_LOGIN"
INSUFFICIENT_PERMISSION = "INSUFFICIENT_PERMISSION"
NONEXISTENT_ID = "NONEXISTENT_ID"
INVALID_CONTENT = "INVALID_CONTENT"
INVALID_CERTIFICATE = "INVALID_CERTIFICATE"
DUPLICATE_CERTIFICATE = "DUPLICATE_CERTIFICATE"
ENTITY_ROLE_NOT_MAPPED = "ENTITY_ROLE_NOT_MAPPED"
CERTIFICATE_LIMIT_REACHED = "CERTIFICATE_LIMIT_REACHED"
CERTIFICATE_ALREADY_REVOKED = "CERTIFICATE_ALREADY_REVOKED"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNEXPECTED_ERROR = "UNEXPECTED_ERROR"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
USER_ERROR = "USER_ERROR"
INVALID_PARAMETER = "INVALID_PARAMETER"
INVALID_HEADER = "INVALID_HEADER"

INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)

_TITLES = {
    400: ("Bad Request", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"),
    401: ("Unauthorized", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2"),
    403: ("Forbidden", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4"),
    404: ("Not Found", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5"),
    405: ("Method Not Allowed", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6"),
    413: ("Content Too Large", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.14"),
    429: ("Too Many Requests", "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"),
    500: ("Internal Server Error", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1"),
    502: ("Bad Gateway", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.3"),
    503: ("Service Unavailable", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4"),
    504: ("Gateway Timeout", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.5"),
}

# RFC 6749 section 5.2 (and RFC 7523): which status each token error answers with.
OAUTH_STATUS = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
}


class NetSuiteRefusalError(Exception):
    """A refusal answered as ``{"type","title","status","o:errorDetails":[...]}``."""

    def __init__(
        self,
        status: int,
        error_code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        error_path: str | None = None,
        error_header: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.headers = headers or {}
        self.error_path = error_path
        """NetSuite's ``o:errorPath``: the field a record body got wrong."""
        self.error_header = error_header
        """NetSuite's ``o:errorHeader``: the request header that is missing or wrong."""

    @classmethod
    def invalid_login(cls) -> NetSuiteRefusalError:
        return cls(401, INVALID_LOGIN, INVALID_LOGIN_DETAIL, headers={"WWW-Authenticate": "Bearer"})

    def body(self) -> dict[str, Any]:
        body = netsuite_error_body(self.status, self.error_code, self.detail)
        detail = body["o:errorDetails"][0]
        if self.error_path is not None:
            detail["o:errorPath"] = self.error_path
        if self.error_header is not None:
            detail["o:errorHeader"] = self.error_header
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class OAuthRefusalError(Exception):
    """A token endpoint refusal answered as RFC 6749 JSON ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = OAUTH_STATUS[error]

    def response(self) -> JSONResponse:
        body = OAuthErrorBody(error=self.error, error_description=self.description)
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="NetSuite", error="invalid_client"'
        return JSONResponse(body.model_dump(), status_code=self.status, headers=headers)


def netsuite_error_body(status: int, error_code: str, detail: str) -> dict[str, Any]:
    """NetSuite's REST error JSON, built with the shared protocol model."""
    title, type_url = _TITLES.get(status, ("Error", "https://www.rfc-editor.org/rfc/rfc9110.html"))
    body = NetSuiteErrorBody(
        type=type_url,
        title=title,
        status=status,
        error_details=[NetSuiteErrorDetail(detail=detail, error_code=error_code)],
    )
    return body.model_dump(by_alias=True, mode="json")


def netsuite_error_schema() -> dict[str, Any]:
    """Self-contained JSON schema of the error answer (no ``$defs``), for ``/openapi.json``."""
    schema = NetSuiteErrorBody.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined
