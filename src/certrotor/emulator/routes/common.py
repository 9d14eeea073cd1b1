"""What every route needs: the shared runtime, bearer authentication, JSON bodies, error docs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from certrotor.emulator.bounded_json import JSONTooLargeError, load_bounded_json
from certrotor.emulator.config import MAX_BODY_BYTES
from certrotor.emulator.problems import (
    INSUFFICIENT_PERMISSION,
    INVALID_CONTENT,
    NONEXISTENT_ID,
    REQUEST_TOO_LARGE,
    NetSuiteRefusalError,
    netsuite_error_schema,
)
from certrotor.emulator.runtime import EmulatorRuntime
from certrotor.emulator.state import IntegrationInfo, IssuedToken

bearer_scheme = HTTPBearer(auto_error=False, description="A NetSuite access token.")


def get_runtime(request: Request) -> EmulatorRuntime:
    runtime: EmulatorRuntime = request.app.state.runtime
    return runtime


def bearer_header(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return None if credentials is None else f"{credentials.scheme} {credentials.credentials}"


REST_WEBSERVICES = "rest_webservices"
"""The scope of NetSuite's REST web services: ``record/v1``, ``query/v1``, the certificate endpoints."""
RESTLETS = "restlets"
"""The scope of every RESTlet URL (``/app/site/hosting/restlet.nl``), the certificate-records one too."""


def require_scope(token: IssuedToken, scope: str, resource: str) -> None:
    """403 ``INSUFFICIENT_PERMISSION`` when the token was not granted the ``scope`` a resource needs."""
    granted = token.grant.scopes
    if scope not in granted:
        raise NetSuiteRefusalError(
            403,
            INSUFFICIENT_PERMISSION,
            f"The access token's scopes ({', '.join(granted)}) do not include {scope}, which {resource} "
            f"requires; obtain a token with the {scope} scope (the integration record must allow it).",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


def authenticate_manager(
    runtime: EmulatorRuntime, credentials: HTTPAuthorizationCredentials | None, client_id: str
) -> tuple[IssuedToken, IntegrationInfo]:
    """401 for a bad token, 403 for a token without ``rest_webservices`` or a role that may not manage
    certificates, 404 for a strange client."""
    token = runtime.issuer.verify_bearer(bearer_header(credentials))
    require_scope(token, REST_WEBSERVICES, "the certificate endpoints")
    if not token.grant.role.may_manage_certificates:
        raise NetSuiteRefusalError(
            403,
            INSUFFICIENT_PERMISSION,
            f"The role {token.grant.role.name!r} ({token.grant.role.id}) lacks the permission "
            "'OAuth 2.0 Authorized Applications Management'; use the Administrator role or "
            "grant the permission.",
        )
    integration = runtime.state.tenants.find_integration(client_id)
    # A client of another account is as unknown to this token as one that does not exist.
    if integration is None or integration.account.pk != token.grant.integration.account.pk:
        raise NetSuiteRefusalError(
            404, NONEXISTENT_ID, f"No integration record with client ID {client_id} exists."
        )
    return token, integration


def parse_json_body(body: bytes, content_type: str | None) -> Any:
    """The JSON a NetSuite REST call must carry, or a 400 that says what is wrong (a 413 above the
    largest body limit; nesting is bounded before parsing)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise NetSuiteRefusalError(
            400,
            INVALID_CONTENT,
            f"The request body must be JSON (Content-Type: application/json), not {media_type}.",
        )
    if not body.strip():
        raise NetSuiteRefusalError(400, INVALID_CONTENT, "The request body is empty; send a JSON object.")
    try:
        return load_bounded_json(body, max_bytes=MAX_BODY_BYTES)
    except JSONTooLargeError as error:
        status, code = (413, REQUEST_TOO_LARGE) if len(body) > MAX_BODY_BYTES else (400, INVALID_CONTENT)
        raise NetSuiteRefusalError(
            status, code, f"The request body {error}; send NetSuite's JSON object, a few levels deep."
        ) from None
    except UnicodeDecodeError:
        raise NetSuiteRefusalError(400, INVALID_CONTENT, "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as error:
        raise NetSuiteRefusalError(
            400,
            INVALID_CONTENT,
            f"The request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}.",
        ) from None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of NetSuite error answers (always JSON, whatever the success type)."""
    content = {"application/json": {"schema": netsuite_error_schema()}}
    return {status: {"description": "NetSuite REST error", "content": content} for status in statuses}
