"""The pure verification of signed import requests: every acceptance and every refusal reason."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from certrotor.crypto import KeySpec, PrivateKey, build_self_signed_certificate, generate_private_key
from certrotor.errors import SignatureError
from certrotor.protocol.signed_import import canonical_query, sign_query, signed_query
from certrotor.receiver import ReplayCache, Verifier, verify_import_request

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


def _certified(key: PrivateKey, *, days: int = 365) -> Verifier:
    certificate = build_self_signed_certificate(
        key, common_name="receiver test", validity_days=days, not_before=NOW - dt.timedelta(days=1)
    )
    return Verifier(certificate, "current")


def _fields(**changes: object) -> dict[str, str]:
    fields = {
        "action": "synchronize",
        "db_id": "4030059",
        "record_type": "customer",
        "ns_id": "1001",
        "netsuite_user_id": "7",
        "timestamp": str(int(NOW.timestamp())),
    }
    fields.update({key: str(value) for key, value in changes.items()})
    return fields


def _refusal(query: str | dict[str, str], verifiers: list[Verifier], **options: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify_import_request(
            query, verifiers, now=options.pop("now", NOW), replay_cache=ReplayCache(), **options
        )  # type: ignore[arg-type]
    return caught.value


@pytest.fixture(scope="module")
def ec_key() -> PrivateKey:
    return generate_private_key(KeySpec.EC_P256)


@pytest.fixture(scope="module")
def rsa_key() -> PrivateKey:
    return generate_private_key(KeySpec.RSA_3072)


class TestAccepted:
    def test_current_ec_certificate(self, ec_key: PrivateKey) -> None:
        """A request signed by the current EC key is accepted with its parameters."""
        verifier = _certified(ec_key)
        accepted = verify_import_request(
            signed_query(_fields(), ec_key), [verifier], now=NOW, replay_cache=ReplayCache()
        )
        assert accepted.verifier is verifier
        assert accepted.params["action"] == "synchronize"
        assert accepted.params["ns_id"] == "1001"
        assert accepted.timestamp == NOW

    def test_current_rsa_certificate(self, rsa_key: PrivateKey) -> None:
        """An RSA PKCS#1 v1.5 SHA-256 signature is accepted."""
        accepted = verify_import_request(
            signed_query(_fields(), rsa_key), [_certified(rsa_key)], now=NOW, replay_cache=None
        )
        assert accepted.verifier.role == "current"

    def test_previous_certificate_within_grace(self, ec_key: PrivateKey) -> None:
        """The previous certificate vouches until its grace period ends."""
        current = _certified(generate_private_key(KeySpec.EC_P256))
        previous = Verifier(
            _certified(ec_key).certificate, "previous", accept_until=NOW + dt.timedelta(hours=1)
        )
        accepted = verify_import_request(
            signed_query(_fields(), ec_key), [current, previous], now=NOW, replay_cache=None
        )
        assert accepted.verifier.role == "previous"

    def test_decoded_parameters(self, ec_key: PrivateKey) -> None:
        """Already decoded parameters are verified over NetSuite's canonical query."""
        fields = _fields(record_type="sales order")
        params = {**fields, "signature": sign_query(canonical_query(fields), ec_key)}
        accepted = verify_import_request(params, [_certified(ec_key)], now=NOW, replay_cache=None)
        assert accepted.params["record_type"] == "sales order"

    def test_raw_ec_signature(self, ec_key: PrivateKey) -> None:
        """An ECDSA signature as raw r||s (not DER) is accepted too."""
        query = canonical_query(_fields())
        r, s = decode_dss_signature(base64.b64decode(sign_query(query, ec_key)))
        raw = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
        accepted = verify_import_request(
            f"{query}&signature={quote(raw, safe='')}", [_certified(ec_key)], now=NOW, replay_cache=None
        )
        assert accepted.verifier.role == "current"

    def test_leading_question_mark_and_unencoded_plus(self, ec_key: PrivateKey) -> None:
        """A leading '?' is ignored, and a signature whose '+' was left unencoded still reads."""
        query = canonical_query(_fields())
        signature = sign_query(query, ec_key)
        accepted = verify_import_request(
            f"?{query}&signature={signature.replace('/', '%2F').replace('=', '%3D')}",
            [_certified(ec_key)],
            now=NOW,
            replay_cache=None,
        )
        assert accepted.verifier.role == "current"


