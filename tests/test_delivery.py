"""Delivery: atomic files with strict modes, and user hooks run as real subprocesses."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import stat
import time
from pathlib import Path

import pytest

from certrotor import crypto
from certrotor.delivery import (
    OUTPUT_TAIL_CHARS,
    DeliveredPaths,
    deliver_files,
    run_hook,
    write_file_atomically,
)
from certrotor.errors import CertificateError, DeliveryError, InputError
from certrotor.logging import REDACTED

CERTIFICATE_ID = "-xYAcb_rwSVj6stkI0cCysutJ4AKwqTOBU5M75HNh7Ig"


def make_pair() -> tuple[bytes, str]:
    key = crypto.generate_private_key(crypto.KeySpec.EC_P256)
    certificate = crypto.build_self_signed_certificate(key, common_name="delivery-test", validity_days=30)
    return crypto.private_key_to_pem(key), crypto.certificate_to_pem(certificate)


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, str]:
    return make_pair()


@pytest.fixture
def delivered(tmp_path: Path, pair: tuple[bytes, str]) -> DeliveredPaths:
    key_pem, cert_pem = pair
    return deliver_files(
        tmp_path / "acme",
        private_key_pem=key_pem,
        certificate_pem=cert_pem,
        metadata={"certificate_id": CERTIFICATE_ID, "algorithm": "ES256"},
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sh(script: str) -> str:
    """A hook command running ``script`` with ``sh -c``."""
    return f"sh -c {shlex.quote(script)}"


class TestDeliverFiles:
    def test_writes_three_files_with_strict_modes(
        self, delivered: DeliveredPaths, pair: tuple[bytes, str]
    ) -> None:
        """key.pem, cert.pem and credential.json exist with mode 0600 in a 0700 directory."""
        key_pem, cert_pem = pair
        assert delivered.key_file.read_bytes() == key_pem
        assert delivered.cert_file.read_text() == cert_pem
        assert json.loads(delivered.metadata_file.read_text()) == {
            "algorithm": "ES256",
            "certificate_id": CERTIFICATE_ID,
        }
        assert mode_of(delivered.directory) == 0o700
        for path in (delivered.key_file, delivered.cert_file, delivered.metadata_file):
            assert mode_of(path) == 0o600
        assert sorted(p.name for p in delivered.directory.iterdir()) == [
            "cert.pem",
            "credential.json",
            "key.pem",
        ]

    def test_redelivery_replaces_files_and_leaves_no_temp_files(
        self, delivered: DeliveredPaths, tmp_path: Path
    ) -> None:
        """Delivering a new version replaces all three files in place."""
        key_pem, cert_pem = make_pair()
        again = deliver_files(
            delivered.directory, private_key_pem=key_pem, certificate_pem=cert_pem, metadata={"v": 2}
        )
        assert again == delivered
        assert again.key_file.read_bytes() == key_pem
        assert again.cert_file.read_text() == cert_pem
        assert json.loads(again.metadata_file.read_text()) == {"v": 2}
        assert len(list(again.directory.iterdir())) == 3

    def test_keeps_an_existing_directory_mode_and_creates_missing_parents_0700(
        self, tmp_path: Path, pair: tuple[bytes, str]
    ) -> None:
        """A pre-existing 0755 directory stays 0755 (not ours); missing parents are created 0700."""
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        os.chmod(shared, 0o755)
        deliver_files(shared, private_key_pem=pair[0], certificate_pem=pair[1], metadata={})
        assert mode_of(shared) == 0o755
        deep = deliver_files(
            tmp_path / "a" / "b" / "c", private_key_pem=pair[0], certificate_pem=pair[1], metadata={}
        )
        assert deep.key_file.is_file()
        assert [mode_of(tmp_path / part) for part in ("a", "a/b", "a/b/c")] == [0o700] * 3

    def test_refuses_a_world_writable_parent(self, tmp_path: Path, pair: tuple[bytes, str]) -> None:
        """Under a 0777 directory nothing is created: DeliveryError naming it."""
        open_to_all = tmp_path / "open"
        open_to_all.mkdir()
        os.chmod(open_to_all, 0o777)
        with pytest.raises(DeliveryError, match="is writable by everyone"):
            deliver_files(open_to_all / "x", private_key_pem=pair[0], certificate_pem=pair[1], metadata={})
        assert list(open_to_all.iterdir()) == []

    def test_removes_stale_temp_files_from_a_crash(
        self, delivered: DeliveredPaths, pair: tuple[bytes, str]
    ) -> None:
        """A temp file left by a crash mid-write (it may hold a key) is removed on the next delivery."""
        stale = delivered.directory / ".key.pem.abc123.tmp"
        stale.write_bytes(pair[0])
        deliver_files(delivered.directory, private_key_pem=pair[0], certificate_pem=pair[1], metadata={})
        assert not stale.exists()

    def test_metadata_serialises_datetimes(self, tmp_path: Path, pair: tuple[bytes, str]) -> None:
        """Datetimes in the metadata are written as ISO 8601 strings."""
        expires = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        paths = deliver_files(
            tmp_path / "d", private_key_pem=pair[0], certificate_pem=pair[1], metadata={"expires_at": expires}
        )
        assert json.loads(paths.metadata_file.read_text()) == {"expires_at": "2026-01-02T03:04:05+00:00"}

    def test_refuses_a_certificate_of_another_key(self, tmp_path: Path, pair: tuple[bytes, str]) -> None:
        """A key and a certificate that do not belong together are refused and nothing is written."""
        other_cert = make_pair()[1]
        target = tmp_path / "mismatch"
        with pytest.raises(InputError, match="does not belong to the private key"):
            deliver_files(target, private_key_pem=pair[0], certificate_pem=other_cert, metadata={})
        assert not target.exists()

    def test_refuses_swapped_arguments(self, tmp_path: Path, pair: tuple[bytes, str]) -> None:
        """A certificate given as the key (or the key as the certificate) is refused."""
        with pytest.raises(CertificateError, match="private key is malformed"):
            deliver_files(
                tmp_path / "x", private_key_pem=pair[1].encode(), certificate_pem=pair[1], metadata={}
            )
        with pytest.raises(CertificateError, match="private key was given where a certificate belongs"):
            deliver_files(
                tmp_path / "x", private_key_pem=pair[0], certificate_pem=pair[0].decode(), metadata={}
            )
        assert not (tmp_path / "x").exists()

    def test_refuses_metadata_with_a_key_or_not_json(self, tmp_path: Path, pair: tuple[bytes, str]) -> None:
        """credential.json never carries a private key, and must be JSON-serialisable."""
        with pytest.raises(InputError, match="contains a private key"):
            deliver_files(
                tmp_path / "x",
                private_key_pem=pair[0],
                certificate_pem=pair[1],
                metadata={"k": pair[0].decode()},
            )
        with pytest.raises(InputError, match="cannot be written as JSON"):
            deliver_files(
                tmp_path / "x", private_key_pem=pair[0], certificate_pem=pair[1], metadata={"k": object()}
            )
        assert not (tmp_path / "x").exists()

    def test_unwritable_target_is_a_delivery_error(self, tmp_path: Path, pair: tuple[bytes, str]) -> None:
        """When a file cannot be replaced the error says so, and no temp file is left behind."""
        target = tmp_path / "blocked"
        (target / "key.pem").mkdir(parents=True)
        with pytest.raises(DeliveryError, match="Could not write the delivery files") as caught:
            deliver_files(target, private_key_pem=pair[0], certificate_pem=pair[1], metadata={})
        assert "PRIVATE KEY" not in str(caught.value)
        assert [p.name for p in target.iterdir()] == ["key.pem"]


class TestWriteFileAtomically:
    def test_replaces_content_with_mode(self, tmp_path: Path) -> None:
        """The file ends with the new bytes and the requested mode, even over a looser old file."""
        path = tmp_path / "f"
        path.write_bytes(b"old")
        os.chmod(path, 0o644)
        write_file_atomically(path, b"new")
        assert path.read_bytes() == b"new"
        assert mode_of(path) == 0o600


class TestRunHook:
    def test_hook_receives_paths_and_ids(self, delivered: DeliveredPaths) -> None:
        """The hook sees the three file paths, the credential name and the certificate ID."""
        script = (
            'printf "%s\\n" "$CERTROTOR_KEY_FILE" "$CERTROTOR_CERT_FILE" "$CERTROTOR_METADATA_FILE" '
            '"$CERTROTOR_CREDENTIAL" "$CERTROTOR_CERTIFICATE_ID" "$EXTRA" "$PWD"'
        )
        result = run_hook(
            sh(script),
            delivered,
            credential_name="acme",
            certificate_id=CERTIFICATE_ID,
            extra_env={"EXTRA": "yes"},
        )
        assert result.ok
        assert result.exit_code == 0
        assert result.describe() == "hook succeeded"
        assert result.stdout_tail.splitlines() == [
            str(delivered.key_file),
            str(delivered.cert_file),
            str(delivered.metadata_file),
            "acme",
            CERTIFICATE_ID,
            "yes",
            str(delivered.directory),
        ]

    def test_hook_can_read_the_delivered_files(self, delivered: DeliveredPaths) -> None:
        """The files are readable by the hook through the environment variables."""
        result = run_hook(
            sh('head -1 "$CERTROTOR_CERT_FILE"'),
            delivered,
            credential_name="acme",
            certificate_id=CERTIFICATE_ID,
        )
        assert result.stdout_tail.strip() == "-----BEGIN CERTIFICATE-----"

    def test_failure_returns_exit_code_and_truncated_stderr_tail(self, delivered: DeliveredPaths) -> None:
        """A failing hook is returned (not raised) with its exit code and the end of its stderr."""
        script = 'i=0; while [ $i -lt 3000 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 3'
        result = run_hook(sh(script), delivered, credential_name="acme", certificate_id=CERTIFICATE_ID)
        assert not result.ok
        assert result.exit_code == 3
        assert len(result.stderr_tail) <= OUTPUT_TAIL_CHARS
        assert result.stderr_tail.rstrip().endswith("line 2999")
        assert result.describe() == "hook exited with code 3: line 2999"

    def test_secret_output_is_scrubbed(self, delivered: DeliveredPaths) -> None:
        """A hook that prints the key it was given does not carry the key into the result."""
        result = run_hook(
            sh('cat "$CERTROTOR_KEY_FILE" >&2; exit 1'), delivered, credential_name="acme", certificate_id="c"
        )
        assert "PRIVATE KEY" not in result.stderr_tail
        assert REDACTED in result.stderr_tail

    def test_certrotor_secrets_are_not_inherited(
        self, delivered: DeliveredPaths, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The master key and bootstrap token in certrotor's environment never reach the hook."""
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", "master-key-value")
        monkeypatch.setenv("CERTROTOR_BOOTSTRAP_TOKEN", "bootstrap-token-value")
        monkeypatch.setenv("UNRELATED_SETTING", "kept")
        result = run_hook(sh("env"), delivered, credential_name="acme", certificate_id="c")
        assert "master-key-value" not in result.stdout_tail
        assert "bootstrap-token-value" not in result.stdout_tail
        assert "UNRELATED_SETTING=kept" in result.stdout_tail
        assert "PATH=" in result.stdout_tail

    def test_timeout_kills_the_hook_and_its_children(self, delivered: DeliveredPaths, tmp_path: Path) -> None:
        """A hook over its time limit is killed with the processes it started, and reported as timed out."""
        pid_file = tmp_path / "child.pid"
        script = f"sleep 60 & echo $! > {shlex.quote(str(pid_file))}; wait"
        result = run_hook(sh(script), delivered, credential_name="acme", certificate_id="c", timeout=0.5)
        assert result.timed_out
        assert result.exit_code is None
        assert not result.ok
        assert result.describe().startswith("hook timed out after")
        child = int(pid_file.read_text())
        assert wait_until_gone(child), "the hook's child survived the timeout"

    def test_missing_command_is_exit_127(self, delivered: DeliveredPaths) -> None:
        """An unknown program is reported like a shell would: exit code 127 with a message."""
        result = run_hook("no-such-program-certrotor", delivered, credential_name="acme", certificate_id="c")
        assert result.exit_code == 127
        assert "not found" in result.describe()

    def test_not_executable_is_exit_126(self, delivered: DeliveredPaths, tmp_path: Path) -> None:
        """A hook file without the executable bit is reported with exit code 126."""
        script = tmp_path / "hook.sh"
        script.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(script, 0o600)
        result = run_hook(str(script), delivered, credential_name="acme", certificate_id="c")
        assert result.exit_code == 126

    @pytest.mark.parametrize(
        ("command", "timeout", "message"),
        [
            ("", 10.0, "empty"),
            ("   ", 10.0, "empty"),
            ("sh -c 'oops", 10.0, "cannot be parsed"),
            ("true", 0, "out of range"),
        ],
    )
    def test_refuses_bad_commands_and_timeouts(
        self, delivered: DeliveredPaths, command: str, timeout: float, message: str
    ) -> None:
        """An empty or unparsable command, or a timeout out of range, is an InputError."""
        with pytest.raises(InputError, match=message):
            run_hook(command, delivered, credential_name="acme", certificate_id="c", timeout=timeout)

    def test_missing_directory_is_a_delivery_error(self, tmp_path: Path) -> None:
        """Running a hook for a directory that was never delivered says so."""
        paths = DeliveredPaths.in_directory(tmp_path / "never")
        with pytest.raises(DeliveryError, match="does not exist"):
            run_hook("true", paths, credential_name="acme", certificate_id="c")


def wait_until_gone(pid: int, attempts: int = 100) -> bool:
    """Poll (bounded) until ``pid`` no longer runs; a zombie awaiting its reaper counts as gone."""
    for _ in range(attempts):
        status = Path(f"/proc/{pid}/status")
        try:
            state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            return True
        if "Z" in state.split()[1]:
            return True
        time.sleep(0.05)
    return False
