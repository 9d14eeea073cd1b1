"""``certrotor upload|list|revoke|token`` on an in-process emulator: token expiry, IDs beginning with -."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import time_machine

from certrotor.crypto import utcnow
from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.testing import RunningEmulator, serve_emulator

from ._support import CliResult, SecretWatch
from .conftest import Cli

TOKEN_LIFETIME = dt.timedelta(seconds=3600)


def add_credential(
    cli: Cli,
    emulator: RunningEmulator,
    name: str,
    *,
    entity_id: int | None = None,
    role_id: int | None = None,
    extra: tuple[str, ...] = (),
) -> CliResult:
    tenant = emulator.tenant
    return cli(
        "credential",
        "add",
        name,
        "--account",
        tenant.account_id,
        "--client-id",
        tenant.client_id,
        "--entity",
        str(entity_id if entity_id is not None else tenant.entity_id),
        "--role",
        str(role_id if role_id is not None else tenant.role_id),
        "--base-url",
        emulator.base_url,
        "--token",
        tenant.admin_token,
        *extra,
    ).assert_ok()


def fresh_token(cli: Cli, name: str, watch: SecretWatch) -> str:
    token = str(cli("token", name, "--json").assert_ok().json()["access_token"])
    watch.add(token)
    return token


def read_record(emulator: RunningEmulator, token: str) -> httpx2.Response:
    return httpx2.get(
        emulator.endpoints.record_url("employee/7"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


class TestTokenExpiry:
    def test_protected_resource_refuses_a_token_after_it_expires(
        self, cli: Cli, emulator: RunningEmulator, secret_watch: SecretWatch
    ) -> None:
        """A token from `certrotor token` opens the REST API for 3600 s, then gets 401 INVALID_LOGIN."""
        secret_watch.add(emulator.tenant.admin_token)
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        first = fresh_token(cli, "app1", secret_watch)
        assert read_record(emulator, first).status_code == 200

        with time_machine.travel(utcnow() + TOKEN_LIFETIME + dt.timedelta(seconds=1), tick=True):
            expired = read_record(emulator, first)
            assert expired.status_code == 401
            assert expired.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"

            # The certificate is still valid: a new token works, until it expires in turn.
            second = fresh_token(cli, "app1", secret_watch)
            assert read_record(emulator, second).status_code == 200
            with time_machine.travel(utcnow() + TOKEN_LIFETIME + dt.timedelta(seconds=1), tick=True):
                assert read_record(emulator, second).status_code == 401

    def test_token_refused_once_the_certificate_expired(
        self, cli: Cli, emulator: RunningEmulator, secret_watch: SecretWatch
    ) -> None:
        """After the certificate's own expiry `certrotor token` says so in one line, with the fix."""
        cli("keygen", "--validity-days", "1").assert_ok()
        expires = dt.datetime.fromisoformat(
            cli("cert", "inspect", "auth-cert.pem", "--json").json()["not_after"]
        )
        add_credential(
            cli, emulator, "short", extra=("--key-file", "auth-key.pem", "--cert-file", "auth-cert.pem")
        )
        cli("upload", "short").assert_ok()
        fresh_token(cli, "short", secret_watch)
        certificate_id = cli("credential", "list", "--json").json()[0]["current_certificate_id"]

        with time_machine.travel(expires + dt.timedelta(seconds=1), tick=True):
            cli("token", "short").assert_one_line_error(
                f"error: The current certificate {certificate_id} of 'short' expired on "
                f"{expires:%Y-%m-%d %H:%M:%S} UTC. Fix: run `certrotor rotate short` to make, upload "
                "and activate a new one."
            )


@pytest.fixture
def dash_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """An emulator whose certificate IDs all begin with '-', as real NetSuite IDs sometimes do."""
    with serve_emulator(tmp_path / "dash.db", EmulatorConfig(dash_certificate_ids=True)) as running:
        yield running


class TestCertificateIdsBeginningWithDash:
    def test_list_token_and_revoke_take_dash_ids(
        self, cli: Cli, dash_emulator: RunningEmulator, secret_watch: SecretWatch
    ) -> None:
        """`revoke NAME -ID` and `revoke NAME -- -ID` both revoke; tokens work with a '-' key ID."""
        add_credential(cli, dash_emulator, "one")
        entity_id, role_id = dash_emulator.add_m2m_combination(can_manage_certificates=True)
        add_credential(cli, dash_emulator, "two", entity_id=entity_id, role_id=role_id)
        cli("upload", "one").assert_ok()
        cli("upload", "two").assert_ok()
        ids = {c["name"]: c["current_certificate_id"] for c in cli("credential", "list", "--json").json()}
        assert ids["one"].startswith("-")
        assert ids["two"].startswith("-")
        assert ids["one"] in cli("list", "one").assert_ok().stdout
        assert read_record(dash_emulator, fresh_token(cli, "one", secret_watch)).status_code == 200

        assert (
            cli("revoke", "one", ids["one"], "--force").assert_ok().stdout
            == f"Successfully revoked {ids['one']}.\n"
        )
        assert cli("revoke", "two", "--force", "--", ids["two"]).assert_ok().stdout == (
            f"Successfully revoked {ids['two']}.\n"
        )

        revoked = {item["certificate_id"]: item["revoked"] for item in cli("list", "one", "--json").json()}
        assert revoked == {ids["one"]: True, ids["two"]: True}
