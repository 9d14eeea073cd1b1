"""Injected faults (before handling and after a stored change), the request body limit, and answers
styled as clients in production report NetSuite's."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.testing import EmulatorAdminError, RunningEmulator, serve_emulator

from ._support import Caller, make_certificate, netsuite_error, open_caller


class TestFaultsBeforeHandling:
    def test_error_rate_answers_5xx_and_grants_nothing(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """With error_rate=1 the token endpoint answers 503 in NetSuite's format; no token is granted."""
        key, certificate_id = caller.upload_ok()
        emulator.set_faults(error_rate=1.0)
        response = caller.token(caller.assertion(key, certificate_id))
        assert netsuite_error(response) == (
            503,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable (injected fault); retry later.",
        )
        counters = emulator.counters()
        assert counters.get("token_grants_total", 0) == 0
        assert counters["faults"] == {"error": 1}

    def test_rate_limit_answers_429_with_retry_after(self, caller: Caller, emulator: RunningEmulator) -> None:
        """rate_limit_rate=1 answers 429 with the configured Retry-After."""
        emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=7)
        response = caller.list()
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert netsuite_error(response)[1:] == (
            "RATE_LIMIT_EXCEEDED",
            "Too many requests; retry after 7 seconds.",
        )

    def test_drop_closes_the_connection_without_answer(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """drop_rate=1 closes the connection: the client sees no answer at all."""
        emulator.set_faults(drop_rate=1.0)
        with pytest.raises(httpx2.RemoteProtocolError):
            caller.list()
        emulator.clear_faults()
        assert caller.list().status_code == 200

    def test_faults_spare_admin_and_record_endpoints(self, caller: Caller, emulator: RunningEmulator) -> None:
        """Only the token and certificate endpoints are faulted."""
        emulator.set_faults(error_rate=1.0)
        assert caller.record(caller.tenant.admin_token).status_code == 200
        assert emulator.counters()["faults_total"] == 0

    def test_max_faults_bounds_the_injection(self, caller: Caller, emulator: RunningEmulator) -> None:
        """After max_faults faults the emulator answers normally again."""
        emulator.set_faults(error_rate=1.0, max_faults=2)
        assert [caller.list().status_code for _ in range(4)] == [503, 503, 200, 200]

    def test_seed_makes_faults_reproducible(self, caller: Caller, emulator: RunningEmulator) -> None:
        """The same fault_seed gives the same sequence of outcomes."""
        emulator.set_faults(error_rate=0.5, fault_seed=42)
        first = [caller.list().status_code for _ in range(12)]
        emulator.set_faults(fault_seed=42)
        second = [caller.list().status_code for _ in range(12)]
        assert first == second
        assert set(first) == {200, 503}

    def test_slow_requests_are_counted(self, caller: Caller, emulator: RunningEmulator) -> None:
        """slow_seconds delays faultable requests (counted, not timed)."""
        emulator.set_faults(slow_seconds=0.01)
        caller.list()
        caller.list()
        assert emulator.counters()["faults"] == {"slow": 2}

    def test_faults_from_the_start_config(self, tmp_path: Path) -> None:
        """Faults given in EmulatorConfig apply from the first request."""
        config = EmulatorConfig(error_rate=1.0, error_status=502)
        with serve_emulator(tmp_path / "e.db", config) as emulator, open_caller(emulator) as caller:
            assert caller.list().status_code == 502

    @pytest.mark.parametrize(
        "faults",
        [{"error_rate": 2}, {"error_rate": 0.6, "drop_rate": 0.6}, {"typo_rate": 0.1}, {"max_faults": -1}],
    )
    def test_invalid_fault_settings_are_refused(
        self, shared_emulator: RunningEmulator, faults: dict[str, float]
    ) -> None:
        """Out-of-range or unknown fault settings are refused and leave the faults as they were."""
        before = shared_emulator.faults()
        with pytest.raises(EmulatorAdminError, match="400"):
            shared_emulator.set_faults(**faults)
        assert shared_emulator.faults() == before


class TestFaultsAfterCommit:
    def test_upload_stored_but_answer_lost_to_5xx(self, caller: Caller, emulator: RunningEmulator) -> None:
        """after_commit_error_rate=1: stored, yet the client sees 503; a blind retry is a duplicate."""
        emulator.set_faults(after_commit_error_rate=1.0)
        _key, pem = make_certificate()
        assert caller.upload(pem).status_code == 503
        stored = emulator.certificates()
        assert len(stored) == 1
        assert emulator.counters()["uploads_total"] == 1
        emulator.clear_faults()
        retry = caller.upload(pem)
        assert netsuite_error(retry)[:2] == (400, "DUPLICATE_CERTIFICATE")
        assert stored[0]["certificate_id"] in netsuite_error(retry)[2]

    def test_upload_stored_but_connection_dropped(self, caller: Caller, emulator: RunningEmulator) -> None:
        """after_commit_drop_rate=1: the connection closes after the upload was stored."""
        emulator.set_faults(after_commit_drop_rate=1.0)
        _key, pem = make_certificate()
        with pytest.raises(httpx2.RemoteProtocolError):
            caller.upload(pem)
        assert len(emulator.certificates()) == 1
        assert emulator.counters()["faults"] == {"after_commit_drop": 1}

    def test_revoke_stored_but_answer_lost(self, caller: Caller, emulator: RunningEmulator) -> None:
        """A revoke can be stored while its answer is lost; the retry says it is already revoked."""
        _key, certificate_id = caller.upload_ok()
        emulator.set_faults(after_commit_error_rate=1.0)
        assert caller.revoke(certificate_id).status_code == 503
        emulator.clear_faults()
        assert netsuite_error(caller.revoke(certificate_id))[:2] == (400, "CERTIFICATE_ALREADY_REVOKED")

    def test_refused_changes_are_not_faulted_after(self, caller: Caller, emulator: RunningEmulator) -> None:
        """After-commit faults only hide successes: a refused upload still gets its 400."""
        emulator.set_faults(after_commit_error_rate=1.0)
        assert netsuite_error(caller.upload("garbage"))[:2] == (400, "INVALID_CERTIFICATE")
        assert caller.list().status_code == 200


@pytest.fixture
def small_limit(emulator: RunningEmulator) -> RunningEmulator:
    """The emulator with a 2 KiB body limit."""
    emulator.set_config(max_body_bytes=2048)
    return emulator


class TestBodyLimit:
    def test_token_request_over_the_limit(self, caller: Caller, small_limit: RunningEmulator) -> None:
        """The token endpoint refuses oversized forms with 413 too."""
        response = caller.token(form={"grant_type": "client_credentials", "client_assertion": "x" * 3000})
        assert netsuite_error(response) == (
            413,
            "REQUEST_TOO_LARGE",
            "The request body exceeds the limit of 2048 bytes.",
        )

    def test_chunked_body_over_the_limit(self, caller: Caller, small_limit: RunningEmulator) -> None:
        """A chunked body without Content-Length is counted as it arrives."""

        def chunks() -> Iterator[bytes]:
            yield b'{"fileContent": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'", "role": 3, "entity": 7}'

        url = caller.endpoints.certificates_url(caller.tenant.client_id)
        headers = {"Authorization": f"Bearer {caller.tenant.admin_token}", "Content-Type": "application/json"}
        response = caller.http.post(url, content=chunks(), headers=headers)
        assert response.status_code == 413
        assert small_limit.certificates() == []

    def test_body_under_the_limit_passes(self, caller: Caller, small_limit: RunningEmulator) -> None:
        """A body under the limit reaches the route unchanged."""
        body = json.dumps({"fileContent": "x" * 1000, "role": 3, "entity": 7}).encode()
        response = caller.upload(content=body, headers={"Content-Type": "application/json"})
        assert netsuite_error(response)[1] == "INVALID_CERTIFICATE"

    def test_huge_declared_length_is_refused_at_once(self, small_limit: RunningEmulator) -> None:
        """A Content-Length far above the limit is answered 413 before the body is sent."""
        host, port = small_limit.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(
                b"POST /services/rest/auth/oauth2/v1/token HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n"
            )
            answer = b""
            while b"REQUEST_TOO_LARGE" not in answer:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in answer.lower()


class TestAnswerStyle:
    def test_plain_text_errors(self, caller: Caller, emulator: RunningEmulator) -> None:
        """plain_text_errors answers a refusal as NetSuite's words in text/plain, nothing else."""
        emulator.set_config(plain_text_errors=True)
        refused = caller.list(token="forged")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("text/plain")
        assert refused.text.startswith("Invalid login attempt.")
        missing = caller.http.get(
            caller.endpoints.api_base + "/app/site/hosting/restlet.nl",
            params={
                "script": "customscript_certrotor_certificates",
                "deploy": "1",
                "record": "custcertificate_nope",
            },
            headers={"Authorization": f"Bearer {caller.tenant.admin_token}"},
        )
        assert (missing.status_code, missing.text) == (404, 'Certificate "custcertificate_nope" not found')

    def test_oracle_content_type_on_successes(self, caller: Caller, emulator: RunningEmulator) -> None:
        """oracle_content_type labels JSON successes application/vnd.oracle.resource+json."""
        emulator.set_config(oracle_content_type=True)
        _key, certificate_id = caller.upload_ok()
        listed = caller.list()
        assert listed.headers["content-type"] == "application/vnd.oracle.resource+json"
        assert [item["certificate_id"] for item in listed.json()] == [certificate_id]
        # Errors stay JSON unless plain_text_errors is set too; the revoke answer stays text.
        assert caller.list(token="forged").headers["content-type"].startswith("application/json")
        assert caller.revoke(certificate_id).text == "Successfully revoked"

    def test_token_endpoint_is_not_restyled(self, caller: Caller, emulator: RunningEmulator) -> None:
        """The token endpoint keeps RFC 6749 JSON errors."""
        emulator.set_config(plain_text_errors=True, oracle_content_type=True)
        response = caller.token("not-a-jwt")
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]
