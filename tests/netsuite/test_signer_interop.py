"""Cross-language: the SuiteScript signer, run by Node, makes requests certrotor's receiver accepts.

``netsuite/tools/sign_import.js`` runs ``realtime_import_signer.js`` with ``N/crypto/certificate``
signing through ``node:crypto`` with a test key; the Python receiver verifies the query it sends.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from certrotor.crypto import (
    KeySpec,
    build_self_signed_certificate,
    generate_private_key,
    private_key_to_pem,
)
from certrotor.errors import SignatureError
from certrotor.protocol.signed_import import IMPORT_PATH
from certrotor.receiver import ReplayCache, Verifier, verify_import_request

NODE = shutil.which("node")
SIGN_IMPORT = Path(__file__).resolve().parents[2] / "netsuite" / "tools" / "sign_import.js"
RECEIVER = "https://receiver.invalid/openair"
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (`make system-deps` installs it)")


def _signed_by_node(key_pem: str, fields: dict[str, str]) -> dict[str, str]:
    assert NODE is not None
    request = {
        "key_pem": key_pem,
        "cert_id": "custcertificate_oa_realtime",
        "receiver_url": RECEIVER,
        "fields": fields,
    }
    finished = subprocess.run(
        [NODE, str(SIGN_IMPORT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    answer: dict[str, str] = json.loads(finished.stdout)
    return answer


def _fields(now: dt.datetime) -> dict[str, str]:
    return {
        "action": "synchronize",
        "db_id": "ACME Corp/1",
        "record_type": "customer",
        "ns_id": "1001",
        "netsuite_user_id": "-5",
        "timestamp": str(int(now.timestamp())),
    }


def _plain_char_at(text: str, index: int) -> int:
    """The first index from ``index`` on holding a letter or digit outside a ``%XX`` escape.

    Changing a percent-escape of the URL-encoded signature would make it unreadable (``malformed``)
    rather than wrong, which is not what the test is about.
    """
    while not text[index].isalnum() or "%" in text[max(index - 2, 0) : index + 1]:
        index += 1
    return index


def _flip(text: str, index: int) -> str:
    """``text`` with one byte changed at ``index`` (to another character of the same kind)."""
    char = text[index]
    replacement = "B" if char == "A" else "A" if char.isalpha() else "7" if char != "7" else "8"
    return text[:index] + replacement + text[index + 1 :]


@pytest.fixture(params=[KeySpec.parse("ec-p256"), KeySpec.parse("rsa-3072")], ids=["ecdsa", "rsa"])
def signing_pair(request: pytest.FixtureRequest) -> tuple[str, Verifier]:
    key = generate_private_key(request.param)
    certificate = build_self_signed_certificate(key, common_name="interop", validity_days=30)
    return private_key_to_pem(key).decode("ascii"), Verifier(certificate=certificate, role="current")


class TestSignerInterop:
    def test_receiver_accepts_what_the_suitescript_signer_sends(
        self, signing_pair: tuple[str, Verifier]
    ) -> None:
        """A request signed by the SuiteScript module verifies in certrotor's receiver."""
        key_pem, verifier = signing_pair
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        sent = _signed_by_node(key_pem, _fields(now))
        assert sent["url"] == f"{RECEIVER}{IMPORT_PATH}?{sent['query']}"
        accepted = verify_import_request(sent["query"], [verifier], now=now, replay_cache=ReplayCache())
        assert accepted.params == _fields(now)
        assert accepted.verifier is verifier

    def test_receiver_refuses_it_after_one_changed_byte(self, signing_pair: tuple[str, Verifier]) -> None:
        """Changing one byte of the signed part, or of the signature, makes the receiver refuse it."""
        key_pem, verifier = signing_pair
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        query = _signed_by_node(key_pem, _fields(now))["query"]
        rsa = isinstance(verifier.certificate.public_key(), RSAPublicKey)
        changes = {
            query.index("ns_id=") + len("ns_id="): "tampered" if rsa else "bad_signature",
            _plain_char_at(query, query.index("&signature=") + len("&signature=") + 10): (
                "unknown_key" if rsa else "bad_signature"
            ),
        }
        for index, reason in changes.items():
            with pytest.raises(SignatureError) as refused:
                verify_import_request(_flip(query, index), [verifier], now=now, replay_cache=ReplayCache())
            assert refused.value.reason == reason
