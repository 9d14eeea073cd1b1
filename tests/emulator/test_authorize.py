"""The authorization code grant with PKCE: consent page, redirect, code exchange, refresh."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine

from certrotor.crypto import utcnow
from certrotor.emulator.testing import RunningEmulator
from certrotor.protocol.models import TokenResponse

from ._support import Caller, make_certificate, oauth_error, snapshot, token_claims

REDIRECT_URI = "http://127.0.0.1:53682/callback"


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(caller: Caller, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": caller.tenant.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "rest_webservices restlets",
        "state": "state-" + secrets.token_urlsafe(16),
        "code_challenge": challenge_of("v" * 50),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {name: value for name, value in params.items() if value != "<drop>"}


def authorize_url(caller: Caller, params: dict[str, str]) -> str:
    return caller.endpoints.authorize_url + "?" + urlencode(params)


def redirect_query(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def exchange(caller: Caller, code: str, verifier: str, **overrides: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": caller.tenant.client_id,
    }
    form.update(overrides)
    return caller.token(form={name: value for name, value in form.items() if value != "<drop>"})


def get_code(caller: Caller, emulator: RunningEmulator, verifier: str) -> str:
    params = authorize_params(caller, code_challenge=challenge_of(verifier))
    location = emulator.approve_authorization(authorize_url(caller, params))
    return redirect_query(location)["code"]


class _Callback(http.server.BaseHTTPRequestHandler):
    received: list[str]

    def do_GET(self) -> None:
        self.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"You may close this window.")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def loopback_callback() -> Iterator[tuple[str, list[str]]]:
    """A one-request loopback redirect listener, as `certrotor login` runs."""
    received: list[str] = []
    handler = type("Callback", (_Callback,), {"received": received})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 10
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/callback", received
    finally:
        thread.join(timeout=10)
        server.server_close()


class TestFlow:
    def test_pkce_flow_bootstraps_certificate_management(
        self, caller: Caller, emulator: RunningEmulator, loopback_callback: tuple[str, list[str]]
    ) -> None:
        """Consent, redirect to a loopback listener, code exchange: the token can upload a certificate."""
        redirect_uri, received = loopback_callback
        verifier = secrets.token_urlsafe(48)
        params = authorize_params(caller, redirect_uri=redirect_uri, code_challenge=challenge_of(verifier))
        page = caller.http.get(authorize_url(caller, params))
        assert page.status_code == 200
        assert "Approve" in page.text
        assert 'value="7"' in page.text
        assert 'value="3"' in page.text
        form = {**params, "entity": "7", "role": "3", "decision": "approve"}
        landed = caller.http.post(caller.endpoints.authorize_url, data=form, follow_redirects=True)
        assert landed.text == "You may close this window."
        (path,) = received
        query = redirect_query(path)
        assert query["state"] == params["state"]
        response = exchange(caller, query["code"], verifier, redirect_uri=redirect_uri)
        assert response.status_code == 200, response.text
        answer = TokenResponse.model_validate(response.json())
        assert answer.refresh_token
        assert answer.scope == "rest_webservices restlets"
        _key, pem = make_certificate()
        assert caller.upload(pem, token=answer.access_token).status_code == 200
        assert emulator.counters()["token_grants"] == {"authorization_code": 1}

    def test_refresh_token_gives_new_access_tokens(self, caller: Caller, emulator: RunningEmulator) -> None:
        """A refresh token obtains a fresh access token for the same user and scopes."""
        verifier = secrets.token_urlsafe(48)
        answer = exchange(caller, get_code(caller, emulator, verifier), verifier).json()
        refreshed = caller.token(
            form={
                "grant_type": "refresh_token",
                "refresh_token": answer["refresh_token"],
                "client_id": caller.tenant.client_id,
            }
        )
        assert refreshed.status_code == 200
        refreshed_token = refreshed.json()["access_token"]
        assert caller.record(refreshed_token).status_code == 200
        assert token_claims(refreshed_token)["sub"] == f"3;{caller.tenant.entity_id}"

    def test_chosen_role_is_in_the_token(self, caller: Caller, emulator: RunningEmulator) -> None:
        """The entity and role picked on the consent page become the token's sub."""
        entity_id, role_id = emulator.add_m2m_combination()
        verifier = secrets.token_urlsafe(48)
        params = authorize_params(caller, code_challenge=challenge_of(verifier))
        location = emulator.approve_authorization(
            authorize_url(caller, params), entity_id=entity_id, role_id=role_id
        )
        token = exchange(caller, redirect_query(location)["code"], verifier).json()["access_token"]
        assert token_claims(token)["sub"] == f"{role_id};{entity_id}"
        _key, pem = make_certificate()
        assert caller.upload(pem, token=token).status_code == 403

    def test_registered_redirect_uri_is_accepted(self, caller: Caller, emulator: RunningEmulator) -> None:
        """A non-loopback redirect URI works when registered on the integration."""
        registered = "https://app.example.com/oauth/callback"
        response = caller.http.post(
            emulator.base_url + "/_emulator/integrations",
            json={"name": "Web app", "redirect_uris": [registered]},
        )
        client_id = response.json()["integrations"][0]["client_id"]
        params = authorize_params(caller, client_id=client_id, redirect_uri=registered)
        location = emulator.approve_authorization(authorize_url(caller, params))
        assert location.startswith(registered + "?code=")

    def test_deny_redirects_with_access_denied(self, caller: Caller, emulator: RunningEmulator) -> None:
        """Deny sends the user back with error=access_denied and the state."""
        params = authorize_params(caller)
        location = emulator.approve_authorization(authorize_url(caller, params), approve=False)
        assert redirect_query(location) == {
            "error": "access_denied",
            "error_description": "The user denied access.",
            "state": params["state"],
        }


