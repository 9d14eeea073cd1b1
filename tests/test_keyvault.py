"""Tests of the master key and AES-GCM sealing of secrets at rest."""

from __future__ import annotations

import base64
import os
import pickle
import stat
from pathlib import Path

import pytest

from certrotor.config import Settings
from certrotor.errors import MasterKeyError, TamperedDataError
from certrotor.keyvault import FORMAT_V1, MasterKey

AAD = b"certrotor/test/row-1"


class TestSealing:
    def test_round_trip(self) -> None:
        """What is sealed opens again with the same key and AAD."""
        key = MasterKey.generate()
        blob = key.seal(b"secret private key", aad=AAD)
        assert key.open_sealed(blob, aad=AAD) == b"secret private key"

    def test_blob_is_versioned_and_never_holds_the_plaintext(self) -> None:
        """The blob starts with the format version and does not carry the plaintext."""
        key = MasterKey.generate()
        blob = key.seal(b"-----BEGIN PRIVATE KEY-----", aad=AAD)
        assert blob.startswith(FORMAT_V1)
        assert b"PRIVATE KEY" not in blob

    def test_same_plaintext_seals_differently(self) -> None:
        """A fresh nonce per seal: two seals of one plaintext differ."""
        key = MasterKey.generate()
        assert key.seal(b"x", aad=AAD) != key.seal(b"x", aad=AAD)

    def test_wrong_master_key_is_named_as_such(self) -> None:
        """Another master key raises MasterKeyError naming both key ids, not TamperedDataError."""
        right, wrong = MasterKey.generate(), MasterKey.generate()
        blob = right.seal(b"secret", aad=AAD)
        with pytest.raises(MasterKeyError) as caught:
            wrong.open_sealed(blob, aad=AAD)
        assert not isinstance(caught.value, TamperedDataError)
        assert right.key_id in caught.value.message
        assert wrong.key_id in caught.value.message

    @pytest.mark.parametrize("position", [2, 10, 15, 22, 30, -1])
    def test_any_flipped_byte_is_refused(self, position: int) -> None:
        """Flipping any byte (header, nonce, ciphertext, tag) raises, never returns garbage."""
        key = MasterKey.generate()
        blob = bytearray(key.seal(b"secret private key", aad=AAD))
        blob[position] ^= 0x01
        with pytest.raises(MasterKeyError):
            key.open_sealed(bytes(blob), aad=AAD)

    def test_tampered_ciphertext_is_tampered_data(self) -> None:
        """A altered ciphertext with the right key raises TamperedDataError."""
        key = MasterKey.generate()
        blob = bytearray(key.seal(b"secret private key", aad=AAD))
        blob[-1] ^= 0x80
        with pytest.raises(TamperedDataError):
            key.open_sealed(bytes(blob), aad=AAD)

    def test_blob_moved_to_another_row_is_refused(self) -> None:
        """A blob opened with another row's AAD raises TamperedDataError."""
        key = MasterKey.generate()
        blob = key.seal(b"secret", aad=b"row-1")
        with pytest.raises(TamperedDataError):
            key.open_sealed(blob, aad=b"row-2")

    @pytest.mark.parametrize("blob", [b"", b"v1", b"v2" + bytes(60), b"garbage" * 10])
    def test_truncated_or_unknown_format_is_refused(self, blob: bytes) -> None:
        """Short or foreign blobs raise TamperedDataError."""
        with pytest.raises(TamperedDataError):
            MasterKey.generate().open_sealed(blob, aad=AAD)


