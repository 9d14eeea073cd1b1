"""Scopes per resource and the integration record's settings, over real HTTP with the exact refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from certrotor.crypto import PrivateKey
from certrotor.emulator.testing import RunningEmulator, serve_emulator
from certrotor.protocol.records import RECORDS_RESTLET_DEPLOY, RECORDS_RESTLET_SCRIPT, RESTLET_PATH

from ._support import Caller, netsuite_error, oauth_error, open_caller, snapshot

SUITEQL = "/services/rest/query/v1/suiteql"


def scoped_token(caller: Caller, key: PrivateKey, certificate_id: str, scope: object) -> str:
    response = caller.token(caller.assertion(key, certificate_id, scope=scope))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def refusal(scopes: str, needed: str, resource: str) -> tuple[int, str, str]:
    return (
        403,
        "INSUFFICIENT_PERMISSION",
        f"The access token's scopes ({scopes}) do not include {needed}, which {resource} requires; "
        f"obtain a token with the {needed} scope (the integration record must allow it).",
    )


CERTIFICATES = "the certificate endpoints"
REST = "REST web services (record/v1, query/v1)"


class TestScopesPerResource:
    def test_restlets_token_is_refused_by_the_certificate_endpoints(self, caller: Caller) -> None:
        """A restlets-only token lists, uploads and revokes nothing: 403 naming rest_webservices."""
        key, certificate_id = caller.upload_ok()
        token = scoped_token(caller, key, certificate_id, "restlets")
        before = snapshot(caller.emulator)
        expected = refusal("restlets", "rest_webservices", CERTIFICATES)
        for response in (
            caller.list(token=token),
            caller.upload("irrelevant", token=token),
            caller.revoke(certificate_id, token=token),
        ):
            assert netsuite_error(response) == expected
            assert response.headers["www-authenticate"] == (
                'Bearer error="insufficient_scope", scope="rest_webservices"'
            )
        assert snapshot(caller.emulator) == before

    def test_rest_webservices_token_manages_certificates(self, caller: Caller) -> None:
        """A token with only rest_webservices lists certificates."""
        key, certificate_id = caller.upload_ok()
        token = scoped_token(caller, key, certificate_id, "rest_webservices")
        assert caller.list(token=token).status_code == 200

    def test_restlets_token_is_refused_by_record_and_query(self, caller: Caller) -> None:
        """record/v1, its metadata catalog and query/v1/suiteql need rest_webservices."""
        key, certificate_id = caller.upload_ok()
        headers = {"Authorization": f"Bearer {scoped_token(caller, key, certificate_id, ['restlets'])}"}
        base = caller.emulator.base_url
        responses = [
            caller.http.get(caller.endpoints.record_url("customer/42"), headers=headers),
            caller.http.get(caller.endpoints.record_url("metadata-catalog"), headers=headers),
            caller.http.post(
                caller.endpoints.record_url("customer"), json={"companyName": "X"}, headers=headers
            ),
            caller.http.post(
                base + SUITEQL,
                json={"q": "SELECT id FROM customer"},
                headers={**headers, "Prefer": "transient"},
            ),
        ]
        for response in responses:
            assert netsuite_error(response) == refusal("restlets", "rest_webservices", REST)

    def test_rest_webservices_token_is_refused_by_a_restlet(self, caller: Caller) -> None:
        """The certificate-records RESTlet (any RESTlet URL) needs the restlets scope."""
        key, certificate_id = caller.upload_ok()
        token = scoped_token(caller, key, certificate_id, "rest_webservices")
        for script, deploy in ((RECORDS_RESTLET_SCRIPT, RECORDS_RESTLET_DEPLOY), ("customscript_x", "1")):
            response = caller.http.get(
                caller.emulator.base_url + RESTLET_PATH,
                params={"script": script, "deploy": deploy},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert netsuite_error(response) == refusal("rest_webservices", "restlets", "a RESTlet")

    def test_restlets_token_reaches_the_restlet(self, caller: Caller) -> None:
        """A restlets token reads the certificate records."""
        key, certificate_id = caller.upload_ok()
        response = caller.http.get(
            caller.emulator.base_url + RESTLET_PATH,
            params={"script": RECORDS_RESTLET_SCRIPT, "deploy": RECORDS_RESTLET_DEPLOY},
            headers={"Authorization": f"Bearer {scoped_token(caller, key, certificate_id, 'restlets')}"},
        )
        assert response.status_code == 200, response.text


class TestIntegrationSettings:
    def test_new_integration_ticks_every_scope_and_the_grant(self, emulator: RunningEmulator) -> None:
        """By default the record allows client credentials and all three scopes."""
        settings = emulator.set_integration()
        assert settings["client_credentials_enabled"] is True
        assert settings["scopes"] == ["restlets", "rest_webservices", "suite_analytics"]

    def test_grant_not_enabled_is_unauthorized_client(self, caller: Caller) -> None:
        """With the M2M grant box unticked a valid assertion gets 400 unauthorized_client."""
        key, certificate_id = caller.upload_ok()
        caller.emulator.set_integration(client_credentials_enabled=False)
        before = snapshot(caller.emulator)
        response = caller.token(caller.assertion(key, certificate_id))
        assert oauth_error(response) == (
            400,
            "unauthorized_client",
            "The integration record 'Test Integration' does not allow the client credentials grant; "
            "tick 'Client Credentials (Machine to Machine) Grant' on it.",
        )
        assert snapshot(caller.emulator) == before
        caller.emulator.set_integration(client_credentials_enabled=True)
        assert caller.token(caller.assertion(key, certificate_id)).status_code == 200

    def test_scope_not_ticked_is_invalid_scope(self, caller: Caller) -> None:
        """Asking for a scope the record does not tick is 400 invalid_scope naming the allowed ones."""
        key, certificate_id = caller.upload_ok()
        caller.emulator.set_integration(scopes=["rest_webservices"])
        response = caller.token(caller.assertion(key, certificate_id, scope="restlets, rest_webservices"))
        assert oauth_error(response) == (
            400,
            "invalid_scope",
            "The integration record 'Test Integration' does not allow the scope restlets; ask only for "
            "rest_webservices, or tick the scope on the integration record.",
        )
        assert (
            caller.token(caller.assertion(key, certificate_id, scope="rest_webservices")).status_code == 200
        )

    def test_unknown_scope_setting_is_refused(self, emulator: RunningEmulator) -> None:
        """The admin API refuses a scope NetSuite has no box for, and changes nothing."""
        with open_caller(emulator) as caller:
            response = caller.http.post(
                emulator.base_url + "/_emulator/integration-settings", json={"scopes": ["odbc"]}
            )
        assert response.status_code == 400
        assert "Invalid integration scopes odbc" in response.json()["o:errorDetails"][0]["detail"]
        assert emulator.set_integration()["scopes"] == ["restlets", "rest_webservices", "suite_analytics"]

    def test_new_integration_takes_its_settings(self, emulator: RunningEmulator) -> None:
        """POST /_emulator/integrations sets the boxes of the new record."""
        with open_caller(emulator) as caller:
            created = caller.http.post(
                emulator.base_url + "/_emulator/integrations",
                json={"name": "Narrow", "scopes": ["restlets"], "client_credentials_enabled": False},
            ).json()["integrations"][0]
        assert (created["scopes"], created["client_credentials_enabled"]) == (["restlets"], False)

    def test_emulator_init_sets_the_demo_record(self, tmp_path: Path) -> None:
        """`certrotor emulator init --scopes ... --no-client-credentials` ticks the demo record's boxes."""
        state = tmp_path / "emulator.db"
        command = [sys.executable, "-m", "certrotor", "emulator", "init", "--state", str(state), "--json"]
        subprocess.run(command, check=True, capture_output=True)
        subprocess.run(
            [*command, "--scopes", "rest_webservices", "--no-client-credentials"],
            check=True,
            capture_output=True,
        )
        with serve_emulator(state) as emulator:
            settings = emulator.set_integration()
        assert (settings["scopes"], settings["client_credentials_enabled"]) == (["rest_webservices"], False)

    def test_emulator_init_refuses_an_unknown_scope(self, tmp_path: Path) -> None:
        """An unknown scope is a one-line error with the fix."""
        state = tmp_path / "emulator.db"
        done = subprocess.run(
            [sys.executable, "-m", "certrotor", "emulator", "init", "--state", str(state), "--scopes", "x"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1
        assert not state.exists()
        assert done.stderr.strip() == (
            "Error: Invalid integration scopes x. Fix: tick one or more of restlets, rest_webservices, "
            "suite_analytics."
        )
