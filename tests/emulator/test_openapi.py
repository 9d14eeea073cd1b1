"""``/openapi.json`` describes the emulator, and the certificate endpoints keep to it (schemathesis)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from certrotor.emulator.testing import RunningEmulator
from certrotor.protocol.urls import (
    AUTHORIZE_PATH,
    CERTIFICATES_PATH,
    RECORD_PATH_PREFIX,
    REVOKE_PATH,
    TOKEN_PATH,
)

from ._support import Caller

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def openapi(shared_emulator: RunningEmulator) -> dict[str, Any]:
    import httpx2

    document: dict[str, Any] = httpx2.get(shared_emulator.base_url + "/openapi.json").json()
    return document


class TestDocument:
    def test_every_netsuite_endpoint_is_described(self, openapi: dict[str, Any]) -> None:
        """The token, authorize, certificate, revoke and record endpoints are in /openapi.json."""
        paths = openapi["paths"]
        assert set(paths[TOKEN_PATH]) == {"post"}
        assert set(paths[AUTHORIZE_PATH]) == {"get", "post"}
        assert set(paths[CERTIFICATES_PATH]) == {"get", "post"}
        assert set(paths[REVOKE_PATH]) == {"post"}
        assert set(paths[RECORD_PATH_PREFIX + "/{record_type_name}"]) == {"get", "post"}
        one_record = RECORD_PATH_PREFIX + "/{record_type_name}/{record_id}"
        assert set(paths[one_record]) == {"get", "patch", "delete"}
        assert set(paths[RECORD_PATH_PREFIX + "/metadata-catalog"]) == {"get"}
        assert set(paths["/services/rest/query/v1/suiteql"]) == {"post"}

    def test_emulator_rules_are_stated(self, openapi: dict[str, Any]) -> None:
        """The description states the emulator's own replay rule and the aud settings."""
        description = openapi["info"]["description"]
        assert "without jti may not be sent twice" in description
        assert "replay_without_jti" in description
        assert "audience_rule" in description

    def test_upload_body_is_documented(self, openapi: dict[str, Any]) -> None:
        """The upload body names fileContent, role and entity (numbers or numeric strings)."""
        body = openapi["paths"][CERTIFICATES_PATH]["post"]["requestBody"]["content"]["application/json"]
        schema = body["schema"]
        assert schema["required"] == ["fileContent", "role", "entity"]
        assert schema["properties"]["entity"]["anyOf"][1]["pattern"] == "^-?[0-9]+$"


class TestConformance:
    def test_certificate_endpoints_keep_to_their_schema(
        self, shared_emulator: RunningEmulator, shared_caller: Caller, openapi: dict[str, Any]
    ) -> None:
        """Generated requests never get a 5xx and every answer matches its documented status and shape."""
        schema = schemathesis.openapi.from_dict(openapi).include(
            path_regex="^/services/rest/auth/oauth2/v1/clients/"
        )
        headers = {"Authorization": f"Bearer {shared_emulator.tenant.admin_token}"}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 3
        before = len(shared_emulator.certificates())
        for operation in operations:
            strategy = operation.as_strategy(
                path_parameters={"client_id": shared_emulator.tenant.client_id}, headers=headers
            )

            @given(case=strategy)
            @settings(
                max_examples=20,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                case.call_and_validate(base_url=shared_emulator.base_url, checks=CHECKS)

            call()
        # Random fileContent is never a certificate: nothing was stored.
        assert len(shared_emulator.certificates()) == before
        assert shared_caller.list().status_code == 200


class TestWholeDocument:
    def test_no_operation_answers_a_server_error(self, emulator: RunningEmulator) -> None:
        """Generated requests, valid and invalid, to every operation (the /_emulator admin API too) never
        get a 5xx."""
        import httpx2

        document = httpx2.get(emulator.base_url + "/openapi.json").json()
        schema = schemathesis.openapi.from_dict(document)
        headers = {"Authorization": f"Bearer {emulator.tenant.admin_token}"}
        defaults = emulator.config()
        operations = [result.ok() for result in schema.get_all_operations()]
        assert any(operation.path.startswith("/_emulator/") for operation in operations)
        server_errors: list[str] = []
        for operation, mode in itertools.product(operations, GenerationMode):
            # Negative cases break the documented bounds on purpose (numbers beyond them, wrong types).
            strategy = operation.as_strategy(mode, headers=headers)

            @given(case=strategy)
            @settings(
                max_examples=25,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                if case.path.endswith("/send-import") and isinstance(case.body, dict):
                    # Signed imports go out to receiver_url: keep them on a closed loopback port.
                    case.body["receiver_url"] = "http://127.0.0.1:9"
                response = case.call(base_url=emulator.base_url)
                if response.status_code >= 500:
                    server_errors.append(f"{case.method} {case.formatted_path}: {response.status_code}")
                if case.path in ("/_emulator/config", "/_emulator/faults") and case.method == "POST":
                    # Injected faults are 5xx by design: every case starts from the defaults.
                    emulator.set_config(**defaults)

            try:
                call()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid request to make.
                assert mode is GenerationMode.NEGATIVE
        assert server_errors == []
