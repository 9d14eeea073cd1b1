"""The ``/_emulator/`` admin API: tenants, integrations, combinations, tokens, config, certificates."""

from __future__ import annotations

from typing import Any

import pytest

from certrotor.crypto import fingerprint_sha256, load_certificate_pem
from certrotor.emulator.testing import RunningEmulator

from ._support import Caller, make_certificate, netsuite_error, snapshot


def admin(caller: Caller, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    return caller.http.request(method, caller.emulator.base_url + "/_emulator" + path, json=payload)


class TestAdmin:
    def test_tenant_describes_the_demo_without_its_token(self, shared_caller: Caller) -> None:
        """/_emulator/tenant names the demo ids and never the admin token."""
        response = admin(shared_caller, "GET", "/tenant")
        assert response.json()["client_id"] == shared_caller.tenant.client_id
        assert shared_caller.tenant.admin_token not in response.text

    def test_new_integrations_work_with_the_demo_combination(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """Integrations made in bulk have the demo entity and role mapped: uploads work on each."""
        client_ids = emulator.add_integrations(3)
        assert len(set(client_ids)) == 3
        for client_id in client_ids:
            _key, pem = make_certificate()
            assert caller.upload(pem, client_id=client_id).status_code == 200
        assert set(emulator.counters()["uploads"]) == set(client_ids)

    def test_fleet_of_combinations(self, caller: Caller, emulator: RunningEmulator) -> None:
        """250 (entity, role) combinations are created in one call and each accepts a certificate."""
        pairs = emulator.add_m2m_combinations(250)
        assert len(set(pairs)) == 250
        entity_id, role_id = pairs[-1]
        emulator.set_config(max_active_per_integration=1000)
        _key, pem = make_certificate()
        assert caller.upload(pem, entity=entity_id, role=role_id).status_code == 200

    def test_other_accounts_are_invisible(self, caller: Caller) -> None:
        """A client of another account is 404 to the demo account's token."""
        assert admin(caller, "POST", "/accounts", {"account_id": "1234567_SB1"}).status_code == 200
        created = admin(
            caller, "POST", "/integrations", {"account_id": "1234567_SB1", "map_demo_combination": False}
        )
        client_id = created.json()["integrations"][0]["client_id"]
        assert netsuite_error(caller.list(client_id=client_id))[:2] == (404, "NONEXISTENT_ID")

    @pytest.mark.parametrize(
        ("path", "payload", "status"),
        [
            pytest.param("/accounts", {"account_id": "TSTDRV1234567"}, 409, id="existing account"),
            pytest.param("/accounts", {"account_id": "bad id!"}, 400, id="malformed account id"),
            pytest.param("/entities", {"entity_id": 7}, 409, id="existing entity"),
            pytest.param("/roles", {"role_id": 3}, 409, id="existing role"),
            pytest.param("/mappings", {"entity_id": 424242, "role_id": 3}, 404, id="unknown entity"),
            pytest.param("/management-tokens", {"role_id": 424242}, 404, id="token for unknown role"),
            pytest.param("/combinations", {"count": 0}, 400, id="zero combinations"),
            pytest.param("/combinations", {"client_id": "nope"}, 404, id="unknown client"),
            pytest.param("/config", {"max_body_bytes": 1}, 400, id="tiny body limit"),
            pytest.param("/integrations", {"colour": "red"}, 400, id="unknown field"),
        ],
    )
    def test_bad_admin_requests(
        self, shared_caller: Caller, path: str, payload: dict[str, Any], status: int
    ) -> None:
        """Bad admin requests get NetSuite-format errors with a fitting status."""
        response = admin(shared_caller, "POST", path, payload)
        assert netsuite_error(response)[0] == status

    def test_certificates_listing_carries_fingerprints(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """/_emulator/certificates shows each certificate's SHA-256 fingerprint and revoked flag."""
        _key, pem = make_certificate()
        certificate_id = caller.upload(pem).json()["certificate_id"]
        caller.revoke(certificate_id)
        (listed,) = emulator.certificates()
        assert listed["fingerprint"] == fingerprint_sha256(load_certificate_pem(pem))
        assert (listed["certificate_id"], listed["revoked"]) == (certificate_id, True)

    def test_config_changes_at_runtime(self, emulator: RunningEmulator, caller: Caller) -> None:
        """Config read and changed through the admin API takes effect at once."""
        emulator.set_config(max_active_per_integration=1)
        assert admin(caller, "GET", "/config").json()["max_active_per_integration"] == 1
        caller.upload_ok()
        _key, pem = make_certificate()
        assert netsuite_error(caller.upload(pem))[1] == "CERTIFICATE_LIMIT_REACHED"

    def test_unknown_path_and_method(self, shared_caller: Caller) -> None:
        """Unknown paths are 404 and wrong methods 405, in NetSuite's format."""
        assert netsuite_error(shared_caller.http.get(shared_caller.emulator.base_url + "/nowhere"))[:2] == (
            404,
            "NONEXISTENT_ID",
        )
        response = shared_caller.http.delete(
            shared_caller.endpoints.certificates_url(shared_caller.tenant.client_id)
        )
        assert netsuite_error(response)[:2] == (405, "METHOD_NOT_ALLOWED")


class TestNumericBounds:
    def test_management_token_lifetime_beyond_ten_years_is_refused(self, shared_caller: Caller) -> None:
        """A lifetime no date can hold is NetSuite's 400 naming the bound, and no token is issued."""
        before = snapshot(shared_caller.emulator)
        response = admin(
            shared_caller, "POST", "/management-tokens", {"lifetime_seconds": 3048618198901039104}
        )
        assert netsuite_error(response) == (
            400,
            "INVALID_CONTENT",
            "Invalid request: lifetime_seconds: Input should be less than or equal to 316224000.",
        )
        assert "access_token" not in response.text
        assert snapshot(shared_caller.emulator) == before

    @pytest.mark.parametrize(
        ("method", "path", "payload", "answer"),
        [
            pytest.param(
                "POST",
                "/_emulator/entities",
                {"entity_id": 2**70},
                (
                    400,
                    "INVALID_CONTENT",
                    "Invalid request: entity_id: Input should be less than or equal to 2147483647.",
                ),
                id="entity id",
            ),
            pytest.param(
                "POST",
                "/_emulator/mappings",
                {"entity_id": 7, "role_id": -(2**63)},
                (
                    400,
                    "INVALID_CONTENT",
                    "Invalid request: role_id: Input should be greater than or equal to -2147483648.",
                ),
                id="mapped role id",
            ),
            pytest.param(
                "POST",
                "/_emulator/config",
                {"refresh_token_lifetime_seconds": 2**64},
                (
                    400,
                    "INVALID_CONTENT",
                    "Invalid config: 1 validation error for EmulatorConfig\nrefresh_token_lifetime_seconds\n"
                    "  Input should be less than or equal to 316224000",
                ),
                id="refresh token lifetime",
            ),
            pytest.param(
                "GET",
                "/services/rest/record/v1/customer/" + str(2**70),
                None,
                (404, "NONEXISTENT_ID", None),
                id="record id",
            ),
            pytest.param(
                "GET",
                f"/services/rest/record/v1/customer?limit=5&offset={2**70}",
                None,
                (400, "INVALID_PARAMETER", f"Invalid offset {2**70}: give 0 to 2147483647."),
                id="page offset",
            ),
        ],
    )
    def test_numbers_beyond_what_the_emulator_holds_are_4xx(
        self,
        shared_caller: Caller,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        answer: tuple[int, str, str | None],
    ) -> None:
        """IDs, offsets and lifetimes too large for SQLite or a date get a 4xx in NetSuite's shape."""
        before = snapshot(shared_caller.emulator)
        config = admin(shared_caller, "GET", "/config").json()
        headers = {"Authorization": f"Bearer {shared_caller.tenant.admin_token}"}
        response = shared_caller.http.request(
            method, shared_caller.emulator.base_url + path, json=payload, headers=headers
        )
        status, code, detail = netsuite_error(response)
        assert (status, code) == answer[:2]
        if answer[2] is not None:
            assert detail.startswith(answer[2])
        assert snapshot(shared_caller.emulator) == before
        assert admin(shared_caller, "GET", "/config").json() == config
