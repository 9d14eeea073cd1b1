"""Shared record protocol: script IDs, the bundled placeholder, and the signed import query."""

from __future__ import annotations

import datetime as dt

import pytest

from certrotor.crypto import (
    KeySpec,
    generate_private_key,
    keys_match,
    load_certificate_pem,
    load_private_key_pem,
)
from certrotor.errors import InputError
from certrotor.protocol.records import (
    PLACEHOLDER_FILE_NAME,
    placeholder_fingerprint,
    placeholder_pem,
    record_not_found_message,
    record_script_id,
)
from certrotor.protocol.signed_import import canonical_query, signed_query


class TestRecordScriptId:
    @pytest.mark.parametrize(
        ("typed", "script_id"),
        [
            ("_oa_realtime", "custcertificate_oa_realtime"),
            ("custcertificate_oa_realtime", "custcertificate_oa_realtime"),
            ("  _OA_Realtime ", "custcertificate_oa_realtime"),
            ("oa", "custcertificateoa"),
        ],
    )
    def test_prefixed_as_netsuite_does(self, typed: str, script_id: str) -> None:
        """NetSuite prefixes the typed ID with custcertificate and lower-cases it."""
        assert record_script_id(typed) == script_id

    @pytest.mark.parametrize("typed", ["", "custcertificate", "_oa realtime", "_oa-realtime", "_" + "x" * 40])
    def test_refused(self, typed: str) -> None:
        """Empty, bare-prefix, spaced, dashed and over-long IDs are refused with a hint."""
        with pytest.raises(InputError) as caught:
            record_script_id(typed)
        assert caught.value.hint

    def test_not_found_text_is_the_seeds(self) -> None:
        """The missing-record message is seed 004's own words."""
        assert record_not_found_message("custcertificate_oa_realtime") == (
            'Certificate "custcertificate_oa_realtime" not found'
        )


class TestPlaceholder:
    def test_shipped_with_key_and_expired_certificate(self) -> None:
        """The packaged openair-certificate.pem holds a key and its certificate, expired long ago."""
        pem = placeholder_pem()
        certificate = load_certificate_pem(pem.split("-----BEGIN PRIVATE KEY-----")[0])
        key = load_private_key_pem(pem[pem.index("-----BEGIN PRIVATE KEY-----") :])
        assert keys_match(key, certificate)
        assert certificate.not_valid_after_utc < dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
        assert "NOT VALID" in certificate.subject.rfc4514_string()
        assert PLACEHOLDER_FILE_NAME == "openair-certificate.pem"

    def test_fingerprint_is_stable(self) -> None:
        """The placeholder is recognised by a fixed fingerprint."""
        assert len(placeholder_fingerprint()) == 64
        assert placeholder_fingerprint() == placeholder_fingerprint()


class TestSignedQuery:
    def test_canonical_order_and_encoding(self) -> None:
        """Fields are signed in NetSuite's order, percent-encoded, whatever the mapping's order."""
        fields = {
            "timestamp": "1700000000",
            "netsuite_user_id": "-5",
            "ns_id": "12",
            "record_type": "sales order",
            "db_id": "4030059",
            "action": "synchronize",
        }
        assert canonical_query(fields) == (
            "action=synchronize&db_id=4030059&record_type=sales%20order&ns_id=12"
            "&netsuite_user_id=-5&timestamp=1700000000"
        )

    def test_missing_field(self) -> None:
        """A query without every signed field is not built."""
        with pytest.raises(ValueError, match="timestamp"):
            canonical_query({"action": "synchronize"})

    def test_signature_is_last(self) -> None:
        """The signature is appended as the last parameter."""
        key = generate_private_key(KeySpec.EC_P256)
        fields = {
            "action": "synchronize",
            "db_id": "1",
            "record_type": "customer",
            "ns_id": "2",
            "netsuite_user_id": "3",
            "timestamp": "4",
        }
        query = signed_query(fields, key)
        assert query.startswith(canonical_query(fields) + "&signature=")
        assert query.count("&signature=") == 1