class TestMasterKeyValue:
    def test_repr_shows_only_the_key_id(self) -> None:
        """repr and str show the key id, never the key bytes or their base64 form."""
        key = MasterKey.generate()
        for text in (repr(key), str(key), f"{key}"):
            assert key.key_id in text
            assert key.to_base64url() not in text

    def test_cannot_be_pickled(self) -> None:
        """Pickling is refused so the key is not copied into caches or queues."""
        with pytest.raises(TypeError):
            pickle.dumps(MasterKey.generate())

    def test_wrong_length_is_refused(self) -> None:
        """A key that is not 32 bytes raises MasterKeyError."""
        with pytest.raises(MasterKeyError):
            MasterKey(b"short")

    def test_base64url_round_trip_with_and_without_padding(self) -> None:
        """The exported form parses back, padded or not."""
        key = MasterKey.generate()
        text = key.to_base64url()
        assert MasterKey.from_base64url(text) == key
        assert MasterKey.from_base64url(text + "=") == key

    @pytest.mark.parametrize(
        "text",
        ["not base64 !!", base64.urlsafe_b64encode(b"x" * 16).decode(), ""],
    )
    def test_bad_base64url_is_refused(self, text: str) -> None:
        """Malformed or wrong-length base64url raises MasterKeyError."""
        with pytest.raises(MasterKeyError):
            MasterKey.from_base64url(text)


class TestKeyFile:
    def test_created_with_mode_0600_in_a_0700_directory(self, tmp_path: Path) -> None:
        """First use creates the key file 0600 and its missing parent directory 0700."""
        path = tmp_path / "data" / "master.key"
        key = MasterKey.from_file(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert MasterKey.from_file(path) == key

    def test_file_holds_the_exportable_form(self, tmp_path: Path) -> None:
        """The file content is the base64url key, so it can be moved to CERTROTOR_MASTER_KEY."""
        path = tmp_path / "master.key"
        key = MasterKey.from_file(path)
        assert path.read_text().strip() == key.to_base64url()

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
    def test_loose_permissions_are_refused(self, tmp_path: Path, mode: int) -> None:
        """A key file readable by group or others raises MasterKeyError with a chmod hint."""
        path = tmp_path / "master.key"
        MasterKey.from_file(path)
        os.chmod(path, mode)
        with pytest.raises(MasterKeyError) as caught:
            MasterKey.from_file(path)
        assert "chmod 600" in caught.value.hint

    def test_wrong_length_file_is_refused(self, tmp_path: Path) -> None:
        """A key file holding something other than 32 base64url bytes raises MasterKeyError."""
        path = tmp_path / "master.key"
        path.write_text(base64.urlsafe_b64encode(b"k" * 16).decode())
        os.chmod(path, 0o600)
        with pytest.raises(MasterKeyError):
            MasterKey.from_file(path)

    def test_missing_file_without_create_is_refused(self, tmp_path: Path) -> None:
        """With create=False a missing key file raises MasterKeyError and creates nothing."""
        path = tmp_path / "master.key"
        with pytest.raises(MasterKeyError):
            MasterKey.from_file(path, create=False)
        assert not path.exists()

    def test_directory_is_refused(self, tmp_path: Path) -> None:
        """A directory in place of the key file raises MasterKeyError."""
        path = tmp_path / "master.key"
        path.mkdir(mode=0o700)
        with pytest.raises(MasterKeyError):
            MasterKey.from_file(path)


class TestFromSettings:
    @pytest.fixture(autouse=True)
    def _isolated_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        for name in ("CERTROTOR_MASTER_KEY", "CERTROTOR_MASTER_KEY_FILE", "CERTROTOR_DATA_DIR"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CERTROTOR_CONFIG", str(tmp_path / "absent.toml"))

    def test_environment_key_wins(self, tmp_path: Path) -> None:
        """CERTROTOR_MASTER_KEY is used when set, and no key file is created."""
        key = MasterKey.generate()
        settings = Settings(data_dir=tmp_path, master_key=key.to_base64url())
        assert MasterKey.from_settings(settings) == key
        assert not (tmp_path / "master.key").exists()

    def test_default_key_file_in_data_dir(self, tmp_path: Path) -> None:
        """Without a key in the environment, <data_dir>/master.key is created when asked and reused."""
        settings = Settings(data_dir=tmp_path / "data")
        key = MasterKey.from_settings(settings, create=True)
        assert (tmp_path / "data" / "master.key").exists()
        assert MasterKey.from_settings(settings) == key

    def test_explicit_key_file(self, tmp_path: Path) -> None:
        """CERTROTOR_MASTER_KEY_FILE names the key file."""
        path = tmp_path / "elsewhere.key"
        settings = Settings(data_dir=tmp_path, master_key_file=path)
        key = MasterKey.from_settings(settings, create=True)
        assert MasterKey.from_file(path) == key
