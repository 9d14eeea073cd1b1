"""The seed's manual steps typed at the ``certrotor`` command line against an emulator in its own process."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from certrotor.crypto import MAX_VALIDITY_DAYS

from ._support import CliResult, EmulatorProcess, SecretWatch, cli_environment, emulator_process, run_process
from .conftest import Cli

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
LIST_HEADER = ("certificate_id", "application", "entity", "role", "algorithm", "valid_from", "valid_until")


def json_shape(value: Any) -> Any:
    """Field names and JSON types, without the values (order of fields ignored)."""
    if isinstance(value, dict):
        return {name: json_shape(item) for name, item in value.items()}
    if isinstance(value, list):
        return [json_shape(value[0])] if value else []
    return type(value).__name__


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, secret_watch: SecretWatch) -> Iterator[EmulatorProcess]:
    """``certrotor emulator init`` and ``certrotor emulator serve`` as real processes, for this module."""
    root = tmp_path_factory.mktemp("emulator-process")
    env = cli_environment(root / "data", root / "no-config.toml")
    with emulator_process(root / "emulator.db", env=env, cwd=root) as running:
        secret_watch.add(running.admin_token)
        yield running
    # Everything the emulator logged while serving the module's tests: no key, no token.
    secret_watch.check_diagnostics("the emulator's log", running.log_path.read_text(errors="replace"))


def add_credential(cli: Cli, served: EmulatorProcess, name: str, *extra: str | Path) -> CliResult:
    tenant = served.tenant
    return cli(
        "credential",
        "add",
        name,
        "--account",
        tenant["account_id"],
        "--client-id",
        tenant["client_id"],
        "--entity",
        str(tenant["entity_id"]),
        "--role",
        str(tenant["role_id"]),
        "--base-url",
        served.base_url,
        "--token",
        served.admin_token,
        *extra,
    ).assert_ok()


def record_status(served: EmulatorProcess, token: str) -> int:
    """What the protected REST resource answers to ``Authorization: Bearer token``."""
    response = httpx2.get(
        served.record_url("employee/7"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


class TestKeygen:
    def test_writes_key_with_mode_0600_and_a_certificate(self, cli: Cli, tmp_path: Path) -> None:
        """keygen writes a 0600 PEM private key and a certificate that `cert inspect` reads."""
        result = cli("keygen", "--key-out", "auth-key.pem", "--cert-out", "auth-cert.pem").assert_ok()

        assert result.stdout.startswith("Wrote private key auth-key.pem (mode 0600) and certificate")
        key_file, cert_file = tmp_path / "auth-key.pem", tmp_path / "auth-cert.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert cert_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        inspected = cli("cert", "inspect", cert_file, "--json").assert_ok().json()
        assert (inspected["type"], inspected["curve"], inspected["algorithm"]) == ("EC", "secp256r1", "ES256")
        assert inspected["expired"] is False

    def test_json_names_files_and_fingerprint(self, cli: Cli, tmp_path: Path) -> None:
        """keygen --json tells scripts where the files are and the certificate's fingerprint."""
        made = cli("keygen", "--key", "ec-p384", "--validity-days", str(MAX_VALIDITY_DAYS), "--json")
        answer = made.assert_ok().json()

        assert answer["key_file"] == "auth-key.pem"
        assert answer["certificate_file"] == "auth-cert.pem"
        assert answer["algorithm"] == "ES384"
        inspected = cli("cert", "inspect", "auth-cert.pem", "--json").assert_ok().json()
        assert inspected["fingerprint_sha256"] == answer["fingerprint_sha256"]
        assert round(inspected["validity_days"]) == MAX_VALIDITY_DAYS


