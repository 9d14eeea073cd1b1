"""The authorization code grant's consent step (``authorize.nl``): pick entity and role, approve or deny.

``GET`` shows an HTML form; its ``POST`` (form fields ``client_id``, ``redirect_uri``, ``scope``,
``state``, ``code_challenge``, ``code_challenge_method``, ``entity``, ``role``, ``decision`` =
``approve`` or ``deny``) redirects to ``redirect_uri`` with ``code`` and ``state``, or with
``error=access_denied``. Only loopback redirect URIs (RFC 8252) or registered ones are accepted.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from certrotor.crypto import utcnow
from certrotor.emulator.bounds import parse_internal_id
from certrotor.emulator.routes.common import get_runtime
from certrotor.emulator.runtime import EmulatorRuntime
from certrotor.emulator.state import IntegrationInfo, TokenGrant
from certrotor.protocol.models import SCOPES, parse_scopes
from certrotor.protocol.urls import AUTHORIZE_PATH

router = APIRouter(tags=["authorize"])

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
_FORWARDED = (
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_type",
)


class _PageError(Exception):
    """A request so broken that nobody can be redirected: show an error page."""


class _RedirectError(Exception):
    """An OAuth error to send back to the client's redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    integration: IntegrationInfo
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str


def acceptable_redirect_uri(uri: str, integration: IntegrationInfo) -> bool:
    """A registered URI, or a loopback one on any port as native apps use (RFC 8252 section 7.3)."""
    if uri in integration.redirect_uris:
        return True
    parts = urlsplit(uri)
    return (
        parts.scheme in {"http", "https"}
        and parts.hostname in _LOOPBACK_HOSTS
        and not parts.fragment
        and not parts.username
    )


def _check_request(runtime: EmulatorRuntime, params: Mapping[str, str]) -> AuthorizationRequest:
    client_id = params.get("client_id", "")
    integration = runtime.state.tenants.find_integration(client_id) if client_id else None
    if integration is None:
        raise _PageError("Unknown or missing client_id: no integration record has this client ID.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not acceptable_redirect_uri(redirect_uri, integration):
        raise _PageError(
            "The redirect_uri is missing, or neither registered for this integration nor a "
            "loopback address (http://127.0.0.1:PORT/...)."
        )
    if params.get("response_type", "code") != "code":
        raise _RedirectError("unsupported_response_type", "Only response_type=code is supported.")
    try:
        scopes = tuple(parse_scopes(params.get("scope", "")))
    except ValueError:
        scopes = ()
    if not scopes or any(scope not in SCOPES for scope in scopes):
        raise _RedirectError("invalid_scope", f"Give a scope among {', '.join(SCOPES)}.")
    state = params.get("state", "")
    if not state or len(state) > 1024:
        raise _RedirectError("invalid_request", "The state parameter is required (1 to 1024 characters).")
    if params.get("code_challenge_method") != "S256":
        raise _RedirectError("invalid_request", "PKCE is required with code_challenge_method=S256.")
    challenge = params.get("code_challenge", "")
    if not _CODE_CHALLENGE.match(challenge):
        raise _RedirectError("invalid_request", "The code_challenge must be 43 base64url characters.")
    return AuthorizationRequest(
        integration=integration,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        code_challenge=challenge,
    )


def _redirect(uri: str, params: Mapping[str, str]) -> RedirectResponse:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=303)


def _error_page(message: str) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><title>Authorization error</title></head><body>"
        f"<h1>Authorization error</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=400)


def _consent_page(runtime: EmulatorRuntime, request: AuthorizationRequest, params: Mapping[str, str]) -> str:
    account_id = request.integration.account.account_id
    entities = runtime.state.tenants.list_entities(account_id)
    roles = runtime.state.tenants.list_roles(account_id)
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
        for name in _FORWARDED
    )
    entity_options = "".join(
        f'<option value="{e.id}">{html.escape(e.name)} ({e.id})</option>' for e in entities
    )
    role_options = "".join(f'<option value="{r.id}">{html.escape(r.name)} ({r.id})</option>' for r in roles)
    name = html.escape(request.integration.name)
    scopes = html.escape(", ".join(request.scopes))
    return (
        "<!doctype html><html><head><title>NetSuite emulator: authorize</title></head><body>"
        f"<h1>Allow {name} to access account {html.escape(account_id)}?</h1>"
        f"<p>Scopes: {scopes}</p>"
        f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
        f'<label>Entity <select name="entity">{entity_options}</select></label> '
        f'<label>Role <select name="role">{role_options}</select></label> '
        '<button type="submit" name="decision" value="approve">Approve</button> '
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form></body></html>"
    )


def _show(runtime: EmulatorRuntime, params: dict[str, str]) -> Response:
    try:
        checked = _check_request(runtime, params)
    except _PageError as error:
        return _error_page(str(error))
    except _RedirectError as error:
        return _redirect_error(params, error)
    return HTMLResponse(_consent_page(runtime, checked, params))


def _redirect_error(params: Mapping[str, str], error: _RedirectError) -> RedirectResponse:
    answer = {"error": error.error, "error_description": error.description}
    if params.get("state"):
        answer["state"] = params["state"]
    return _redirect(params["redirect_uri"], answer)


def _decide(runtime: EmulatorRuntime, params: dict[str, str]) -> Response:
    try:
        checked = _check_request(runtime, params)
    except _PageError as error:
        return _error_page(str(error))
    except _RedirectError as error:
        return _redirect_error(params, error)
    if params.get("decision") != "approve":
        return _redirect(
            checked.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "The user denied access.",
                "state": checked.state,
            },
        )
    account_id = checked.integration.account.account_id
    entity_id = parse_internal_id(params.get("entity", ""))
    role_id = parse_internal_id(params.get("role", ""))
    entity = None if entity_id is None else runtime.state.tenants.find_entity(account_id, entity_id)
    role = None if role_id is None else runtime.state.tenants.find_role(account_id, role_id)
    if entity is None or role is None:
        return _error_page("Choose an existing entity and role.")
    code = secrets.token_urlsafe(32)
    runtime.state.grants.store_authorization_code(
        code,
        grant=TokenGrant(integration=checked.integration, entity=entity, role=role, scopes=checked.scopes),
        redirect_uri=checked.redirect_uri,
        code_challenge=checked.code_challenge,
        expires_at=utcnow() + dt.timedelta(seconds=runtime.config.authorization_code_lifetime_seconds),
    )
    return _redirect(checked.redirect_uri, {"code": code, "state": checked.state})


@router.get(
    AUTHORIZE_PATH, summary="Consent page of the authorization code grant", response_class=HTMLResponse
)
async def authorize_page(request: Request) -> Response:
    params = dict(request.query_params)
    return await run_in_threadpool(_show, get_runtime(request), params)


@router.post(AUTHORIZE_PATH, summary="Approve or deny the authorization request", response_class=HTMLResponse)
async def authorize_decision(request: Request) -> Response:
    body = await request.body()
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return _error_page("The form is not UTF-8 text.")
    return await run_in_threadpool(_decide, get_runtime(request), params)
