"""Every CLI command refuses bad input in one line with the fix, exit 1, and changes nothing.

One store and one emulator serve the whole table: a credential ``app1`` with an uploaded current
certificate, and a credential ``orphan`` with neither a certificate on NetSuite nor a management token.
Each case snapshots every table of the SQLite store and every file before and after the command.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certrotor.crypto import utcnow
from certrotor.emulator.testing import RunningEmulator, serve_emulator

from ._support import SecretWatch, files_in, run_in_process, store_snapshot
from .conftest import Cli


@dataclass(frozen=True)
class Baseline:
    """The shared store, the files the cases name, and the emulator they talk to."""

    data_dir: Path
    files_dir: Path
    emulator: RunningEmulator
    expired_on: str
    """When ``expired-cert.pem`` expired, as the error message shows it."""
    auth_fingerprint: str
    """SHA-256 fingerprint of ``auth-cert.pem``, the certificate ``app1`` holds."""


def _write_key_and_certificate(
    directory: Path,
    stem: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    days: int,
    start_days: int = 0,
) -> None:
    """A key and self-signed certificate made with pyca directly (certrotor would refuse to make them)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)])
    start = utcnow().replace(microsecond=0) + dt.timedelta(days=start_days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / f"{stem}-key.pem").write_bytes(key_pem)
    os.chmod(directory / f"{stem}-key.pem", 0o600)
    (directory / f"{stem}-cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_bad_files(directory: Path) -> None:
    (directory / "malformed.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=!!\n-----END CERTIFICATE-----\n"
    )
    (directory / "notes.txt").write_text("hello, not a PEM file\n")
    _write_key_and_certificate(directory, "weak", rsa.generate_private_key(65537, 2048), days=30)
    _write_key_and_certificate(directory, "long", ec.generate_private_key(ec.SECP256R1()), days=800)
    _write_key_and_certificate(
        directory, "expired", ec.generate_private_key(ec.SECP256R1()), days=10, start_days=-20
    )
    _write_key_and_certificate(directory, "other", ec.generate_private_key(ec.SECP256R1()), days=30)
    # Files no certificate comes in: a FIFO nobody writes to, a directory, and 2 MiB of PEM-like text.
    os.mkfifo(directory / "pipe.pem")
    (directory / "folder.pem").mkdir()
    (directory / "huge.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n" + b"A" * (2 << 20))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, secret_watch: SecretWatch) -> Iterator[Baseline]:
    root = tmp_path_factory.mktemp("bad-inputs")
    data_dir, files_dir = root / "data", root / "files"
    files_dir.mkdir()
    with serve_emulator(root / "emulator.db") as emulator, pytest.MonkeyPatch.context() as patch:
        tenant = emulator.tenant
        secret_watch.add(tenant.admin_token)
        for name in [name for name in os.environ if name.startswith("CERTROTOR_")]:
            patch.delenv(name)
        patch.setenv("CERTROTOR_DATA_DIR", str(data_dir))
        patch.setenv("CERTROTOR_CONFIG", str(root / "no-config.toml"))
        patch.chdir(files_dir)
        common = [
            "--account",
            tenant.account_id,
            "--client-id",
            tenant.client_id,
            "--base-url",
            emulator.base_url,
        ]
        ids = ["--entity", str(tenant.entity_id), "--role", str(tenant.role_id)]
        steps = [
            ["keygen"],
            ["credential", "add", "app1", *common, *ids, "--token", tenant.admin_token,
             "--key-file", "auth-key.pem", "--cert-file", "auth-cert.pem"],
            ["upload", "app1"],
            # On an integration of its own: no sibling credential's certificate can stand in for it.
            ["credential", "add", "orphan", "--account", tenant.account_id, "--client-id", "orphan-client",
             "--base-url", emulator.base_url, *ids],
        ]  # fmt: skip
        for args in steps:
            run_in_process(args, secret_watch).assert_ok()
        _write_bad_files(files_dir)
        expired = x509.load_pem_x509_certificate((files_dir / "expired-cert.pem").read_bytes())
        auth = x509.load_pem_x509_certificate((files_dir / "auth-cert.pem").read_bytes())
        yield Baseline(
            data_dir=data_dir,
            files_dir=files_dir,
            emulator=emulator,
            expired_on=f"{expired.not_valid_after_utc:%Y-%m-%d %H:%M}",
            auth_fingerprint=auth.fingerprint(hashes.SHA256()).hex(),
        )


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    message: str


