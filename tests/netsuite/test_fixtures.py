"""The Jest fixtures' expected facts are what certrotor's Python code reads from the fixture certificates."""

from __future__ import annotations

import json

from ._fixtures import FIXTURES, expected_facts


class TestJestFixtures:
    def test_expected_facts_match_certrotor(self) -> None:
        """expected.json (which the JavaScript reader is held to) agrees with certrotor's own reading."""
        committed = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
        assert committed == expected_facts()

    def test_fixtures_cover_the_refusals(self) -> None:
        """Weak RSA, a foreign curve, Ed25519, the placeholder and a PKCS#12 file are all there."""
        names = {p.name for p in FIXTURES.iterdir()}
        assert {"rsa1024_weak.pem", "ec_secp256k1.pem", "ed25519.pem", "openair-certificate.pem"} <= names
        assert "rsa3072.p12.b64" in names
