"""Small builders of valid test inputs: credential specs and EC P-256 key pairs."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from certrotor.crypto import KeySpec, PrivateKey, build_self_signed_certificate, generate_private_key
from certrotor.store import CredentialSpec


def make_spec(name: str = "orders", **overrides: object) -> CredentialSpec:
    """A valid credential spec for the demo account, with any field overridden."""
    values: dict[str, object] = {
        "name": name,
        "account_id": "1234567_SB1",
        "client_id": "client-" + name,
        "entity_id": -5,
        "role_id": 1000,
    }
    values.update(overrides)
    return CredentialSpec(**values)  # type: ignore[arg-type]


def make_pair(
    days: int = 30, *, not_before: dt.datetime | None = None
) -> tuple[PrivateKey, x509.Certificate]:
    """A fresh EC P-256 key and its self-signed certificate (fast to generate)."""
    key = generate_private_key(KeySpec.EC_P256)
    certificate = build_self_signed_certificate(
        key, common_name="certrotor test", validity_days=days, not_before=not_before
    )
    return key, certificate
