"""The master key and AES-GCM sealing of secrets at rest (private keys, management tokens).

A sealed blob is ``b"v1" || key id (8 bytes) || nonce (12 bytes) || ciphertext+tag``. The key id (a
short hash of the master key) tells "sealed under another master key" apart from "tampered with or
moved to another row"; the caller's ``aad`` binds the blob to its row.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certrotor.errors import InputError, MasterKeyError, TamperedDataError
from certrotor.userfiles import read_user_file

if TYPE_CHECKING:
    from certrotor.config import Settings

MASTER_KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
FORMAT_V1 = b"v1"
_HEADER_BYTES = len(FORMAT_V1) + KEY_ID_BYTES
_KEY_ID_LABEL = b"certrotor master key id v1"
_KEY_FILE_MAX_BYTES = 4096
"""A key file holds 43 characters and a newline; anything far longer is not a key file."""


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    # validate=True: stray characters are an error, not silently skipped.
    standard = padded.replace("-", "+").replace("_", "/")
    return base64.b64decode(standard.encode("ascii"), validate=True)


class MasterKey:
    """32 secret bytes that seal and open secrets; its repr shows only the key id."""

    __slots__ = ("_aead", "_key", "_key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise MasterKeyError(
                f"A master key must be {MASTER_KEY_BYTES} bytes, got {len(key)}.",
                hint="generate one with `python -c 'import secrets,base64;"
                "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`.",
            )
        self._key = bytes(key)
        self._key_id = hashlib.sha256(_KEY_ID_LABEL + self._key).digest()[:KEY_ID_BYTES]
        self._aead = AESGCM(self._key)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    @classmethod
    def from_base64url(cls, text: str) -> MasterKey:
        """Parse the ``CERTROTOR_MASTER_KEY`` form: base64url of 32 bytes, padding optional."""
        try:
            raw = _b64url_decode(text)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise MasterKeyError(
                "The master key is not valid base64url.",
                hint="set CERTROTOR_MASTER_KEY to the base64url form of 32 random bytes.",
            ) from None
        if len(raw) != MASTER_KEY_BYTES:
            raise MasterKeyError(
                f"The master key decodes to {len(raw)} bytes, not {MASTER_KEY_BYTES}.",
                hint="set CERTROTOR_MASTER_KEY to the base64url form of 32 random bytes.",
            )
        return cls(raw)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> MasterKey:
        """Read the key file, creating it (mode 0600, parent 0700) on first use if ``create``."""
        if not path.exists():
            if not create:
                raise MasterKeyError(
                    f"The master key file {path} does not exist.",
                    hint="set CERTROTOR_MASTER_KEY or point CERTROTOR_MASTER_KEY_FILE at the key file.",
                )
            _create_key_file(path, cls.generate())
        return _read_key_file(path)

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = False) -> MasterKey:
        """``CERTROTOR_MASTER_KEY`` if set, else the key file (default ``<data_dir>/master.key``).

        ``create`` makes a missing key file; only for a store with nothing sealed in it (see
        :func:`certrotor.store.sealed.master_key_for`, which every command uses).
        """
        if settings.master_key is not None:
            return cls.from_base64url(settings.master_key.get_secret_value())
        return cls.from_file(settings.resolved_master_key_file, create=create)

    @property
    def key_id(self) -> str:
        """A short public hash naming this key (safe to log), as hex."""
        return self._key_id.hex()

    def to_base64url(self) -> str:
        """The exportable form (what ``CERTROTOR_MASTER_KEY`` holds); handle as a secret."""
        return _b64url_encode(self._key)

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``aad`` (the row it belongs to)."""
        header = FORMAT_V1 + self._key_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + aad)

    def open_sealed(self, blob: bytes, *, aad: bytes) -> bytes:
        """Decrypt a blob from :meth:`seal`; a wrong key or any tampering raises, never garbage."""
        if len(blob) < _HEADER_BYTES + NONCE_BYTES + 16 or not blob.startswith(FORMAT_V1):
            raise TamperedDataError(
                "A sealed secret is truncated or in an unknown format.",
                hint="the database row was altered or corrupted; restore it from a backup.",
            )
        header = blob[:_HEADER_BYTES]
        key_id = header[len(FORMAT_V1) :]
        if not hmac.compare_digest(key_id, self._key_id):
            raise MasterKeyError(
                f"A secret was sealed under master key {key_id.hex()}, "
                f"but the master key in use is {self.key_id}."
            )
        nonce = blob[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER_BYTES + NONCE_BYTES :], header + aad)
        except InvalidTag:
            raise TamperedDataError(
                "A sealed secret failed authentication: it was altered or moved to another row.",
                hint="restore the row from a backup; the master key itself is the right one.",
            ) from None

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasterKey):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self._key_id)

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would copy the key into places (caches, queues, crash dumps) nobody audits.
        raise TypeError("MasterKey cannot be pickled")


def _create_key_file(path: Path, key: MasterKey) -> None:
    """Write a new key file atomically; if another process won the race, keep its key."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key.to_base64url() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() refuses to overwrite, so two first runs never end up with two different keys.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path) -> MasterKey:
    try:
        info = path.stat()
    except OSError as exc:
        raise MasterKeyError(
            f"The master key file {path} cannot be read ({exc.strerror}).",
            hint="check the path and its permissions.",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise MasterKeyError(
            f"The master key path {path} is not a regular file.",
            hint="point CERTROTOR_MASTER_KEY_FILE at the key file itself.",
        )
    if info.st_mode & 0o077:
        raise MasterKeyError(
            f"The master key file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}).",
            hint=f"run `chmod 600 {path}`.",
        )
    try:
        text = read_user_file(path, hint="", limit=_KEY_FILE_MAX_BYTES).decode("ascii")
    except (InputError, UnicodeDecodeError):
        raise MasterKeyError(
            f"The master key file {path} cannot be read as text.",
            hint="the file must hold the base64url form of 32 random bytes.",
        ) from None
    try:
        raw = _b64url_decode(text)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != MASTER_KEY_BYTES:
        raise MasterKeyError(
            f"The master key file {path} does not hold a {MASTER_KEY_BYTES}-byte base64url key.",
            hint="restore the original key file from a backup; a new key cannot open old secrets.",
        )
    return MasterKey(raw)


def pending_key_path(path: Path) -> Path:
    """Where ``certrotor master-key rotate`` keeps the new key until the store's re-sealing commits."""
    return path.with_name(path.name + ".new")


def write_pending_key_file(path: Path, key: MasterKey) -> Path:
    """Write ``key`` next to the key file (mode 0600, synced) without touching the key file itself."""
    pending = pending_key_path(path)
    pending.unlink(missing_ok=True)
    _write_new_file(pending, key.to_base64url() + "\n")
    _fsync_directory(path.parent)
    return pending


def promote_pending_key_file(path: Path) -> None:
    """Replace the key file by the pending one in one atomic rename (after the re-sealing commit)."""
    os.replace(pending_key_path(path), path)
    _fsync_directory(path.parent)


def export_key_file(key: MasterKey, destination: Path) -> None:
    """Write ``key`` to a new file (mode 0600); an existing file is never overwritten."""
    try:
        _write_new_file(destination, key.to_base64url() + "\n")
    except FileExistsError:
        raise MasterKeyError(
            f"{destination} already exists.", hint="choose a new file name; an export never overwrites."
        ) from None
    except OSError as exc:
        raise MasterKeyError(
            f"Cannot write {destination}: {exc.strerror or exc}.",
            hint="choose a path in an existing directory you may write to.",
        ) from None


def _write_new_file(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