class TestConsentRefusals:
    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            pytest.param({"client_id": "nope"}, "Unknown or missing client_id", id="unknown client"),
            pytest.param({"client_id": "<drop>"}, "Unknown or missing client_id", id="no client"),
            pytest.param(
                {"redirect_uri": "https://evil.example/cb"},
                "The redirect_uri is missing",
                id="foreign redirect",
            ),
            pytest.param({"redirect_uri": "<drop>"}, "The redirect_uri is missing", id="no redirect"),
        ],
    )
    def test_error_page_when_nobody_can_be_redirected(
        self, shared_caller: Caller, overrides: dict[str, str], message: str
    ) -> None:
        """Unknown clients and unacceptable redirect URIs get an error page, never a redirect."""
        response = shared_caller.http.get(
            authorize_url(shared_caller, authorize_params(shared_caller, **overrides))
        )
        assert response.status_code == 400
        assert message in response.text

    @pytest.mark.parametrize(
        ("overrides", "error", "description"),
        [
            pytest.param(
                {"code_challenge_method": "plain"},
                "invalid_request",
                "PKCE is required with code_challenge_method=S256.",
                id="plain PKCE",
            ),
            pytest.param(
                {"code_challenge": "short"},
                "invalid_request",
                "The code_challenge must be 43 base64url characters.",
                id="bad challenge",
            ),
            pytest.param(
                {"state": "<drop>"},
                "invalid_request",
                "The state parameter is required (1 to 1024 characters).",
                id="no state",
            ),
            pytest.param(
                {"scope": "openid"},
                "invalid_scope",
                "Give a scope among restlets, rest_webservices, suite_analytics.",
                id="bad scope",
            ),
            pytest.param(
                {"response_type": "token"},
                "unsupported_response_type",
                "Only response_type=code is supported.",
                id="implicit",
            ),
        ],
    )
    def test_redirected_errors(
        self, shared_caller: Caller, overrides: dict[str, str], error: str, description: str
    ) -> None:
        """Other mistakes are sent back to the redirect URI as OAuth errors."""
        params = authorize_params(shared_caller, **overrides)
        response = shared_caller.http.get(authorize_url(shared_caller, params))
        assert response.status_code == 303
        query = redirect_query(response.headers["location"])
        assert (query["error"], query["error_description"]) == (error, description)
        assert response.headers["location"].startswith(REDIRECT_URI + "?")


class TestExchangeRefusals:
    def test_each_bad_exchange_is_refused(self, caller: Caller, emulator: RunningEmulator) -> None:
        """Wrong verifier, wrong redirect, other client, reuse, missing fields: exact errors, no token."""
        verifier = secrets.token_urlsafe(48)
        (other_client,) = emulator.add_integrations(1)
        invalid_code = "The authorization code is invalid, expired or already used."
        cases = [
            ({"code_verifier": "<drop>"}, 400, "invalid_request", "The code_verifier parameter is missing."),
            ({"code_verifier": "short"}, 400, "invalid_request",
             "The code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)."),
            ({"client_id": "<drop>"}, 400, "invalid_request", "The client_id parameter is missing."),
            ({"client_id": "nobody"}, 401, "invalid_client",
             "No integration record has the client ID 'nobody'."),
            ({"code_verifier": "w" * 50}, 400, "invalid_grant",
             "The code_verifier does not match the code_challenge (PKCE S256)."),
            ({"redirect_uri": "http://127.0.0.1:1/other"}, 400, "invalid_grant",
             "The redirect_uri differs from the one of the authorization request."),
            ({"client_id": other_client}, 400, "invalid_grant",
             "The authorization code was issued to another client."),
            ({"code": "made-up"}, 400, "invalid_grant", invalid_code),
        ]  # fmt: skip
        for overrides, status, error, description in cases:
            code = get_code(caller, emulator, verifier)
            before = snapshot(emulator)
            sent_code = overrides.get("code", code)
            rest = {name: value for name, value in overrides.items() if name != "code"}
            assert oauth_error(exchange(caller, sent_code, verifier, **rest)) == (status, error, description)
            assert snapshot(emulator) == before

    def test_code_is_single_use(self, caller: Caller, emulator: RunningEmulator) -> None:
        """A code works once; the second exchange is refused."""
        verifier = secrets.token_urlsafe(48)
        code = get_code(caller, emulator, verifier)
        assert exchange(caller, code, verifier).status_code == 200
        assert oauth_error(exchange(caller, code, verifier)) == (
            400,
            "invalid_grant",
            "The authorization code is invalid, expired or already used.",
        )

    def test_code_expires_after_ten_minutes(self, caller: Caller, emulator: RunningEmulator) -> None:
        """An unused code is worthless after its lifetime."""
        verifier = secrets.token_urlsafe(48)
        code = get_code(caller, emulator, verifier)
        with time_machine.travel(utcnow() + dt.timedelta(minutes=11), tick=True):
            assert exchange(caller, code, verifier).status_code == 400

    def test_bad_refresh_token_is_refused(self, shared_caller: Caller) -> None:
        """An unknown refresh token gets invalid_grant."""
        response = shared_caller.token(
            form={
                "grant_type": "refresh_token",
                "refresh_token": "x",
                "client_id": shared_caller.tenant.client_id,
            }
        )
        assert oauth_error(response) == (
            400,
            "invalid_grant",
            "The refresh token is invalid, expired or revoked.",
        )
