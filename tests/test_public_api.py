"""certrotor's public Python API: what ``import certrotor`` offers; quiet as a library."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import certrotor
from certrotor.emulator.testing import RunningEmulator

PUBLIC_NAMES = [
    "BearerTokenAuth",
    "CertrotorError",
    "DeliveredCredential",
    "M2MAuth",
    "NetSuiteClient",
    "NetSuiteEndpoints",
    "__version__",
    "read_delivered",
]

_APPLICATION = textwrap.dedent(
    """
    import sys

    from certrotor import BearerTokenAuth, M2MAuth, NetSuiteClient, NetSuiteEndpoints
    from certrotor.crypto import KeySpec, build_self_signed_certificate, certificate_to_pem
    from certrotor.crypto import generate_private_key

    base_url, account, client_id, entity, role, admin_token = sys.argv[1:]
    endpoints = NetSuiteEndpoints.for_account(account, base_url)
    key = generate_private_key(KeySpec.parse("ec-p256"))
    certificate = certificate_to_pem(build_self_signed_certificate(key, common_name="app", validity_days=30))
    with NetSuiteClient(endpoints, client_id=client_id, auth=BearerTokenAuth(admin_token)) as admin:
        uploaded = admin.upload_certificate(certificate, entity=entity, role=role)
        assert any(c.certificate_id == uploaded.certificate_id for c in admin.list_certificates())
    auth = M2MAuth(endpoints.token_url, client_id, uploaded.certificate_id, key, ["rest_webservices"])
    with NetSuiteClient(endpoints, client_id=client_id, auth=auth) as client:
        for _ in range(3):
            client.call_protected("employee/7")
    {extra}
    """
)


def _run_application(emulator: RunningEmulator, extra: str = "") -> subprocess.CompletedProcess[str]:
    tenant = emulator.tenant
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTROTOR_")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            _APPLICATION.format(extra=extra),
            emulator.base_url,
            tenant.account_id,
            tenant.client_id,
            str(tenant.entity_id),
            str(tenant.role_id),
            tenant.admin_token,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestPublicNames:
    def test_all_is_pinned_and_sorted(self) -> None:
        """``certrotor.__all__`` is exactly the documented names, sorted, and each one resolves."""
        assert certrotor.__all__ == PUBLIC_NAMES
        assert sorted(certrotor.__all__) == certrotor.__all__
        for name in certrotor.__all__:
            assert getattr(certrotor, name) is not None

    def test_an_unknown_name_is_an_attribute_error(self) -> None:
        """A name outside the API raises AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="NoSuchThing"):
            certrotor.NoSuchThing  # noqa: B018


class TestQuietLibrary:
    def test_an_application_without_logging_sees_no_output(self, emulator: RunningEmulator) -> None:
        """Uploading, listing, a token and three REST calls print nothing on stdout or stderr."""
        completed = _run_application(emulator)

        assert completed.returncode == 0, completed.stderr
        assert (completed.stdout, completed.stderr) == ("", "")

    def test_an_application_that_configures_logging_gets_certrotor_records(
        self, emulator: RunningEmulator
    ) -> None:
        """With ``logging.basicConfig(level=DEBUG)`` the client's records arrive as stdlib records."""
        completed = _run_application(
            emulator,
            "import logging\nlogging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format='%(name)s')\n"
            "with NetSuiteClient(endpoints, client_id=client_id, auth=auth) as again:\n"
            "    again.call_protected('employee/7')",
        )

        assert completed.returncode == 0, completed.stderr
        # Only records emitted after basicConfig: the extra call's request and response.
        ours = [line for line in completed.stdout.splitlines() if line.startswith("certrotor")]
        assert ours == ["certrotor.client._http", "certrotor.client._http"]
        assert completed.stderr == ""
