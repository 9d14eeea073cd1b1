"""The one error tree of certrotor: every failure a user can meet, each with what to do next.

Callers catch by meaning, never by message text::

    CertrotorError                      base: ``code`` (machine), ``message`` (human), ``hint`` (fix)
    ├── ConfigError                     bad settings, unknown base URL, missing bootstrap token
    │   └── NoManagementAccessError     no certificate or token can authenticate management calls
    ├── InputError                      bad input from a user or a file
    │   └── CertificateError            malformed PEM, key given for a certificate, weak key, ...
    ├── StoreError                      local database problems
    │   ├── NotFoundError               unknown credential, account or version
    │   ├── AlreadyExistsError          a name that is already taken
    │   ├── MasterKeyError              wrong or missing master key: a key cannot be decrypted
    │   │   └── TamperedDataError       right master key, but a sealed row was altered or moved
    │   └── LeaseLostError              another daemon took over this credential
    │       └── CredentialBusyError     another process holds the credential's lease (claim refused)
    ├── RemoteError                     anything NetSuite (or the emulator) answered badly
    │   ├── RemoteUnavailableError      transport failure, timeout, 429 or 5xx after retries
    │   │   └── UntrustedServerError    the server's TLS certificate failed verification (nothing sent)
    │   ├── NetSuiteAPIError            a REST error body with ``o:errorDetails``
    │   │   ├── AuthenticationError     401: the bearer token is missing, expired or forged
    │   │   ├── PermissionDeniedError   403: the role may not manage certificates
    │   │   └── RemoteNotFoundError     404: unknown client, certificate or record
    │   │       └── RecordNotFoundError Certificate "custcertificate_..." not found (seed 004)
    │   ├── TokenRequestError           RFC 6749 error from the token endpoint
    │   └── UploadOutcomeUnknown        an upload got no clear answer: list before uploading again
    ├── RotationError                   a rotation step could not complete
    │   └── VerificationError           the new certificate could not obtain a token
    ├── DeliveryError                   the key and certificate files could not be written
    ├── SignatureError                  an inbound signed request was refused
    └── LoginError                      the authorization code grant (``certrotor login``) failed

No message, repr or hint may contain a private key or a token: build them from identifiers only.
"""

from __future__ import annotations


class CertrotorError(Exception):
    """Base of every error certrotor raises on purpose."""

    code: str = "error"
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} Fix: {self.hint}"
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigError(CertrotorError):
    code = "config"


class NoManagementAccessError(ConfigError):
    """Every way to authenticate certificate management failed; the hint names the repairing command."""

    code = "no_management_access"


class InputError(CertrotorError):
    code = "invalid_input"


class CertificateError(InputError):
    code = "invalid_certificate"


class StoreError(CertrotorError):
    code = "store"


class NotFoundError(StoreError):
    code = "not_found"


class AlreadyExistsError(StoreError):
    code = "already_exists"


class MasterKeyError(StoreError):
    code = "master_key"
    default_hint = (
        "use the master key this store was created with (CERTROTOR_MASTER_KEY or the key file "
        "named by CERTROTOR_MASTER_KEY_FILE)."
    )


class TamperedDataError(MasterKeyError):
    """The master key is right but a sealed secret fails authentication (altered or moved row)."""

    code = "tampered"
    default_hint = "the database row was altered; restore it from a backup."


class LeaseLostError(StoreError):
    code = "lease_lost"
    default_hint = "another certrotor process now holds this credential; nothing to do."


class CredentialBusyError(LeaseLostError):
    """A claim was refused because another process holds a live lease on the credential."""

    code = "credential_busy"
    default_hint = "another certrotor process is rotating it; wait for it to finish and retry."


class RemoteError(CertrotorError):
    code = "remote"


class RemoteUnavailableError(RemoteError):
    code = "unavailable"
    default_hint = "check the base URL and network; certrotor retries safe calls on its own."


class UntrustedServerError(RemoteUnavailableError):
    """The server's TLS certificate failed verification: a trust problem, not the network; nothing sent."""

    code = "untrusted_server"
    default_hint = (
        "if the server is genuine, add its certificate authority to the CA bundle that SSL_CERT_FILE "
        "names (default: the system's); for a test server only, turn verification off for its account "
        "with `certrotor credential set NAME --insecure`."
    )


class NetSuiteAPIError(RemoteError):
    """A NetSuite REST error (``o:errorDetails``), carrying NetSuite's own words."""

    code = "netsuite"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.error_code = error_code


class AuthenticationError(NetSuiteAPIError):
    code = "unauthenticated"
    default_hint = (
        "obtain a new management token (`certrotor login` or --token) or check that the "
        "credential's current certificate is valid (`certrotor health`)."
    )


class PermissionDeniedError(NetSuiteAPIError):
    code = "forbidden"
    default_hint = (
        "use a role with the Administrator role or the 'OAuth 2.0 Authorized Applications "
        "Management' permission."
    )


class RemoteNotFoundError(NetSuiteAPIError):
    code = "remote_not_found"


class RecordNotFoundError(RemoteNotFoundError):
    code = "record_not_found"


class TokenRequestError(RemoteError):
    """The token endpoint refused the request (RFC 6749 section 5.2)."""

    code = "token_refused"

    def __init__(
        self,
        message: str,
        *,
        error: str,
        status_code: int,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.error = error
        self.status_code = status_code


class UploadOutcomeUnknown(RemoteError):  # noqa: N818 - reads as the state it reports
    """An upload was sent but got no clear answer (transport error or 5xx): it may or may not exist.

    Never upload again blindly: list the certificates and adopt the one that matches first.
    """

    code = "upload_outcome_unknown"
    default_hint = (
        "list the certificates (`certrotor list`) and adopt the one with this certificate's "
        "fingerprint before uploading again; the rotation service does this by itself."
    )


class RotationError(CertrotorError):
    code = "rotation"


class VerificationError(RotationError):
    code = "verification_failed"


class DeliveryError(CertrotorError):
    """Writing the current key, certificate or metadata into the delivery directory failed."""

    code = "delivery_failed"
    default_hint = "check that the delivery directory exists on a writable disk with free space."


class SignatureError(CertrotorError):
    """An inbound signed request was refused; ``reason`` is a short machine word."""

    code = "bad_signature"

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class LoginError(CertrotorError):
    """The authorization code grant failed; ``reason`` is a short machine word.

    Reasons: ``access_denied`` (the user declined), ``state_mismatch`` (a redirect that this
    login did not start), ``timeout`` (no redirect in time), ``missing_code``, ``server_error``.
    """

    code = "login_failed"

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