class TestRefused:
    def test_missing_signature(self, ec_key: PrivateKey) -> None:
        """No signature parameter is refused as missing_signature."""
        assert _refusal(canonical_query(_fields()), [_certified(ec_key)]).reason == "missing_signature"
        assert _refusal(_fields(), [_certified(ec_key)]).reason == "missing_signature"

    def test_empty_signature(self, ec_key: PrivateKey) -> None:
        """An empty signature value is refused as missing_signature."""
        query = canonical_query(_fields()) + "&signature="
        assert _refusal(query, [_certified(ec_key)]).reason == "missing_signature"

    def test_unknown_ec_key(self, ec_key: PrivateKey) -> None:
        """A signature by a key of no known EC certificate is refused as bad_signature."""
        stranger = generate_private_key(KeySpec.EC_P256)
        refusal = _refusal(signed_query(_fields(), stranger), [_certified(ec_key)])
        assert refusal.reason == "bad_signature"
        assert refusal.hint

    def test_unknown_rsa_key(self, rsa_key: PrivateKey) -> None:
        """With RSA certificates, a signature by another key is named unknown_key."""
        stranger = generate_private_key(KeySpec.RSA_3072)
        assert _refusal(signed_query(_fields(), stranger), [_certified(rsa_key)]).reason == "unknown_key"

    def test_tampered_rsa_query(self, rsa_key: PrivateKey) -> None:
        """With RSA certificates, a known key's signature over other bytes is named tampered."""
        query = signed_query(_fields(), rsa_key).replace("ns_id=1001", "ns_id=1002")
        assert _refusal(query, [_certified(rsa_key)]).reason == "tampered"

    def test_tampered_ec_query(self, ec_key: PrivateKey) -> None:
        """With EC certificates, an altered query is refused as bad_signature."""
        query = signed_query(_fields(), ec_key).replace("ns_id=1001", "ns_id=1002")
        assert _refusal(query, [_certified(ec_key)]).reason == "bad_signature"

    def test_parameter_after_signature(self, ec_key: PrivateKey) -> None:
        """Parameters appended after the signature are not covered by it: tampered."""
        query = signed_query(_fields(), ec_key) + "&ns_id=666"
        assert _refusal(query, [_certified(ec_key)]).reason == "tampered"

    def test_unsigned_decoded_parameter(self, ec_key: PrivateKey) -> None:
        """Decoded parameters with an extra unsigned field are tampered."""
        fields = _fields()
        params = {**fields, "signature": sign_query(canonical_query(fields), ec_key), "extra": "1"}
        assert _refusal(params, [_certified(ec_key)]).reason == "tampered"

    def test_two_signatures(self, ec_key: PrivateKey) -> None:
        """Two signature parameters are malformed."""
        query = signed_query(_fields(), ec_key)
        doubled = query.replace("&signature=", "&signature=AAAA&signature=", 1)
        assert _refusal(doubled, [_certified(ec_key)]).reason == "malformed"

    @pytest.mark.parametrize(
        "damage",
        [
            lambda q: q.replace("&db_id=4030059", ""),
            lambda q: q.replace("ns_id=1001", "ns_id=1001&ns_id=1002"),
            lambda q: q.split("&signature=")[0] + "&signature=%%%not-base64!!",
            lambda q: "x" * 9000 + q,
        ],
        ids=["missing-field", "duplicate-field", "bad-base64", "too-long"],
    )
    def test_malformed(self, ec_key: PrivateKey, damage: object) -> None:
        """Unreadable queries, fields, timestamps or signatures are malformed, never an exception."""
        query = damage(signed_query(_fields(), ec_key))  # type: ignore[operator]
        assert _refusal(query, [_certified(ec_key)]).reason == "malformed"

    @pytest.mark.parametrize("timestamp", ["soon", "1.5", "-3", "99999999999999999999"])
    def test_signed_but_unreadable_timestamp(self, ec_key: PrivateKey, timestamp: str) -> None:
        """A correctly signed request whose timestamp is not Unix seconds is malformed."""
        query = signed_query(_fields(timestamp=timestamp), ec_key)
        assert _refusal(query, [_certified(ec_key)]).reason == "malformed"

    def test_previous_after_grace(self, ec_key: PrivateKey) -> None:
        """The previous certificate is refused as retired_key once its grace period ended."""
        previous = Verifier(
            _certified(ec_key).certificate, "previous", accept_until=NOW - dt.timedelta(seconds=1)
        )
        refusal = _refusal(signed_query(_fields(), ec_key), [previous])
        assert refusal.reason == "retired_key"
        assert "grace period ended" in refusal.message

    def test_retired_certificate(self, ec_key: PrivateKey) -> None:
        """A retired certificate never vouches."""
        retired = Verifier(_certified(ec_key).certificate, "retired")
        assert _refusal(signed_query(_fields(), ec_key), [retired]).reason == "retired_key"

    def test_expired_certificate(self, ec_key: PrivateKey) -> None:
        """The current certificate stops vouching when it expires."""
        verifier = _certified(ec_key, days=2)
        later = NOW + dt.timedelta(days=3)
        query = signed_query(_fields(timestamp=int(later.timestamp())), ec_key)
        refusal = _refusal(query, [verifier], now=later)
        assert refusal.reason == "retired_key"
        assert "expired" in refusal.message

    @pytest.mark.parametrize("offset", [-301, 301])
    def test_stale_or_future_timestamp(self, ec_key: PrivateKey, offset: int) -> None:
        """A timestamp more than max_age away from the receiver's clock is refused as expired."""
        query = signed_query(_fields(timestamp=int(NOW.timestamp()) + offset), ec_key)
        assert _refusal(query, [_certified(ec_key)]).reason == "expired"

    def test_custom_max_age(self, ec_key: PrivateKey) -> None:
        """max_age is the caller's choice."""
        query = signed_query(_fields(timestamp=int(NOW.timestamp()) - 30), ec_key)
        refusal = _refusal(query, [_certified(ec_key)], max_age=dt.timedelta(seconds=10))
        assert refusal.reason == "expired"

    def test_replayed(self, ec_key: PrivateKey) -> None:
        """The same signed request is accepted once and refused as replayed after."""
        cache, verifier = ReplayCache(), _certified(ec_key)
        query = signed_query(_fields(), ec_key)
        verify_import_request(query, [verifier], now=NOW, replay_cache=cache)
        with pytest.raises(SignatureError) as caught:
            verify_import_request(query, [verifier], now=NOW + dt.timedelta(seconds=5), replay_cache=cache)
        assert caught.value.reason == "replayed"

    def test_refused_request_is_not_remembered(self, ec_key: PrivateKey) -> None:
        """A refused request takes no room in the replay cache."""
        cache = ReplayCache()
        stranger = generate_private_key(KeySpec.EC_P256)
        with pytest.raises(SignatureError):
            verify_import_request(
                signed_query(_fields(), stranger), [_certified(ec_key)], now=NOW, replay_cache=cache
            )
        assert len(cache) == 0

    def test_no_verifiers(self, ec_key: PrivateKey) -> None:
        """Without any certificate nothing is accepted."""
        assert _refusal(signed_query(_fields(), ec_key), []).reason == "bad_signature"


class TestReplayCache:
    def test_bounded(self) -> None:
        """The cache never holds more than max_entries signatures."""
        cache = ReplayCache(max_entries=3)
        for index in range(10):
            assert cache.remember(bytes([index]), keep_until=NOW + dt.timedelta(minutes=index + 1), now=NOW)
        assert len(cache) == 3

    def test_expired_entries_dropped(self) -> None:
        """A signature is forgotten once its request would be refused as expired anyway."""
        cache = ReplayCache()
        assert cache.remember(b"sig", keep_until=NOW + dt.timedelta(minutes=5), now=NOW)
        assert not cache.remember(b"sig", keep_until=NOW + dt.timedelta(minutes=5), now=NOW)
        assert cache.remember(
            b"sig", keep_until=NOW + dt.timedelta(minutes=20), now=NOW + dt.timedelta(minutes=6)
        )

    def test_needs_room(self) -> None:
        """A cache of no entries is refused."""
        with pytest.raises(ValueError, match="at least one"):
            ReplayCache(max_entries=0)