class TestSession:
    def test_keygen_add_upload_list_token_revoke(
        self, cli: Cli, served: EmulatorProcess, secret_watch: SecretWatch
    ) -> None:
        """The seed's steps as typed: the token opens the REST API until its certificate is revoked."""
        cli("keygen", "--key-out", "auth-key.pem", "--cert-out", "auth-cert.pem").assert_ok()
        added = add_credential(
            cli, served, "app1", "--key-file", "auth-key.pem", "--cert-file", "auth-cert.pem"
        )
        assert added.stdout.startswith("Added credential app1 with a pending ES256 certificate.")

        uploaded = cli("upload", "app1").assert_ok()
        listed = cli("list", "app1", "--json").assert_ok().json()
        mine = [item for item in listed if item["certificate_id"] in uploaded.stdout]
        assert len(mine) == 1
        certificate_id = mine[0]["certificate_id"]
        assert uploaded.stdout.splitlines() == [
            f"Uploaded certificate {certificate_id}, valid until {mine[0]['valid_until']}.",
            "It is now the current certificate.",
        ]
        assert mine[0]["revoked"] is False
        assert mine[0]["entity"]["id"] == served.tenant["entity_id"]
        assert mine[0]["role"]["id"] == served.tenant["role_id"]

        table = cli("list", "app1").assert_ok().stdout
        assert all(column in table for column in LIST_HEADER)
        assert certificate_id in table

        credentials = cli("credential", "list", "--json").assert_ok().json()
        assert [(c["name"], c["current_certificate_id"]) for c in credentials] == [("app1", certificate_id)]

        answer = cli("token", "app1", "--json").assert_ok().json()
        secret_watch.add(answer["access_token"])
        assert (answer["expires_in"], answer["token_type"].lower()) == (3600, "bearer")
        assert record_status(served, answer["access_token"]) == 200
        plain = cli("token", "app1").assert_ok().stdout
        secret_watch.add(plain.strip())
        assert plain.count("\n") == 1
        assert record_status(served, plain.strip()) == 200

        revoked = cli("revoke", "app1", certificate_id, "--force").assert_ok()
        assert revoked.stdout == f"Successfully revoked {certificate_id}.\n"
        after = {item["certificate_id"]: item["revoked"] for item in cli("list", "app1", "--json").json()}
        assert after[certificate_id] is True

        cli("token", "app1").assert_one_line_error(
            "error: Credential 'app1' has no current certificate. "
            "Fix: run `certrotor upload app1` or `certrotor rotate app1` first."
        )
        events = cli("events", "app1", "--json").assert_ok().json()
        assert sorted(e["action"] for e in events) == ["activate", "credential-add", "revoke", "upload"]
        assert {e["actor"] for e in events} == {"cli"}

    def test_list_json_has_the_seed_field_names_and_types(self, cli: Cli, served: EmulatorProcess) -> None:
        """`list --json` prints each certificate with exactly the seed's field names and JSON types."""
        add_credential(cli, served, "shape")
        cli("upload", "shape").assert_ok()

        listed = cli("list", "shape", "--json").assert_ok().json()
        seed = json.loads((VECTORS / "seed-list-response.json").read_text())
        assert listed
        assert {json.dumps(json_shape(item), sort_keys=True) for item in listed} == {
            json.dumps(json_shape(seed[0]), sort_keys=True)
        }

    def test_token_refused_after_revocation_elsewhere(
        self, cli: Cli, served: EmulatorProcess, secret_watch: SecretWatch
    ) -> None:
        """A certificate revoked in NetSuite behind certrotor's back: NetSuite's refusal in one line."""
        add_credential(cli, served, "elsewhere")
        cli("upload", "elsewhere").assert_ok()
        certificate_id = cli("credential", "list", "--json").json()[-1]["current_certificate_id"]
        # An administrator revokes it in NetSuite (the seed's revoke call), not through certrotor.
        revoke_url = (
            f"{served.base_url}/services/rest/auth/oauth2/v1/clients/{served.tenant['client_id']}"
            f"/certificates/{certificate_id}/revoke"
        )
        response = httpx2.post(
            revoke_url, headers={"Authorization": f"Bearer {served.admin_token}"}, timeout=30
        )
        assert response.text == "Successfully revoked"

        cli("token", "elsewhere").assert_one_line_error(
            "error: The token endpoint refused the client credentials token request "
            f"(HTTP 401 invalid_client): The certificate {certificate_id} is revoked. Fix: check the "
            "client ID and certificate ID, and that the certificate is uploaded for this integration, "
            "unrevoked and unexpired (`certrotor list`)."
        )


@pytest.mark.slow
class TestAsTyped:
    def test_real_processes_from_keygen_to_a_working_token(
        self, served: EmulatorProcess, cli_env: dict[str, str], tmp_path: Path, secret_watch: SecretWatch
    ) -> None:
        """The installed `certrotor` executable, one process per command, as a shell user runs it."""
        tenant = served.tenant

        def certrotor(*args: str) -> CliResult:
            return run_process(args, env=cli_env, cwd=tmp_path, watch=secret_watch)

        certrotor("keygen").assert_ok()
        assert stat.S_IMODE((tmp_path / "auth-key.pem").stat().st_mode) == 0o600
        certrotor(
            "credential", "add", "typed",
            "--account", tenant["account_id"],
            "--client-id", tenant["client_id"],
            "--entity", str(tenant["entity_id"]),
            "--role", str(tenant["role_id"]),
            "--base-url", served.base_url,
            "--token", served.admin_token,
            "--key-file", "auth-key.pem",
            "--cert-file", "auth-cert.pem",
        ).assert_ok()  # fmt: skip
        certrotor("upload", "typed").assert_ok()
        token = certrotor("token", "typed", "--json").assert_ok().json()["access_token"]
        secret_watch.add(token)

        assert record_status(served, token) == 200
        certrotor("token", "nobody").assert_one_line_error(
            "error: No credential named 'nobody'. Fix: see the names with `certrotor credential list`."
        )


class TestNoSecretsInDiagnostics:
    def test_debug_logs_of_a_whole_session_carry_no_key_or_token(
        self, cli: Cli, served: EmulatorProcess, secret_watch: SecretWatch, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With debug logging on, every command's stderr has log lines, and none holds a key or token."""
        monkeypatch.setenv("CERTROTOR_LOG_LEVEL", "debug")
        runs = [
            cli("keygen", "--key-out", "k.pem", "--cert-out", "c.pem"),
            add_credential(cli, served, "logged", "--key-file", "k.pem", "--cert-file", "c.pem"),
            cli("upload", "logged"),
            cli("list", "logged"),
        ]
        answer = cli("token", "logged", "--json")
        secret_watch.add(answer.json()["access_token"])
        certificate_id = cli("credential", "list", "--json").json()[-1]["current_certificate_id"]
        runs += [answer, cli("revoke", "logged", certificate_id, "--force"), cli("token", "logged")]

        assert [run.exit_code for run in runs] == [0, 0, 0, 0, 0, 0, 1]
        logged = "".join(run.stderr for run in runs[1:-1])
        print(logged[:3000])
        assert '"logger": "certrotor.client.' in logged  # the client's own request lines
        for run in runs:
            secret_watch.check(run)
