"""Verification of signed real-time import requests (seed 004); pure: no I/O, the clock is passed in.

NetSuite signs the query string with a certificate record's key (``certrotor.protocol.signed_import``).
:func:`verify_import_request` accepts a request whose signature verifies with a certificate it is
given and which that certificate may still vouch for (the current one; the previous one during the
grace period), whose timestamp is fresh and whose signature was not seen before. Anything else
raises :class:`~certrotor.errors.SignatureError` with one of :data:`REFUSAL_REASONS`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from certrotor.crypto import fingerprint_sha256
from certrotor.errors import SignatureError
from certrotor.protocol.signed_import import SIGNATURE_PARAM, SIGNED_FIELDS, canonical_query

DEFAULT_MAX_AGE = dt.timedelta(minutes=5)
"""How far a request's timestamp may be from the receiver's clock, either way."""
DEFAULT_REPLAY_CACHE_ENTRIES = 100_000
MAX_QUERY_CHARS = 8192

RefusalReason = Literal[
    "missing_signature",
    "malformed",
    "tampered",
    "unknown_key",
    "bad_signature",
    "retired_key",
    "expired",
    "replayed",
]
REFUSAL_REASONS: tuple[RefusalReason, ...] = (
    "missing_signature",
    "malformed",
    "tampered",
    "unknown_key",
    "bad_signature",
    "retired_key",
    "expired",
    "replayed",
)
"""``missing_signature``: no ``signature``; ``malformed``: unreadable query, signature or timestamp;
``tampered``: unsigned parameters added, or (RSA) a known key signed other bytes; ``unknown_key``:
(RSA) no known key made the signature; ``bad_signature``: (EC) it verifies with no known key, the
request was altered or signed by an unknown key; ``retired_key``: signed by a certificate that may
no longer vouch (previous one after the grace period, or expired); ``expired``: the timestamp is
too old or too far ahead; ``replayed``: this signature was accepted before."""

VerifierRole = Literal["current", "previous", "incoming", "retired"]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A certificate whose key may have signed a request, and until when it vouches for requests.

    ``accept_until`` ``None`` means as long as the certificate itself is valid.
    """

    certificate: x509.Certificate = field(repr=False)
    role: VerifierRole
    accept_until: dt.datetime | None = None
    version_id: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.certificate)

    def accepts_at(self, now: dt.datetime) -> bool:
        if self.role == "retired":
            return False
        certificate = self.certificate
        if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
            return False
        return self.accept_until is None or now < self.accept_until

    def vouching_ended(self) -> str:
        """Why this verifier no longer vouches, for a refusal message."""
        if self.role == "retired":
            return "it was retired"
        end = self.certificate.not_valid_after_utc
        if self.accept_until is not None and self.accept_until < end:
            return f"its grace period ended at {self.accept_until:%Y-%m-%d %H:%M:%S} UTC"
        return f"it expired at {end:%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True, slots=True)
class AcceptedImport:
    """A verified request: its parameters and the certificate that vouched for it."""

    params: dict[str, str]
    verifier: Verifier
    timestamp: dt.datetime


class ReplayCache:
    """Signatures already accepted, each kept until its request would be too old anyway; bounded, thread-safe.

    When full, the entry that expires first is dropped: a bound on memory, at the price of accepting
    a replay of that one request (still within ``max_age``) if it comes back.
    """

    def __init__(self, max_entries: int = DEFAULT_REPLAY_CACHE_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("a replay cache needs room for at least one entry")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, dt.datetime] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def remember(self, signature: bytes, *, keep_until: dt.datetime, now: dt.datetime) -> bool:
        """Record ``signature``; ``False`` if it was already there (a replay)."""
        key = hashlib.sha256(signature).hexdigest()
        with self._lock:
            self._drop_expired(now)
            if key in self._entries:
                return False
            while len(self._entries) >= self.max_entries:
                oldest = min(self._entries, key=self._entries.__getitem__)
                del self._entries[oldest]
            self._entries[key] = keep_until
            return True

    def _drop_expired(self, now: dt.datetime) -> None:
        # Entries arrive in roughly expiry order: stop at the first live one.
        while self._entries:
            key, until = next(iter(self._entries.items()))
            if until > now:
                return
            del self._entries[key]


def _refuse(reason: RefusalReason, message: str) -> SignatureError:
    hints = {
        "retired_key": "NetSuite still signs with an old key: run `certrotor rotate NAME` and check "
        "the certificate record (`certrotor record show NAME`).",
        "expired": "check the clocks of NetSuite's sender and this receiver, or send a fresh request.",
        "replayed": "send a new request; each signed request is accepted once.",
    }
    return SignatureError(
        message,
        reason=reason,
        hint=hints.get(
            reason, "send the request exactly as NetSuite signed it, from the current certificate record."
        ),
    )


def _split_query(query_string: str) -> tuple[str, str]:
    """(signed part, raw signature value): the signature must be the last parameter."""
    if len(query_string) > MAX_QUERY_CHARS:
        raise _refuse("malformed", f"The query string is longer than {MAX_QUERY_CHARS} characters.")
    pairs = query_string.split("&") if query_string else []
    positions = [i for i, pair in enumerate(pairs) if pair.split("=", 1)[0] == SIGNATURE_PARAM]
    if not positions:
        raise _refuse("missing_signature", "The request carries no signature parameter.")
    if len(positions) > 1:
        raise _refuse("malformed", "The request carries more than one signature parameter.")
    if positions[0] != len(pairs) - 1:
        raise _refuse("tampered", "Parameters follow the signature: they are not covered by it.")
    signed = "&".join(pairs[:-1])
    return signed, pairs[-1].split("=", 1)[1] if "=" in pairs[-1] else ""


