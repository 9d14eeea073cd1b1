"""Console sessions: HMAC-signed cookies with an idle timeout, a CSRF secret, and their signing key.

The cookie holds no secret of certrotor's: a session id, the user's name, the CSRF token and two
timestamps, signed with a key kept in the data directory (created 0600 on first use). The role is
read from the store on every request, so a removed user loses access at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from certrotor.errors import ConfigError

COOKIE_NAME = "certrotor_session"
SESSION_KEY_FILE = "web-session.key"
DEFAULT_IDLE_TIMEOUT_SECONDS = 30 * 60
DEFAULT_MAX_AGE_SECONDS = 12 * 3600
_KEY_BYTES = 32
_VERSION = "v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_session_key(data_dir: Path) -> bytes:
    """The console's signing key from ``<data_dir>/web-session.key``, created (mode 0600) if missing."""
    path = data_dir / SESSION_KEY_FILE
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another console process created it at the same moment: read theirs
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(_b64(secrets.token_bytes(_KEY_BYTES)) + "\n")
    try:
        key = _unb64(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read the console's session key {path} ({type(exc).__name__}).",
            hint="delete the file to make a new one (everyone logs in again).",
        ) from None
    if len(key) != _KEY_BYTES:
        raise ConfigError(
            f"The console's session key {path} is not {_KEY_BYTES} bytes.",
            hint="delete the file to make a new one (everyone logs in again).",
        )
    return key


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """One browser's session: anonymous (``user is None``) until a login succeeds."""

    session_id: str
    csrf_token: str
    user: str | None
    issued_at: float
    seen_at: float

    @classmethod
    def anonymous(cls, now: float) -> ConsoleSession:
        return cls(
            session_id=secrets.token_urlsafe(18),
            csrf_token=secrets.token_urlsafe(32),
            user=None,
            issued_at=now,
            seen_at=now,
        )

    def logged_in_as(self, user: str, now: float) -> ConsoleSession:
        """A fresh session (new id and CSRF token: no fixation) for ``user``."""
        return replace(ConsoleSession.anonymous(now), user=user)

    def touched(self, now: float) -> ConsoleSession:
        return replace(self, seen_at=now)


class SessionCodec:
    """Signs sessions into cookie values and checks them back, with idle and absolute timeouts."""

    def __init__(
        self,
        key: bytes,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self._key = key
        self.idle_timeout = idle_timeout
        self.max_age = max_age

    def __repr__(self) -> str:
        return f"SessionCodec(idle_timeout={self.idle_timeout}, max_age={self.max_age})"

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def encode(self, session: ConsoleSession) -> str:
        payload = json.dumps(
            {
                "sid": session.session_id,
                "csrf": session.csrf_token,
                "user": session.user,
                "iat": int(session.issued_at),
                "seen": int(session.seen_at),
            },
            separators=(",", ":"),
        ).encode()
        return f"{_VERSION}.{_b64(payload)}.{self._sign(payload)}"

    def decode(self, value: str | None, now: float | None = None) -> ConsoleSession | None:
        """The session in a cookie value, or ``None`` if absent, forged, malformed or timed out."""
        if not value:
            return None
        now = time.time() if now is None else now
        try:
            version, encoded, signature = value.split(".")
            payload = _unb64(encoded)
        except ValueError:
            return None
        if version != _VERSION or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            session = ConsoleSession(
                session_id=str(data["sid"]),
                csrf_token=str(data["csrf"]),
                user=None if data["user"] is None else str(data["user"]),
                issued_at=float(data["iat"]),
                seen_at=float(data["seen"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if now - session.seen_at > self.idle_timeout or now - session.issued_at > self.max_age:
            return None
        return session

    @staticmethod
    def csrf_matches(session: ConsoleSession | None, submitted: str | None) -> bool:
        if session is None or not submitted:
            return False
        return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())
