"""Interop with a client nobody here wrote: @brokenrubik/netsuite-sdk (npm, pinned in node/package-lock.json)
runs unchanged against the emulator, its NetSuite hosts rewritten to the emulator at the transport only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from certrotor.crypto import (
    KeySpec,
    build_self_signed_certificate,
    certificate_to_pem,
    generate_private_key,
    private_key_to_pem,
)
from certrotor.emulator.testing import RunningEmulator

NODE_PROJECT = Path(__file__).parent / "node"
SDK = NODE_PROJECT / "node_modules" / "@brokenrubik" / "netsuite-sdk"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is missing: run `make system-deps` (or apt-get install nodejs npm)."
    assert SDK.is_dir(), "The SDK is not installed: run `make interop-deps` (npm ci in tests/interop/node)."
    return found


@pytest.fixture(scope="module")
def sdk_run(node: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the SDK script on a fresh emulator, with an RSA 3072 certificate uploaded as in the UI."""
    from certrotor.emulator.testing import serve_emulator

    folder = tmp_path_factory.mktemp("interop")
    key = generate_private_key(KeySpec.RSA_3072)
    key_file = folder / "private.pem"
    key_file.write_bytes(private_key_to_pem(key))
    key_file.chmod(0o600)
    upload_key = generate_private_key(KeySpec.EC_P256)
    upload_file = folder / "upload.pem"
    upload_file.write_text(
        certificate_to_pem(
            build_self_signed_certificate(upload_key, common_name="sdk upload", validity_days=90)
        )
    )
    with serve_emulator(folder / "emulator.db") as emulator:
        certificate = build_self_signed_certificate(key, common_name="sdk", validity_days=365)
        certificate_id = emulator.upload_certificate(certificate_to_pem(certificate))
        result = _run(node, emulator, certificate_id, key_file, upload_file)
        result["counters"] = emulator.counters()
        result["bootstrap_id"] = certificate_id
        return result


def _run(
    node: str, emulator: RunningEmulator, certificate_id: str, key_file: Path, upload_file: Path
) -> dict[str, Any]:
    tenant = emulator.tenant
    env = {
        "PATH": os.environ.get("PATH", ""),
        "EMULATOR_URL": emulator.base_url,
        "ACCOUNT_ID": tenant.account_id,
        "CLIENT_ID": tenant.client_id,
        "CERTIFICATE_ID": certificate_id,
        "PRIVATE_KEY_FILE": str(key_file),
        "UPLOAD_PEM_FILE": str(upload_file),
        "ENTITY_ID": str(tenant.entity_id),
        "ROLE_ID": str(tenant.role_id),
    }
    done = subprocess.run(
        [node, "interop.cjs"], cwd=NODE_PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class TestNetSuiteSDK:
    def test_tokens_come_from_the_rsa_key(self, sdk_run: dict[str, Any]) -> None:
        """The SDK's PS256 assertions (no jti, no sub, scope a string) obtain its tokens."""
        grants = sdk_run["counters"]["token_grants"]
        assert grants["client_credentials"] >= 2
        assert "token_refusals" not in sdk_run["counters"]

    def test_restlets_only_token_is_refused_on_the_certificate_endpoints(
        self, sdk_run: dict[str, Any]
    ) -> None:
        """Its default token for the restlets host carries only restlets: 403 as NetSuite answers."""
        assert sdk_run["restletsTokenOnCertificates"] == {
            "name": "NetSuiteAuthError",
            "status": 403,
            "code": "INSUFFICIENT_PERMISSION",
        }

    def test_lists_uploads_and_revokes(self, sdk_run: dict[str, Any]) -> None:
        """List shows the bootstrap certificate; upload gives an ID; revoke says so and the list agrees."""
        assert sdk_run["listedIds"] == [sdk_run["bootstrap_id"]]
        assert len(sdk_run["uploadedId"]) == 43
        assert sdk_run["revoked"] == "Successfully revoked"
        assert sdk_run["revokedFlag"] is True

    def test_record_v1_and_suiteql(self, sdk_run: dict[str, Any]) -> None:
        """getRecord, createRecord (ID from Location), updateRecord, paging, SuiteQL, metadata, delete."""
        assert sdk_run["customer"] == {"id": "42", "companyName": "Acme Corporation"}
        assert sdk_run["created"] == {"id": "1000", "success": True}
        assert sdk_run["updatedEmail"] == "ops@interop.example"
        assert sdk_run["listPage"] == {"count": 2, "hasMore": True, "totalResults": 3}
        assert sdk_run["allCustomers"] == 3
        assert sdk_run["suiteql"] == [{"links": [], "id": "1000", "companyname": "Interop Ltd"}]
        assert sdk_run["metadata"] == ["customer", "employee", "salesOrder"]
        assert sdk_run["afterDelete"]["status"] == 404

    def test_both_netsuite_hosts_were_called(self, sdk_run: dict[str, Any]) -> None:
        """The SDK addressed NetSuite's own hosts; only the transport sent them to the emulator."""
        assert sdk_run["hosts"] == ["restlets", "suitetalk"]
