"""Deeply nested JSON in an upload body or a client assertion is a 4xx in NetSuite's shape, never a 500."""

from __future__ import annotations

import json

import pytest
from joserfc import jws

from certrotor.emulator.bounded_json import (
    MAX_JSON_DEPTH,
    JSONTooLargeError,
    json_depth,
    load_bounded_json,
)
from certrotor.protocol.assertion import signing_key

from ._support import Caller, netsuite_error, oauth_error, snapshot

NESTED = b"[" * 9000 + b"]" * 9000
"""18 KB of nested arrays: enough to exhaust ``json.loads``' recursion."""


class TestDepth:
    @pytest.mark.parametrize(
        ("text", "depth"),
        [
            pytest.param(b'{"a": [1, {"b": []}]}', 4, id="objects and arrays"),
            pytest.param(b'{"a": "[[[[{{{{"}', 1, id="brackets in a string"),
            pytest.param(b'["\\"[[[", ["\\\\"]]', 2, id="escaped quotes and backslashes"),
            pytest.param(b"42", 0, id="scalar"),
        ],
    )
    def test_depth_counts_brackets_outside_strings(self, text: bytes, depth: int) -> None:
        """Only brackets outside strings nest; escaped quotes do not end a string."""
        assert json_depth(text) == depth

    def test_deep_text_is_refused_before_parsing(self) -> None:
        """One level beyond the bound is refused with the bound named; the bound itself parses."""
        at_bound = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
        assert load_bounded_json(at_bound, max_bytes=1024) == json.loads(at_bound)
        with pytest.raises(JSONTooLargeError, match="deeper than 64 levels"):
            load_bounded_json(b"[" + at_bound + b"]", max_bytes=1024)
        with pytest.raises(JSONTooLargeError, match="more than the limit of 10"):
            load_bounded_json(b"[1, 2, 3, 4, 5]", max_bytes=10)


class TestOverHttp:
    def test_nested_upload_body_is_refused(self, shared_caller: Caller) -> None:
        """An upload body nested 9,000 levels is a 400 naming the bound, and nothing is stored."""
        before = snapshot(shared_caller.emulator)
        response = shared_caller.upload(content=NESTED, headers={"Content-Type": "application/json"})
        assert netsuite_error(response) == (
            400,
            "INVALID_CONTENT",
            "The request body nests arrays or objects deeper than 64 levels; send NetSuite's JSON object, "
            "a few levels deep.",
        )
        assert snapshot(shared_caller.emulator) == before

    def test_nested_assertion_payload_is_refused(self, shared_caller: Caller) -> None:
        """A signed assertion whose claims nest 9,000 levels is invalid_client naming the bound; no token."""
        key, certificate_id = shared_caller.upload_ok()
        before = snapshot(shared_caller.emulator)
        payload = b'{"iss": "' + shared_caller.tenant.client_id.encode() + b'", "x": ' + NESTED + b"}"
        header = {"alg": "ES256", "typ": "JWT", "kid": certificate_id}
        assertion = jws.serialize_compact(header, payload, signing_key(key), algorithms=["ES256"])
        response = shared_caller.token(assertion)
        assert oauth_error(response) == (
            401,
            "invalid_client",
            "The client assertion payload nests arrays or objects deeper than 64 levels; sign a flat JSON "
            "object of claims.",
        )
        assert snapshot(shared_caller.emulator) == before
        # The certificate itself still works.
        assert shared_caller.token(shared_caller.assertion(key, certificate_id)).status_code == 200

    @pytest.mark.parametrize("claim", ["NaN", "Infinity", "1e400", "-1"])
    def test_dates_no_clock_holds_are_refused(self, shared_caller: Caller, claim: str) -> None:
        """An iat of NaN, infinity, 1e400 or before 1970 is invalid_client, not a 500."""
        key, certificate_id = shared_caller.upload_ok()
        claims = json.dumps(shared_caller.claims()).replace('"iat": ', '"iat": ' + claim + ', "was": ')
        header = {"alg": "ES256", "typ": "JWT", "kid": certificate_id}
        assertion = jws.serialize_compact(header, claims.encode(), signing_key(key), algorithms=["ES256"])
        assert oauth_error(shared_caller.token(assertion)) == (
            401,
            "invalid_client",
            "The client assertion iat claim must be a date in Unix seconds (0 to 253402300799).",
        )
