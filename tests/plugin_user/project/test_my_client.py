"""An outside project's tests: its own M2M client (PyJWT, httpx2) against the `netsuite_emulator` fixture.

Nothing from certrotor is imported: the fixture arrives through pytest's plugin mechanism.
"""

import datetime as dt
import time
import uuid

import httpx2
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def new_certificate():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "my integration")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


def my_token(token_url, client_id, certificate_id, key, scope="rest_webservices"):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "scope": scope,
        "aud": token_url,
        "iat": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }
    assertion = jwt.encode(claims, key, algorithm="ES256", headers={"kid": certificate_id})
    return httpx2.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


class TestMyClient:
    def test_token_then_a_record(self, netsuite_emulator):
        """My client obtains a token and reads customer 42."""
        key, pem = new_certificate()
        certificate_id = netsuite_emulator.upload_certificate(pem)
        answer = my_token(
            netsuite_emulator.endpoints.token_url, netsuite_emulator.tenant.client_id, certificate_id, key
        )
        assert answer.status_code == 200
        record = httpx2.get(
            netsuite_emulator.endpoints.record_url("customer/42"),
            headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
        )
        assert record.json()["companyName"] == "Acme Corporation"

    def test_scope_not_ticked_is_refused(self, netsuite_emulator):
        """With only RESTlets ticked on the integration record, my REST token request is refused."""
        key, pem = new_certificate()
        certificate_id = netsuite_emulator.upload_certificate(pem)
        netsuite_emulator.set_integration(scopes=["restlets"])
        answer = my_token(
            netsuite_emulator.endpoints.token_url, netsuite_emulator.tenant.client_id, certificate_id, key
        )
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_scope")

    def test_outage_is_a_503(self, netsuite_emulator):
        """The fault controls make the token endpoint fail as NetSuite would in an outage."""
        key, pem = new_certificate()
        certificate_id = netsuite_emulator.upload_certificate(pem)
        netsuite_emulator.set_faults(error_rate=1.0)
        answer = my_token(
            netsuite_emulator.endpoints.token_url, netsuite_emulator.tenant.client_id, certificate_id, key
        )
        assert answer.status_code == 503