def add(name: str, *extra: str) -> tuple[str, ...]:
    """``credential add NAME`` with the demo tenant's values ({account}, ... filled in per test)."""
    return (
        "credential", "add", name,
        "--account", "{account}", "--client-id", "{client_id}",
        "--entity", "{entity}", "--role", "{role}", "--base-url", "{base_url}",
        *extra,
    )  # fmt: skip


UNKNOWN = "error: No credential named 'nobody'. Fix: see the names with `certrotor credential list`."
KEY_FOR_CERTIFICATE = (
    "error: A private key was given where a certificate belongs. "
    "Fix: give the certificate file (-----BEGIN CERTIFICATE-----), never the key."
)
MALFORMED = (
    "error: The PEM certificate is malformed and cannot be parsed. "
    "Fix: regenerate it with `certrotor keygen` or check that the file is complete."
)
WEAK = (
    "error: RSA key of 2048 bits is too weak. Fix: use RSA 3072 or 4096 bits, or an EC key (--key ec-p256)."
)
UNKNOWN_KEY_TYPE = (
    "error: Unknown key type '{0}'. Fix: choose one of: ec-p256, ec-p384, ec-p521, rsa-3072, rsa-4096."
)
NO_MANAGEMENT_AUTH = (
    "error: No way to authenticate certificate management for 'orphan': it has no current certificate "
    "and no management token. Fix: pass --token TOKEN, set CERTROTOR_BOOTSTRAP_TOKEN, or run "
    "`certrotor login orphan`."
)


def unknown_certificate(certificate_id: str) -> str:
    return (
        f"error: NetSuite refused the revocation of certificate {certificate_id} (HTTP 404 NONEXISTENT_ID): "
        f"No certificate with ID {certificate_id} exists on this integration. Fix: check the client ID and "
        "certificate ID (`certrotor list` shows the certificates); the integration record may have been "
        "deleted."
    )


