"""How certrotor reaches a server: an untrusted TLS certificate is named as a trust problem, and a
plain http:// base URL outside loopback needs an account marked insecure."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from certrotor import crypto

from ._support import store_snapshot
from .conftest import Cli


class _CountingHandler(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # http.server's naming
        self.requests.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *_args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, *_args: object) -> None:
        pass  # the refused handshakes are the point of the test


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An https server on 127.0.0.1 with a self-signed certificate; the paths it was asked for."""
    key = crypto.generate_private_key(crypto.KeySpec.parse("ec-p256"))
    certificate = crypto.build_self_signed_certificate(key, common_name="127.0.0.1", validity_days=1)
    (tmp_path / "tls-key.pem").write_bytes(crypto.private_key_to_pem(key))
    (tmp_path / "tls-cert.pem").write_text(crypto.certificate_to_pem(certificate))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls-cert.pem", tmp_path / "tls-key.pem")
    handler = type("Handler", (_CountingHandler,), {"requests": []})
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def _add(cli: Cli, name: str, account: str, base_url: str, *extra: str) -> None:
    cli(
        "credential", "add", name, "--account", account, "--client-id", "c0ffee", "--entity", "-5",
        "--role", "3", "--base-url", base_url, "--token", "bootstrap-token-for-tests", *extra,
    ).assert_ok()  # fmt: skip


class TestUntrustedCertificate:
    def test_a_self_signed_server_is_a_trust_problem_and_nothing_is_sent(
        self, cli: Cli, cli_env: dict[str, str], self_signed_server: tuple[str, list[str]]
    ) -> None:
        """Upload to a self-signed https server: one line naming SSL_CERT_FILE and --insecure, no request."""
        base_url, requests = self_signed_server
        _add(cli, "app1", "1234567", base_url)
        before = store_snapshot(Path(cli_env["CERTROTOR_DATA_DIR"]))

        result = cli("upload", "app1")

        result.assert_one_line_error(
            f"error: Could not complete the certificate upload at {base_url}: the server's TLS certificate "
            "is not trusted (self-signed certificate); nothing was sent. Fix: if the server is genuine, "
            "add its certificate authority to the CA bundle that SSL_CERT_FILE names (default: the "
            "system's); for a test server only, turn verification off for its account with "
            "`certrotor credential set NAME --insecure`."
        )
        assert requests == []
        assert store_snapshot(Path(cli_env["CERTROTOR_DATA_DIR"])) == before


PLAIN_HTTP_REFUSED = (
    "error: Refusing the plain http:// base URL {url}: tokens and private keys would cross the network "
    "in clear text. Fix: use https://, or, for a test server only, mark the account insecure with "
    "--insecure (which also turns TLS verification off)."
)


class TestPlainHttp:
    def test_add_refuses_plain_http_outside_loopback(self, cli: Cli, cli_env: dict[str, str]) -> None:
        """`credential add --base-url http://10.0.0.5:8080` is refused in one line; the store is unchanged."""
        _add(cli, "local", "1111111", "http://127.0.0.1:9")  # loopback: the emulator's case
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        before = store_snapshot(data_dir)

        result = cli(
            "credential", "add", "remote", "--account", "2222222", "--client-id", "c0ffee",
            "--entity", "-5", "--role", "3", "--base-url", "http://10.0.0.5:8080",
        )  # fmt: skip

        result.assert_one_line_error(PLAIN_HTTP_REFUSED.format(url="http://10.0.0.5:8080"))
        assert store_snapshot(data_dir) == before

    def test_set_refuses_plain_http_and_secure_on_a_plain_http_account(
        self, cli: Cli, cli_env: dict[str, str]
    ) -> None:
        """`set --base-url http://...` and `set --secure` on such an account are refused; nothing changes."""
        _add(cli, "local", "1111111", "http://127.0.0.1:9")
        _add(cli, "lab", "3333333", "http://10.0.0.7:8080", "--insecure")
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        before = store_snapshot(data_dir)

        moved = cli("credential", "set", "local", "--base-url", "http://10.0.0.6", "--grace", "2d")
        secured = cli("credential", "set", "lab", "--secure")

        moved.assert_one_line_error(PLAIN_HTTP_REFUSED.format(url="http://10.0.0.6"))
        secured.assert_one_line_error(PLAIN_HTTP_REFUSED.format(url="http://10.0.0.7:8080"))
        assert store_snapshot(data_dir) == before

    def test_an_insecure_account_is_shown_by_credential_show_and_health(self, cli: Cli) -> None:
        """With --insecure the URL is accepted; `credential show` says insecure; health WARNs with a fix."""
        _add(cli, "lab", "3333333", "http://10.0.0.7:8080", "--insecure")

        shown = cli("credential", "show", "lab", "--json").assert_ok().json()
        health = cli("health", "lab", "--offline", "--json")

        assert shown["insecure"] is True
        assert shown["base_url"] == "http://10.0.0.7:8080"
        reasons = {reason["code"]: reason for reason in health.json()["credentials"][0]["reasons"]}
        assert reasons["insecure_transport"] == {
            "status": "WARN",
            "code": "insecure_transport",
            "message": "The account is marked insecure (base URL http://10.0.0.7:8080): TLS verification "
            "is off and plain http:// is allowed, for a test server only.",
            "fix": "certrotor credential set lab --secure",
        }
