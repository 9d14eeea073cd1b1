"""The record commands as a user types them: add, health, rotate, show, recreate, verify, receiver serve."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from certrotor.client.auth import BearerTokenAuth
from certrotor.client.records import RecordClient
from certrotor.crypto import KeySpec, build_self_signed_certificate, generate_private_key
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.emulator.testing import RunningEmulator
from support.records import SCRIPT_ID, UNREACHABLE_RECEIVER, CliResult, certrotor_command, run_cli

SERVE_START_TIMEOUT_SECONDS = 60.0
_LISTENING = re.compile(r"on (http://127\.0\.0\.1:\d+)/netsuite\.pl")


def _add(emulator: RunningEmulator, *extra: str) -> CliResult:
    return run_cli(
        "record",
        "add",
        "openair",
        "--account",
        emulator.tenant.account_id,
        "--base-url",
        emulator.base_url,
        "--token",
        emulator.tenant.admin_token,
        *extra,
    )


def _no_secrets(result: CliResult, emulator: RunningEmulator) -> None:
    assert emulator.tenant.admin_token not in result.output
    assert "PRIVATE KEY" not in result.output


@pytest.fixture
def added(certrotor_env: dict[str, str], emulator: RunningEmulator) -> str:
    """``certrotor record add openair --mode rotate`` (custcertificate_oa_realtime, this system playing
    OpenAir's part)."""
    result = _add(emulator, "--mode", "rotate")
    assert result.exit_code == 0, result.output
    _no_secrets(result, emulator)
    return "openair"


class TestAdd:
    def test_added_with_defaults(self, added: str) -> None:
        """The record ID and name default to OpenAir's."""
        listed = json.loads(run_cli("credential", "list", "--json").stdout)
        assert [(c["name"], c["kind"], c["record_script_id"]) for c in listed] == [
            ("openair", "record", SCRIPT_ID)
        ]

    def test_credential_add_kind_record(
        self, certrotor_env: dict[str, str], emulator: RunningEmulator
    ) -> None:
        """credential add --kind record --record-id --record-name makes a record credential that rotates."""
        tenant = emulator.tenant
        added = run_cli(
            "credential", "add", "oa", "--kind", "record", "--record-id", "_oa_realtime",
            "--record-name", "OpenAir real-time", "--account", tenant.account_id,
            "--client-id", tenant.client_id, "--entity", "7", "--role", "3",
            "--base-url", emulator.base_url, "--token", tenant.admin_token, "--mode", "rotate",
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        listed = json.loads(run_cli("credential", "list", "--json").stdout)
        assert [(c["kind"], c["record_script_id"]) for c in listed] == [("record", SCRIPT_ID)]
        assert run_cli("rotate", "oa").exit_code == 0
        assert run_cli("health", "oa").exit_code == 0

    def test_credential_add_unknown_kind(self, certrotor_env: dict[str, str]) -> None:
        """An unknown --kind is refused with the choices."""
        result = run_cli(
            "credential", "add", "x", "--kind", "saml", "--account", "1", "--client-id", "c",
            "--entity", "1", "--role", "1",
        )  # fmt: skip
        assert result.exit_code == 1
        assert "m2m or record" in result.stderr

    def test_needs_an_account(self, certrotor_env: dict[str, str]) -> None:
        """Without --account (or --auth-credential) the command says what to add."""
        result = run_cli("record", "add", "x", "--token", "t")
        assert result.exit_code == 1
        assert "--account" in result.stderr

    def test_bad_record_id(self, certrotor_env: dict[str, str], emulator: RunningEmulator) -> None:
        """A record ID NetSuite would refuse is refused before anything is stored."""
        result = _add(emulator, "--record-id", "oa realtime")
        assert result.exit_code == 1
        assert "Invalid certificate record ID" in result.stderr
        assert json.loads(run_cli("credential", "list", "--json").stdout) == []


class TestStory:
    def test_placeholder_rotate_delete_recreate(self, added: str, emulator: RunningEmulator) -> None:
        """health shows the placeholder, rotate replaces it, a deleted record is reported and recreated."""
        records = RecordsAdmin(emulator)
        first = run_cli("health", "openair", "--json")
        assert first.exit_code == 2
        report = json.loads(first.stdout)["credentials"][0]
        assert report["summary"] == "No valid certificate available for real-time import"
        assert "placeholder" in {reason["code"] for reason in report["reasons"]}

        rotated = run_cli("rotate", "openair")
        assert rotated.exit_code == 0, rotated.output
        healthy = run_cli("health", "openair", "--verbose")
        assert healthy.exit_code == 0, healthy.output
        assert "Current real-time import certificate is valid until" in healthy.stdout
        shown = json.loads(run_cli("record", "show", "openair", "--json").stdout)
        assert shown["remote_state"] == "active"
        assert shown["record"]["fingerprint_sha256"] == shown["verifiers"][0]["fingerprint_sha256"]

        records.delete(SCRIPT_ID)
        failed = run_cli("rotate", "openair")
        assert failed.exit_code == 1
        assert 'Certificate "custcertificate_oa_realtime" not found' in failed.stdout
        assert "certrotor record recreate openair" in failed.stdout
        crit = run_cli("health", "openair")
        assert crit.exit_code == 2
        assert 'Certificate "custcertificate_oa_realtime" not found' in crit.stdout
        assert "fix: certrotor record recreate openair" in crit.stdout
        assert (
            'Certificate "custcertificate_oa_realtime" not found'
            in run_cli("record", "show", "openair").stdout
        )

        recreated = run_cli("record", "recreate", "openair")
        assert recreated.exit_code == 0, recreated.output
        assert (
            'Recreated certificate record "custcertificate_oa_realtime" (OpenAir real-time)'
            in recreated.stdout
        )
        assert records.get(SCRIPT_ID)["is_placeholder"] is True  # type: ignore[index]
        again = run_cli("rotate", "openair")
        assert again.exit_code == 0, again.output
        assert run_cli("health", "openair").exit_code == 0
        for result in (first, rotated, failed, crit, recreated, again):
            _no_secrets(result, emulator)

    def test_recreate_under_another_id(self, added: str, emulator: RunningEmulator) -> None:
        """recreate --record-id/--record-name creates that record and the credential follows it."""
        result = run_cli(
            "record", "recreate", "openair", "--record-id", "_oa_other", "--record-name", "Other"
        )
        assert result.exit_code == 0, result.output
        assert RecordsAdmin(emulator).get("custcertificate_oa_other")["name"] == "Other"  # type: ignore[index]
        listed = json.loads(run_cli("credential", "list", "--json").stdout)
        assert listed[0]["record_script_id"] == "custcertificate_oa_other"

    def test_recreate_existing_record(self, added: str) -> None:
        """Recreating a record that exists changes nothing and says so."""
        result = run_cli("record", "recreate", "openair")
        assert result.exit_code == 1
        assert "already exists" in result.stderr

    def test_verify(self, added: str, emulator: RunningEmulator) -> None:
        """record verify checks one signed query against the verifiers."""
        assert run_cli("rotate", "openair").exit_code == 0
        url = RecordsAdmin(emulator).send_import(SCRIPT_ID, UNREACHABLE_RECEIVER)["url"]
        accepted = run_cli("record", "verify", "openair", url)
        assert accepted.exit_code == 0, accepted.output
        assert "signed by the current certificate" in accepted.stdout
        refused = run_cli("record", "verify", "openair", url.replace("ns_id=1001", "ns_id=2"))
        assert refused.exit_code == 1
        assert "verifies with no known certificate" in refused.stderr

    def test_record_commands_refuse_m2m(
        self, certrotor_env: dict[str, str], emulator: RunningEmulator
    ) -> None:
        """record show names an M2M credential's mistake."""
        tenant = emulator.tenant
        added = run_cli(
            "credential", "add", "m2m", "--account", tenant.account_id, "--client-id", tenant.client_id,
            "--entity", str(tenant.entity_id), "--role", str(tenant.role_id), "--base-url", emulator.base_url,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        result = run_cli("record", "show", "m2m")
        assert result.exit_code == 1
        assert "not a certificate record credential" in result.stderr


@contextmanager
def _serving(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """``certrotor receiver serve openair --port 0`` as a real process, until it prints its URL."""
    output = cwd / "receiver.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [*certrotor_command(), "receiver", "serve", "openair", "--port", "0"],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT_SECONDS
        while True:
            found = _LISTENING.search(output.read_text())
            if found:
                yield found.group(1)
                return
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=30)


class TestReceiverServe:
    @pytest.mark.slow
    def test_serves_signed_imports(
        self, added: str, emulator: RunningEmulator, certrotor_env: dict[str, str], tmp_path: Path
    ) -> None:
        """certrotor receiver serve answers 200 to NetSuite's request and 403 with the reason otherwise."""
        assert run_cli("rotate", "openair").exit_code == 0
        records = RecordsAdmin(emulator)
        with _serving({**os.environ, **certrotor_env}, tmp_path) as url:
            sent = records.send_import(SCRIPT_ID, url)
            assert sent["status_code"] == 200, sent["answer"]
            replay = records.send_import(SCRIPT_ID, UNREACHABLE_RECEIVER)["url"].replace(
                UNREACHABLE_RECEIVER, url
            )
            with httpx2.Client() as client:
                assert client.get(replay).status_code == 200
                refused = client.get(replay)
            assert refused.status_code == 403
            assert refused.json()["reason"] == "replayed"


def _openair_writes(emulator: RunningEmulator, *, validity_days: int) -> str:
    """OpenAir's connector puts a new key and certificate into its record (as NetSuite's UI would)."""
    key = generate_private_key(KeySpec.EC_P256)
    certificate = build_self_signed_certificate(key, common_name="openair", validity_days=validity_days)
    with RecordClient(emulator.endpoints, auth=BearerTokenAuth(emulator.tenant.admin_token)) as client:
        return client.replace_file(SCRIPT_ID, key, certificate).fingerprint_sha256


@pytest.fixture
def watched(certrotor_env: dict[str, str], emulator: RunningEmulator) -> str:
    """``certrotor record add openair``: OpenAir's record is watched (monitor) by default."""
    result = _add(emulator, "--json")
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert (added["mode"], added["version"]) == ("monitor", None)
    return "openair"


class TestMonitorMode:
    def test_rotate_refuses_and_writes_nothing(self, watched: str, emulator: RunningEmulator) -> None:
        """rotate refuses a watched record with the fix, and the record keeps what it held."""
        before = RecordsAdmin(emulator).get(SCRIPT_ID)
        refused = run_cli("rotate", "openair")
        assert refused.exit_code == 1
        assert "only monitors certificate record" in refused.output
        assert "certrotor credential set openair --mode rotate" in refused.output
        assert RecordsAdmin(emulator).get(SCRIPT_ID) == before
        listed = json.loads(run_cli("credential", "list", "--json").stdout)
        assert (listed[0]["mode"], listed[0]["next_rotation_at"]) == ("monitor", None)

    def test_daemon_never_writes_a_watched_record(self, watched: str, emulator: RunningEmulator) -> None:
        """A daemon pass leaves the watched record (still the placeholder) alone."""
        result = run_cli("daemon", "--once", "--no-reconcile")
        assert result.exit_code == 0, result.output
        assert RecordsAdmin(emulator).get(SCRIPT_ID)["is_placeholder"] is True  # type: ignore[index]
        events = json.loads(run_cli("events", "openair", "--json").stdout)
        assert [event["action"] for event in events] == ["credential-add"]

    def test_health_watches_the_record(self, watched: str, emulator: RunningEmulator) -> None:
        """health says monitor and judges the record itself: placeholder, valid, expiring, deleted."""
        placeholder = json.loads(run_cli("health", "openair", "--json").stdout)["credentials"][0]
        assert (placeholder["status"], placeholder["mode"]) == ("CRIT", "monitor")
        assert [reason["code"] for reason in placeholder["reasons"]] == ["placeholder"]
        assert "OpenAir" in placeholder["reasons"][0]["fix"]

        _openair_writes(emulator, validity_days=365)
        healthy = run_cli("health", "openair", "--verbose")
        assert healthy.exit_code == 0, healthy.output
        assert "openair (record, mode monitor): Current real-time import certificate is valid until" in (
            healthy.stdout
        )

        _openair_writes(emulator, validity_days=5)
        late = json.loads(run_cli("health", "openair", "--json").stdout)["credentials"][0]
        assert (late["status"], late["reasons"][0]["code"]) == ("WARN", "record_not_replaced")

        RecordsAdmin(emulator).delete(SCRIPT_ID)
        gone = run_cli("health", "openair")
        assert gone.exit_code == 2
        assert 'Certificate "custcertificate_oa_realtime" not found' in gone.stdout
        shown = json.loads(run_cli("record", "show", "openair", "--json").stdout)
        assert (shown["mode"], shown["remote_state"]) == ("monitor", "missing")

    def test_health_of_a_watched_record_without_access_is_crit_with_the_fix(self, watched: str) -> None:
        """A watched record NetSuite will not show (token refused) is CRIT naming the repair, never OK."""
        assert run_cli("credential", "set", "openair", "--token", "not-a-token-netsuite-knows").exit_code == 0

        refused = json.loads(run_cli("health", "openair", "--json").stdout)["credentials"][0]

        assert refused["status"] == "CRIT"
        assert [reason["code"] for reason in refused["reasons"]] == ["no_management_access"]
        assert "certrotor login openair" in refused["reasons"][0]["fix"]

    def test_mode_rotate_takes_over(self, watched: str) -> None:
        """credential set --mode rotate makes certrotor rotate the record, due at once."""
        changed = run_cli("credential", "set", "openair", "--mode", "rotate")
        assert changed.exit_code == 0, changed.output
        shown = json.loads(run_cli("credential", "show", "openair", "--json").stdout)
        assert shown["mode"] == "rotate"
        assert shown["next_rotation_at"] is not None
        assert run_cli("rotate", "openair").exit_code == 0
        assert run_cli("health", "openair").exit_code == 0
        back = run_cli("credential", "set", "openair", "--mode", "monitor")
        assert back.exit_code == 0, back.output
        assert (
            json.loads(run_cli("credential", "show", "openair", "--json").stdout)["next_rotation_at"] is None
        )

    def test_other_records_rotate_by_default(
        self, certrotor_env: dict[str, str], emulator: RunningEmulator
    ) -> None:
        """A record other than OpenAir's is rotated by default."""
        RecordsAdmin(emulator).create(record_id="_acme", name="Acme")
        added = _add(emulator, "--record-id", "_acme", "--json")
        assert added.exit_code == 0, added.output
        assert json.loads(added.stdout)["mode"] == "rotate"

    def test_bad_mode(self, certrotor_env: dict[str, str], emulator: RunningEmulator) -> None:
        """An unknown --mode is refused in one line and nothing is stored."""
        result = _add(emulator, "--mode", "watch")
        assert result.exit_code == 1
        assert "choose rotate or monitor" in result.stderr
        assert json.loads(run_cli("credential", "list", "--json").stdout) == []


class TestRestletSettings:
    def test_defaults_and_deployment_number(
        self, certrotor_env: dict[str, str], emulator: RunningEmulator
    ) -> None:
        """The RESTlet IDs default to the SuiteCloud project's; --deploy-id 1 reaches the same RESTlet."""
        added = _add(emulator, "--mode", "rotate", "--deploy-id", "1", "--json")
        assert added.exit_code == 0, added.output
        shown = json.loads(run_cli("record", "show", "openair", "--json").stdout)
        assert (shown["restlet_script_id"], shown["restlet_deploy_id"]) == (
            "customscript_certrotor_certificates",
            "1",
        )
        assert shown["placeholder"] is True
        assert run_cli("rotate", "openair").exit_code == 0

    def test_wrong_deployment_is_reported(
        self, certrotor_env: dict[str, str], emulator: RunningEmulator
    ) -> None:
        """A RESTlet that is not deployed there gives NetSuite's refusal, not a crash."""
        added = _add(emulator, "--deploy-id", "customdeploy_elsewhere")
        assert added.exit_code == 0, added.output
        shown = json.loads(run_cli("record", "show", "openair", "--json").stdout)
        assert "SSS_INVALID_SCRIPTLET_ID" in shown["error"]

    def test_malformed_ids_are_refused(
        self, certrotor_env: dict[str, str], emulator: RunningEmulator
    ) -> None:
        """IDs NetSuite could not have are refused in one line before anything is stored."""
        for option, value in (("--script-id", "my script"), ("--deploy-id", "deploy one")):
            result = _add(emulator, option, value)
            assert result.exit_code == 1
            assert "Invalid RESTlet" in result.stderr
        assert json.loads(run_cli("credential", "list", "--json").stdout) == []
