"""An application reads a delivered credential (``key.pem``, ``cert.pem``, ``credential.json``).

``read_delivered(directory).auth()`` is an ``M2MAuth`` for ``httpx2.Client``: the application calls
NetSuite with the current certificate and never speaks to certrotor's store.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certrotor import crypto
from certrotor.client.auth import M2MAuth
from certrotor.delivery import CERT_FILE, KEY_FILE, METADATA_FILE
from certrotor.errors import DeliveryError, InputError
from certrotor.protocol.urls import TOKEN_PATH

_CONSISTENT_READ_ATTEMPTS = 20
_CONSISTENT_READ_PAUSE_SECONDS = 0.05
"""A delivery writes the three files one by one: a reader that sees a mix reads again a moment later."""


@dataclass(frozen=True, slots=True)
class DeliveredCredential:
    """The current certificate of one credential as delivered: identifiers, validity and the key."""

    directory: Path
    credential: str
    account_id: str
    client_id: str
    certificate_id: str
    token_url: str
    scopes: tuple[str, ...]
    not_after: dt.datetime
    fingerprint_sha256: str
    certificate_pem: str = field(repr=False)
    private_key: crypto.PrivateKey = field(repr=False)

    @property
    def rest_base(self) -> str:
        """NetSuite's REST web services on the token endpoint's host (``.../services/rest``)."""
        return self.token_url.removesuffix(TOKEN_PATH) + "/services/rest"

    def rest_url(self, path: str) -> str:
        """``record/v1/customer/42`` as a full URL on the REST web services host."""
        return f"{self.rest_base}/{path.lstrip('/')}"

    def auth(self, **options: Any) -> M2MAuth:
        """Client credentials tokens, fetched and cached, for ``httpx2.Client(auth=...)``.

        ``options`` go to :class:`M2MAuth` (``verify_tls``, ``timeout``, ``refresh_margin``, ...).
        """
        return M2MAuth(
            self.token_url, self.client_id, self.certificate_id, self.private_key, self.scopes, **options
        )


def read_delivered(directory: Path | str) -> DeliveredCredential:
    """The credential delivered into ``directory``; its key, certificate and metadata always match.

    Raises ``DeliveryError`` (with the fix) when a file is missing or unreadable, or the three do not
    belong together even after the delivery in progress had time to finish.
    """
    where = Path(directory)
    for _ in range(_CONSISTENT_READ_ATTEMPTS):
        found = _read_once(where)
        if found is not None:
            return found
        time.sleep(_CONSISTENT_READ_PAUSE_SECONDS)
    raise DeliveryError(
        f"The files in {where} do not belong together (key, certificate and {METADATA_FILE}).",
        hint="let certrotor deliver the credential again (`certrotor rotate NAME`), and read the "
        "directory only after its hook ran.",
    )


def _read_once(directory: Path) -> DeliveredCredential | None:
    """One read of the three files; ``None`` when they describe different certificates."""
    key_pem, cert_pem, metadata_text = (
        _read(directory / name) for name in (KEY_FILE, CERT_FILE, METADATA_FILE)
    )
    try:
        metadata = json.loads(metadata_text)
        private_key = crypto.load_private_key_pem(key_pem)
        certificate = crypto.load_certificate_pem(cert_pem)
    except (ValueError, InputError) as exc:
        raise DeliveryError(
            f"The delivered files in {directory} cannot be read ({type(exc).__name__}).",
            hint="point read_delivered at a directory certrotor delivered into.",
        ) from None
    fingerprint = crypto.fingerprint_sha256(certificate)
    if not crypto.keys_match(private_key, certificate) or metadata.get("fingerprint_sha256") != fingerprint:
        return None
    try:
        return DeliveredCredential(
            directory=directory,
            credential=str(metadata["credential"]),
            account_id=str(metadata["account_id"]),
            client_id=str(metadata["client_id"]),
            certificate_id=str(metadata["certificate_id"]),
            token_url=str(metadata["token_url"]),
            scopes=tuple(str(scope) for scope in metadata["scopes"]),
            not_after=dt.datetime.fromisoformat(str(metadata["not_after"])),
            fingerprint_sha256=fingerprint,
            certificate_pem=cert_pem.decode("ascii"),
            private_key=private_key,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DeliveryError(
            f"{directory / METADATA_FILE} lacks {exc} or holds a malformed value.",
            hint="point read_delivered at a directory certrotor delivered an M2M credential into.",
        ) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DeliveryError(
            f"Cannot read {path}: {exc.strerror or type(exc).__name__}.",
            hint="give the credential's delivery directory (`certrotor credential show NAME`) and run "
            "the application as a user that may read it (the files are mode 0600).",
        ) from None


__all__ = ["DeliveredCredential", "read_delivered"]
