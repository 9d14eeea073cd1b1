"""Delivery to consumers: the current key, certificate and metadata written atomically, then a user hook.

Files are written one by one (key, certificate, then ``credential.json`` last), each atomically: a
consumer never reads a half-written file, but may for a moment see a new key next to the old
certificate. Consumers should reload in the hook, which runs only after all three are in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certrotor import crypto
from certrotor.errors import DeliveryError, InputError
from certrotor.logging import scrub_text

KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
METADATA_FILE = "credential.json"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700

DEFAULT_HOOK_TIMEOUT = 60.0
MAX_HOOK_TIMEOUT = 3600.0
OUTPUT_TAIL_CHARS = 4000
"""How much of a hook's stderr (and stdout) is kept: the end, where the error usually is."""
_KILL_GRACE_SECONDS = 5.0
_STRIPPED_ENV_PREFIX = "CERTROTOR_"


@dataclass(frozen=True, slots=True)
class DeliveredPaths:
    """Where a credential's current key, certificate and metadata were written."""

    directory: Path
    key_file: Path
    cert_file: Path
    metadata_file: Path

    @classmethod
    def in_directory(cls, directory: Path) -> DeliveredPaths:
        return cls(directory, directory / KEY_FILE, directory / CERT_FILE, directory / METADATA_FILE)

    def as_env(self) -> dict[str, str]:
        """The ``CERTROTOR_*_FILE`` variables a hook receives."""
        return {
            "CERTROTOR_KEY_FILE": str(self.key_file),
            "CERTROTOR_CERT_FILE": str(self.cert_file),
            "CERTROTOR_METADATA_FILE": str(self.metadata_file),
        }


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path: Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync directory.

    The temp file is created with ``mode`` from the start, so the content is never readable by others.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _remove_stale_temp_files(directory: Path) -> None:
    # A crash between mkstemp and rename leaves ".key.pem.XXXX.tmp" behind: it may hold a key.
    for name in (KEY_FILE, CERT_FILE, METADATA_FILE):
        for leftover in directory.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def _metadata_bytes(metadata: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(dict(metadata), default=_json_default, indent=2, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"The delivery metadata cannot be written as JSON ({error}).",
            hint="give strings, numbers, booleans, lists, dicts or datetimes only.",
        ) from None
    if "PRIVATE KEY" in text:
        raise InputError(
            "The delivery metadata contains a private key.",
            hint="keep the key out of credential.json; it is delivered in key.pem only.",
        )
    return (text + "\n").encode("utf-8")


def check_delivery_directory(directory: Path) -> None:
    """Refuse a delivery directory that others could tamper with: itself, or the directory it is
    (or will be) created in, writable by everyone. Nothing is created or changed."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    for candidate in {existing, existing.parent} if existing == directory else {existing}:
        try:
            mode = candidate.stat().st_mode
        except OSError:
            continue
        if mode & stat.S_IWOTH:
            raise DeliveryError(
                f"Refusing to deliver into {directory}: {candidate} is writable by everyone "
                f"(mode {stat.S_IMODE(mode):04o}), so others could replace the key.",
                hint="choose a delivery directory whose parents only its owner may write to "
                "(--deliver-to), or remove the write bit for others yourself.",
            )


def prepare_delivery_directory(directory: Path) -> None:
    """Create what is missing of ``directory``, each new directory 0700 whatever the umask; an
    existing directory keeps its mode (it may be ``/etc/ssl/private``, shared with others)."""
    check_delivery_directory(directory)
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # created by someone else meanwhile: theirs, its mode is not ours to change
        os.chmod(path, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def deliver_files(
    directory: Path | str,
    *,
    private_key_pem: bytes,
    certificate_pem: str,
    metadata: Mapping[str, Any],
) -> DeliveredPaths:
    """Write ``key.pem``, ``cert.pem`` and ``credential.json`` (mode 0600) into ``directory`` (0700).

    The key and certificate must belong together and the metadata must be JSON without a key;
    anything wrong is refused before a single file is touched.
    """
    key = crypto.load_private_key_pem(private_key_pem)
    certificate = crypto.load_certificate_pem(certificate_pem)
    if not crypto.keys_match(key, certificate):
        raise InputError(
            "The certificate does not belong to the private key being delivered.",
            hint="deliver the key and certificate of the same certificate version.",
        )
    metadata_bytes = _metadata_bytes(metadata)
    paths = DeliveredPaths.in_directory(Path(directory))
    try:
        prepare_delivery_directory(paths.directory)
        _remove_stale_temp_files(paths.directory)
        write_file_atomically(paths.key_file, private_key_pem)
        write_file_atomically(paths.cert_file, certificate_pem.encode("ascii"))
        write_file_atomically(paths.metadata_file, metadata_bytes)
    except OSError as error:
        raise DeliveryError(
            f"Could not write the delivery files into {paths.directory}: {error.strerror or error}.",
            hint=f"check that {paths.directory} is a writable directory with free space.",
        ) from None
    return paths


@dataclass(frozen=True, slots=True)
class HookResult:
    """What a hook did: its exit code (``None`` when killed for taking too long) and output tails."""

    command: str
    exit_code: int | None
    timed_out: bool
    stderr_tail: str
    stdout_tail: str = ""
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """One line for logs and the audit trail."""
        if self.ok:
            return "hook succeeded"
        if self.timed_out:
            return f"hook timed out after {self.duration_seconds:.1f}s and was killed"
        last_line = next((line for line in reversed(self.stderr_tail.splitlines()) if line.strip()), "")
        suffix = f": {last_line.strip()}" if last_line else ""
        return f"hook exited with code {self.exit_code}{suffix}"


def _tail(data: bytes | None) -> str:
    text = (data or b"").decode("utf-8", "replace")
    # A hook may well print the key it was given; never carry it into logs or the audit trail.
    return scrub_text(text[-OUTPUT_TAIL_CHARS:])


def _hook_env(
    paths: DeliveredPaths, credential_name: str, certificate_id: str, extra_env: Mapping[str, str] | None
) -> dict[str, str]:
    # The hook is the user's program: it inherits the environment (PATH, HOME, ...) but none of
    # certrotor's own settings, which include the master key and the bootstrap token.
    env = {key: value for key, value in os.environ.items() if not key.startswith(_STRIPPED_ENV_PREFIX)}
    env.update(extra_env or {})
    env.update(paths.as_env())
    env["CERTROTOR_CREDENTIAL"] = credential_name
    env["CERTROTOR_CERTIFICATE_ID"] = certificate_id
    return env


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_hook(
    command: str,
    paths: DeliveredPaths,
    *,
    credential_name: str,
    certificate_id: str,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_HOOK_TIMEOUT,
) -> HookResult:
    """Run the user's hook command (split like a shell would, but no shell) in the delivery directory.

    It receives ``CERTROTOR_KEY_FILE``, ``CERTROTOR_CERT_FILE``, ``CERTROTOR_METADATA_FILE``,
    ``CERTROTOR_CREDENTIAL`` and ``CERTROTOR_CERTIFICATE_ID``. After ``timeout`` seconds the hook
    and every process it started are killed. A failing hook is returned, never raised: the caller
    reports and retries it, and it never undoes a rotation.
    """
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise InputError(
            f"The hook command cannot be parsed ({error}).", hint="check its quotes and escapes."
        ) from None
    if not argv:
        raise InputError("The hook command is empty.", hint="give a command such as 'systemctl reload app'.")
    if not 0 < timeout <= MAX_HOOK_TIMEOUT:
        raise InputError(
            f"Hook timeout {timeout}s is out of range.",
            hint=f"use more than 0 and at most {MAX_HOOK_TIMEOUT:.0f} seconds.",
        )
    if not paths.directory.is_dir():
        # Popen would report a missing working directory as a missing command.
        raise DeliveryError(
            f"The delivery directory {paths.directory} does not exist.",
            hint="deliver the files before running the hook.",
        )
    env = _hook_env(paths, credential_name, certificate_id, extra_env)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            cwd=paths.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group, so that a timeout kills the hook's children too.
            start_new_session=True,
        )
    except FileNotFoundError:
        return HookResult(command, 127, False, f"hook command not found: {argv[0]}")
    except PermissionError:
        return HookResult(command, 126, False, f"hook command is not executable: {argv[0]}")
    except OSError as error:
        return HookResult(command, 126, False, f"hook command could not start: {error.strerror or error}")
    with process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            try:
                stdout, stderr = process.communicate(timeout=_KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                # A grandchild escaped the group and holds the pipes open: stop reading.
                stdout, stderr = b"", b""
            return HookResult(command, None, True, _tail(stderr), _tail(stdout), time.monotonic() - started)
    return HookResult(
        command,
        process.returncode,
        False,
        _tail(stderr),
        _tail(stdout),
        time.monotonic() - started,
    )