def _params_of(signed: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(signed, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise _refuse("malformed", "The signed part of the query string cannot be parsed.") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _refuse("malformed", f"The parameter {name!r} appears more than once.")
        params[name] = value
    missing = [name for name in SIGNED_FIELDS if name not in params]
    if missing:
        raise _refuse("malformed", f"The request lacks the signed parameter(s) {', '.join(missing)}.")
    return params


def _decode_signature(raw: str) -> bytes:
    text = unquote(raw).strip()
    if not text:
        raise _refuse("missing_signature", "The signature parameter is empty.")
    # '+' decoded to ' ' by a form parser is still meant as '+'.
    text = text.replace(" ", "+")
    # The URL-safe alphabet is read too; anything outside either alphabet is refused.
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("malformed", "The signature is not base64.") from None


def _ec_candidates(signature: bytes, key: ec.EllipticCurvePublicKey) -> list[bytes]:
    """DER as sent by SuiteScript, and a raw ``r || s`` signature converted to DER."""
    candidates = [signature]
    size = (key.curve.key_size + 7) // 8
    if len(signature) == 2 * size:
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        candidates.append(encode_dss_signature(r, s))
    return candidates


def _verifies(certificate: x509.Certificate, signature: bytes, data: bytes) -> bool:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            for candidate in _ec_candidates(signature, key):
                try:
                    key.verify(candidate, data, ec.ECDSA(hashes.SHA256()))
                    return True
                except InvalidSignature:
                    continue
    except (InvalidSignature, ValueError):
        return False
    return False


def _rsa_signed_other_bytes(certificate: x509.Certificate, signature: bytes) -> bool:
    """Whether this RSA key made ``signature`` over some SHA-256 digest (then the bytes were altered)."""
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.recover_data_from_signature(signature, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _signature_refusal(verifiers: list[Verifier], signature: bytes) -> SignatureError:
    if any(_rsa_signed_other_bytes(v.certificate, signature) for v in verifiers):
        return _refuse(
            "tampered",
            "The signature was made by a known certificate over other bytes: the query string was altered.",
        )
    if verifiers and all(isinstance(v.certificate.public_key(), rsa.RSAPublicKey) for v in verifiers):
        return _refuse("unknown_key", "The request was signed by a key that belongs to no known certificate.")
    return _refuse(
        "bad_signature",
        "The signature verifies with no known certificate: the request was altered or signed by an "
        "unknown key.",
    )


def _timestamp(value: str, now: dt.datetime, max_age: dt.timedelta) -> dt.datetime:
    if not value.isascii() or not value.isdigit():
        raise _refuse("malformed", "The timestamp must be Unix seconds (digits only).")
    try:
        moment = dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise _refuse("malformed", "The timestamp is out of range.") from None
    if abs(now - moment) > max_age:
        raise _refuse(
            "expired",
            f"The request's timestamp {moment:%Y-%m-%d %H:%M:%S} UTC is more than "
            f"{int(max_age.total_seconds())} s away from the receiver's clock.",
        )
    return moment


def verify_import_request(
    request: str | Mapping[str, str],
    verifiers: Iterable[Verifier],
    *,
    now: dt.datetime,
    replay_cache: ReplayCache | None,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> AcceptedImport:
    """Accept a signed import request or raise ``SignatureError`` with its ``reason``.

    ``request`` is the raw query string (best: the exact signed bytes) or its decoded parameters
    (then the signed bytes are rebuilt in NetSuite's canonical form). The signature must verify
    with a verifier that still vouches at ``now``; then the timestamp must be within ``max_age``
    and the signature new to ``replay_cache`` (it is remembered only once all checks passed).
    """
    if isinstance(request, str):
        signed, raw_signature = _split_query(request.removeprefix("?"))
        params = _params_of(signed)
    else:
        if SIGNATURE_PARAM not in request:
            raise _refuse("missing_signature", "The request carries no signature parameter.")
        raw_signature = request[SIGNATURE_PARAM]
        params = {k: v for k, v in request.items() if k != SIGNATURE_PARAM}
        extra = sorted(set(params) - set(SIGNED_FIELDS))
        if extra:
            raise _refuse("tampered", f"Unsigned parameter(s) {', '.join(extra)} were added.")
        missing = [name for name in SIGNED_FIELDS if name not in params]
        if missing:
            raise _refuse("malformed", f"The request lacks the signed parameter(s) {', '.join(missing)}.")
        signed = canonical_query(params)
    signature = _decode_signature(raw_signature)
    candidates = list(verifiers)
    data = signed.encode("utf-8")
    signer = next((v for v in candidates if _verifies(v.certificate, signature, data)), None)
    if signer is None:
        raise _signature_refusal(candidates, signature)
    if not signer.accepts_at(now):
        raise _refuse(
            "retired_key",
            f"The request was signed by the {signer.role} certificate {signer.fingerprint[:16]}..., "
            f"which no longer vouches for requests: {signer.vouching_ended()}.",
        )
    moment = _timestamp(params["timestamp"], now, max_age)
    if replay_cache is not None and not replay_cache.remember(
        signature, keep_until=moment + max_age, now=now
    ):
        raise _refuse("replayed", "This signed request was accepted before; a replay is refused.")
    return AcceptedImport(params=params, verifier=signer, timestamp=moment)


__all__ = [
    "DEFAULT_MAX_AGE",
    "REFUSAL_REASONS",
    "AcceptedImport",
    "RefusalReason",
    "ReplayCache",
    "Verifier",
    "VerifierRole",
    "verify_import_request",
]