CASES = [
    # keygen
    Case("keygen-too-long", ("keygen", "--key-out", "k.pem", "--cert-out", "c.pem", "--validity-days", "731"),
         "error: Validity of 731 days exceeds NetSuite's maximum of 730. "
         "Fix: use --validity-days 730 or less."),
    Case("keygen-zero-days", ("keygen", "--key-out", "k.pem", "--cert-out", "c.pem", "--validity-days", "0"),
         "error: Certificate validity must be positive. Fix: give at least 1 day."),
    Case("keygen-weak-rsa", ("keygen", "--key-out", "k.pem", "--cert-out", "c.pem", "--key", "rsa-2048"),
         UNKNOWN_KEY_TYPE.format("rsa-2048")),
    Case("keygen-unknown-key", ("keygen", "--key-out", "k.pem", "--cert-out", "c.pem", "--key", "dsa"),
         UNKNOWN_KEY_TYPE.format("dsa")),
    Case("keygen-existing-file", ("keygen",),
         "error: auth-key.pem already exists. Fix: choose another path or pass --force to overwrite."),
    Case("keygen-missing-directory", ("keygen", "--key-out", "no/such/dir/k.pem", "--cert-out", "c.pem"),
         "error: Cannot write no/such/dir/k.pem: No such file or directory. "
         "Fix: choose a path in an existing directory you may write to."),
    # cert inspect
    Case("inspect-malformed", ("cert", "inspect", "malformed.pem"), MALFORMED),
    Case("inspect-not-pem", ("cert", "inspect", "notes.txt"),
         "error: This is not a PEM certificate (no -----BEGIN CERTIFICATE----- block). "
         "Fix: give an X.509 certificate in PEM form (.pem, .cer or .crt)."),
    Case("inspect-private-key", ("cert", "inspect", "auth-key.pem"), KEY_FOR_CERTIFICATE),
    Case("inspect-weak-key", ("cert", "inspect", "weak-cert.pem"), WEAK),
    Case("inspect-missing-file", ("cert", "inspect", "missing.pem"),
         "error: Cannot read missing.pem: No such file or directory. Fix: give the path of a PEM file."),
    Case("inspect-endless-device", ("cert", "inspect", "/dev/zero"),
         "error: Cannot read /dev/zero: it is not a regular file. Fix: give the path of a PEM file."),
    Case("inspect-fifo", ("cert", "inspect", "pipe.pem"),
         "error: Cannot read pipe.pem: it is not a regular file. Fix: give the path of a PEM file."),
    Case("inspect-directory", ("cert", "inspect", "folder.pem"),
         "error: Cannot read folder.pem: it is not a regular file. Fix: give the path of a PEM file."),
    Case("inspect-oversized", ("cert", "inspect", "huge.pem"),
         "error: Cannot read huge.pem: it is larger than 1 MiB. Fix: give the path of a PEM file."),
    # credential add
    Case("add-key-from-endless-device", add("x", "--key-file", "/dev/zero", "--cert-file", "auth-cert.pem"),
         "error: Cannot read the key file /dev/zero: it is not a regular file. Fix: check the path."),
    Case("add-oversized-certificate", add("x", "--key-file", "auth-key.pem", "--cert-file", "huge.pem"),
         "error: Cannot read the certificate file huge.pem: it is larger than 1 MiB. Fix: check the path."),
    Case("add-key-as-certificate", add("x", "--key-file", "auth-key.pem", "--cert-file", "auth-key.pem"),
         KEY_FOR_CERTIFICATE),
    Case("add-certificate-as-key", add("x", "--key-file", "auth-cert.pem", "--cert-file", "auth-cert.pem"),
         "error: The private key is malformed, encrypted or not PEM. "
         "Fix: give an unencrypted PEM private key, as `certrotor keygen` writes it."),
    Case("add-malformed-certificate", add("x", "--key-file", "auth-key.pem", "--cert-file", "malformed.pem"),
         MALFORMED),
    Case("add-weak-key", add("x", "--key-file", "weak-key.pem", "--cert-file", "weak-cert.pem"), WEAK),
    Case("add-too-long-certificate", add("x", "--key-file", "long-key.pem", "--cert-file", "long-cert.pem"),
         "error: The certificate is valid for 800 days, over NetSuite's maximum of 730. "
         "Fix: generate it with a validity of at most 730 days."),
    Case("add-expired-certificate",
         add("x", "--key-file", "expired-key.pem", "--cert-file", "expired-cert.pem"),
         "error: The certificate expired on {expired_on} UTC. "
         "Fix: generate a new one with `certrotor keygen` or rotate with `certrotor rotate`."),
    Case("add-mismatched-pair", add("x", "--key-file", "other-key.pem", "--cert-file", "auth-cert.pem"),
         "error: The key in other-key.pem does not belong to the certificate in auth-cert.pem. "
         "Fix: give the key and certificate made together by `certrotor keygen`."),
    Case("add-key-without-certificate", add("x", "--key-file", "auth-key.pem"),
         "error: Give both --key-file and --cert-file, or neither. "
         "Fix: omit both to let certrotor generate the first key pair."),
    Case("add-too-long-validity", add("x", "--validity-days", "731"),
         "error: Validity 731d is out of range. Fix: use 1 to 730 days (NetSuite's maximum is two years)."),
    Case("add-unknown-key-type", add("x", "--key", "rsa-2048"), UNKNOWN_KEY_TYPE.format("rsa-2048")),
    Case("add-bad-account", add("x", "--account", "bad acct!"),
         "error: Invalid NetSuite account ID 'bad acct!'. "
         "Fix: use the ID from Setup > Company > Company Information, e.g. 1234567 or 1234567_SB1."),
    Case("add-bad-base-url", add("x", "--base-url", "ftp://example.com"),
         "error: Invalid base URL 'ftp://example.com'. Fix: give a full URL such as "
         "https://1234567.restlets.api.netsuite.com or http://127.0.0.1:8080 for the emulator."),
    Case("add-bad-scopes", add("x", "--scopes", "restlets,bogus"),
         "error: Unknown scope(s) bogus. Fix: use restlets, rest_webservices, suite_analytics."),
    Case("add-no-scopes", add("x", "--scopes", ","),
         "error: Unknown scope(s) (none). Fix: use restlets, rest_webservices, suite_analytics."),
    Case("add-non-numeric-entity", add("x", "--entity", "seven"),
         "error: --entity and --role must be numeric internal IDs. Fix: e.g. --entity 7 --role 3."),
    Case("add-non-ascii-role", add("x", "--role", "\u0663"),
         "error: --entity and --role must be numeric internal IDs. Fix: e.g. --entity 7 --role 3."),
    Case("add-duplicate-name", add("app1"),
         "error: A credential named 'app1' already exists. "
         "Fix: choose another name, or see it with `certrotor credential list`."),
    Case("add-duplicate-certificate", add("x", "--key-file", "auth-key.pem", "--cert-file", "auth-cert.pem"),
         "error: The certificate in auth-cert.pem is already in the store "
         "(fingerprint {auth_fingerprint16}...). "
         "Fix: make a new key pair with `certrotor keygen`; one certificate serves one credential."),
    Case("add-bad-name", add("bad name"),
         "error: Invalid credential name 'bad name'. "
         "Fix: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."),
    Case("add-name-with-trailing-newline", add("demo2\n"),
         "error: Invalid credential name 'demo2\\n'. "
         "Fix: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."),
    Case("add-client-id-with-newline", add("x", "--client-id", "abc\ndef"),
         "error: Invalid client ID 'abc\\ndef'. "
         "Fix: give the integration record's client ID (letters, digits, '.', '_', '~' or '-')."),
    Case("add-bad-duration", add("x", "--renew-min", "soon"),
         "error: Invalid duration 'soon'. Fix: write a whole number with a unit: 90s, 5m, 2h, 14d or 1w, "
         "or combine units from largest to smallest, such as 1d12h; a plain number means seconds."),
    Case("add-other-base-url-for-account", add("x", "--base-url", "http://127.0.0.1:9"),
         "error: Account {account} already uses base URL {base_url}. "
         "Fix: omit --base-url to use the account's, or change the account's base URL first."),
    Case("add-unknown-managing-credential", add("x", "--auth", "credential", "--auth-credential", "nobody"),
         "error: No credential named 'nobody' to authenticate through. "
         "Fix: see the names with `certrotor credential list`."),
    Case("add-bad-auth-mode", add("x", "--auth", "password"),
         "error: Unknown auth mode 'password'. Fix: choose one of: self, credential, token."),
    Case("add-bad-strategy", add("x", "--strategy", "sometimes"),
         "error: Unknown strategy 'sometimes'. Fix: choose one of: auto, overlap, replace."),
    # broker keys
    Case("broker-key-app-with-trailing-newline", ("broker", "key", "add", "app\n", "--credential", "app1"),
         "error: Invalid application name 'app\\n'. "
         "Fix: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."),
    # credential remove
    Case("remove-unknown", ("credential", "remove", "nobody"), UNKNOWN),
    # upload
    Case("upload-unknown", ("upload", "nobody"), UNKNOWN),
    Case("upload-nothing-pending", ("upload", "app1"),
         "error: Credential 'app1' has no certificate waiting to be uploaded. "
         "Fix: use `certrotor rotate app1` to make and upload a new one."),
    Case("upload-missing-token", ("upload", "orphan"), NO_MANAGEMENT_AUTH),
    # list
    Case("list-unknown", ("list", "nobody"), UNKNOWN),
    Case("list-missing-token", ("list", "orphan"), NO_MANAGEMENT_AUTH),
    # revoke
    Case("revoke-unknown-credential", ("revoke", "nobody", "abc"), UNKNOWN),
    Case("revoke-unknown-id", ("revoke", "app1", "nope"), unknown_certificate("nope")),
    Case("revoke-unknown-dash-id", ("revoke", "app1", "-abc"), unknown_certificate("-abc")),
    Case("revoke-unknown-dash-id-after-double-dash", ("revoke", "app1", "--", "-abc"),
         unknown_certificate("-abc")),
    Case("revoke-missing-token", ("revoke", "orphan", "abc"), NO_MANAGEMENT_AUTH),
    # token
    Case("token-unknown", ("token", "nobody"), UNKNOWN),
    Case("token-no-current-certificate", ("token", "orphan"),
         "error: Credential 'orphan' has no current certificate. "
         "Fix: run `certrotor upload orphan` or `certrotor rotate orphan` first."),
    # login, rotate, health, events
    Case("login-unknown", ("login", "nobody", "--no-browser"), UNKNOWN),
    Case("rotate-unknown", ("rotate", "nobody"), UNKNOWN),
    Case("rotate-unknown-dry-run", ("rotate", "nobody", "--dry-run"), UNKNOWN),
    Case("rotate-no-name", ("rotate",),
         "error: Name one credential or pass --all. Fix: e.g. `certrotor rotate app1` or `--all --due`."),
    Case("events-unknown", ("events", "nobody"), UNKNOWN),
]  # fmt: skip


class TestConfigFile:
    @pytest.mark.parametrize("config", ["/dev/zero", "pipe.pem", "huge.pem"])
    def test_a_config_file_that_is_no_regular_file_or_too_large_is_refused(
        self, config: str, baseline: Baseline, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CERTROTOR_CONFIG naming a device, a FIFO or 2 MiB: one line, at once; the store is unchanged."""
        monkeypatch.setenv("CERTROTOR_DATA_DIR", str(baseline.data_dir))
        monkeypatch.setenv("CERTROTOR_CONFIG", config)
        monkeypatch.chdir(baseline.files_dir)
        store_before = store_snapshot(baseline.data_dir)
        reason = "it is larger than 1 MiB" if config == "huge.pem" else "it is not a regular file"

        result = cli("credential", "list")

        result.assert_one_line_error(
            f"error: Cannot read the config file {config}: {reason}. "
            "Fix: point CERTROTOR_CONFIG at a TOML file."
        )
        assert store_snapshot(baseline.data_dir) == store_before


class TestBadInputs:
    @pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
    def test_refused_in_one_line_and_nothing_changes(
        self, case: Case, baseline: Baseline, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Exit 1, the exact `error: ... Fix: ...` line, no traceback; store and files as before."""
        monkeypatch.setenv("CERTROTOR_DATA_DIR", str(baseline.data_dir))
        monkeypatch.chdir(baseline.files_dir)
        tenant = baseline.emulator.tenant
        values = {
            "account": tenant.account_id,
            "client_id": tenant.client_id,
            "entity": str(tenant.entity_id),
            "role": str(tenant.role_id),
            "base_url": baseline.emulator.base_url,
        }
        args = [arg.format(**values) if arg.startswith("{") else arg for arg in case.args]
        values |= {"expired_on": baseline.expired_on, "auth_fingerprint16": baseline.auth_fingerprint[:16]}
        message = case.message
        for name, value in values.items():
            message = message.replace("{" + name + "}", value)
        store_before, files_before = store_snapshot(baseline.data_dir), files_in(baseline.files_dir)
        remote_before = baseline.emulator.certificates()

        result = cli(*args)

        result.assert_one_line_error(message)
        assert result.stdout == ""
        assert store_snapshot(baseline.data_dir) == store_before
        assert files_in(baseline.files_dir) == files_before
        assert baseline.emulator.certificates() == remote_before
