"""What the store hands out: plain frozen records and the enums of their states, free of sessions.

Nothing here holds a secret: private keys and management tokens stay sealed in the database and
come out only through :meth:`certrotor.store.Store.load_private_key` and ``management_token``.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from certrotor.crypto import KeySpec, load_certificate_pem

DEFAULT_SCOPES = ("restlets", "rest_webservices")
DEFAULT_VALIDITY_SECONDS = 730 * 86400
DEFAULT_RENEW_BEFORE_MIN_SECONDS = 7 * 86400
DEFAULT_RENEW_BEFORE_MAX_SECONDS = 14 * 86400
DEFAULT_GRACE_SECONDS = 86400


class CredentialKind(enum.StrEnum):
    """An M2M client certificate (seed 000) or a NetSuite certificate record (seed 004)."""

    M2M = "m2m"
    RECORD = "record"


class Strategy(enum.StrEnum):
    """How a rotation swaps certificates; ``auto`` is resolved from the server's answer."""

    AUTO = "auto"
    OVERLAP = "overlap"
    REPLACE = "replace"


class RecordMode(enum.StrEnum):
    """What certrotor does with a certificate record: write new certificates, or only watch it.

    ``monitor`` is for a record that another system rotates (OpenAir's connector rotates
    ``custcertificate_oa_realtime`` itself); ``rotate`` for systems that play OpenAir's part.
    """

    ROTATE = "rotate"
    MONITOR = "monitor"


class AuthMode(enum.StrEnum):
    """How management calls authenticate: the credential's own certificate, another one, or a token."""

    SELF = "self"
    CREDENTIAL = "credential"
    TOKEN = "token"


class VersionState(enum.StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"
    CURRENT = "current"
    PREVIOUS = "previous"
    REVOKED = "revoked"
    FAILED = "failed"


class RotationTrigger(enum.StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RECOVERY = "recovery"
    EMERGENCY = "emergency"
    """The current certificate is revoked, missing or expired on NetSuite: replaced at once."""


class RotationStep(enum.StrEnum):
    """Journal steps; ``done`` and ``failed`` are final and set only by ``finish_rotation``."""

    PREPARE = "prepare"
    UPLOAD = "upload"
    VERIFY = "verify"
    ACTIVATE = "activate"
    DELIVER = "deliver"
    RETIRE = "retire"
    DONE = "done"
    FAILED = "failed"


FINAL_STEPS = frozenset({RotationStep.DONE, RotationStep.FAILED})


class EventOutcome(enum.StrEnum):
    OK = "ok"
    ERROR = "error"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialSpec:
    """Everything needed to add a credential; the account is created on first use."""

    name: str
    account_id: str
    client_id: str
    entity_id: int
    role_id: int
    kind: CredentialKind = CredentialKind.M2M
    base_url: str | None = None
    """``None`` keeps the account's base URL (derived from the account ID when never given)."""
    verify_tls: bool | None = None
    """``None`` keeps the account's setting (on for a new account)."""
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    key_spec: KeySpec = KeySpec.EC_P256
    validity_seconds: int = DEFAULT_VALIDITY_SECONDS
    renew_before_min_seconds: int = DEFAULT_RENEW_BEFORE_MIN_SECONDS
    renew_before_max_seconds: int = DEFAULT_RENEW_BEFORE_MAX_SECONDS
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    strategy: Strategy = Strategy.AUTO
    auth_mode: AuthMode = AuthMode.SELF
    auth_credential: str | None = None
    """Name of the credential whose certificate authenticates management calls (``credential`` mode)."""
    management_token: str | None = field(default=None, repr=False)
    """A bootstrap access token; sealed at rest like private keys."""
    hook_command: str | None = field(default=None, repr=False)
    delivery_dir: str | None = None
    record_script_id: str | None = None
    record_name: str | None = None
    record_mode: RecordMode | None = None
    """Record credentials: ``None`` chooses ``monitor`` for OpenAir's own record, else ``rotate``."""
    restlet_script_id: str | None = None
    """Record credentials: the records RESTlet's script ID (``None``: the SuiteCloud project's)."""
    restlet_deploy_id: str | None = None
    """Record credentials: its deployment, numeric or its script ID (``None``: the project's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    id: int
    account_id: str
    base_url: str | None
    verify_tls: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """A credential as stored, with its account flattened in; never carries a secret."""

    id: int
    name: str
    kind: CredentialKind
    account_id: str
    base_url: str | None
    verify_tls: bool
    client_id: str
    entity_id: int
    role_id: int
    scopes: tuple[str, ...]
    key_spec: KeySpec
    validity_seconds: int
    renew_before_min_seconds: int
    renew_before_max_seconds: int
    grace_seconds: int
    strategy: Strategy
    resolved_strategy: Strategy | None
    auth_mode: AuthMode
    auth_credential_name: str | None
    has_management_token: bool
    hook_command: str | None = field(repr=False)
    delivery_dir: str | None
    record_script_id: str | None
    record_name: str | None
    next_rotation_at: dt.datetime | None
    failed_attempts: int
    last_error: str | None
    last_rotation_at: dt.datetime | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    record_mode: RecordMode | None = None
    """``rotate`` or ``monitor`` for a record credential; ``None`` for an M2M one."""
    restlet_script_id: str | None = None
    restlet_deploy_id: str | None = None

    @property
    def watches_only(self) -> bool:
        """A record credential in ``monitor`` mode: certrotor never writes its record."""
        return self.kind is CredentialKind.RECORD and self.record_mode is RecordMode.MONITOR

    @property
    def validity(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.validity_seconds)

    @property
    def renew_before_min(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.renew_before_min_seconds)

    @property
    def renew_before_max(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.renew_before_max_seconds)

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.grace_seconds)

    @property
    def effective_strategy(self) -> Strategy | None:
        """The configured strategy, or the one resolved for ``auto`` (``None`` if not yet known)."""
        return self.strategy if self.strategy is not Strategy.AUTO else self.resolved_strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateVersion:
    """One key pair and certificate of a credential; the private key stays sealed in the store."""

    id: str
    credential_id: int
    state: VersionState
    certificate_id: str | None
    fingerprint_sha256: str
    certificate_pem: str = field(repr=False)
    algorithm: str
    """The JWS algorithm of the key (``ES256``, ``PS256``, ...)."""
    not_before: dt.datetime
    not_after: dt.datetime
    created_at: dt.datetime
    activated_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def certificate(self) -> x509.Certificate:
        return load_certificate_pem(self.certificate_pem)

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when < self.not_after


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    """One journaled rotation; unfinished (``finished_at is None``) until ``finish_rotation``."""

    id: int
    credential_id: int
    trigger: RotationTrigger
    strategy: Strategy
    step: RotationStep
    new_version_id: str | None
    old_version_id: str | None
    retire_after: dt.datetime | None
    started_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None
    token_prefetched_at: dt.datetime | None = None
    """Replace strategy: when a fresh token was fetched with the old certificate before revoking it."""

    @property
    def is_open(self) -> bool:
        return self.finished_at is None

    @property
    def token_prefetched(self) -> bool:
        return self.token_prefetched_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One append-only audit record."""

    id: int
    credential_id: int | None
    credential_name: str | None
    at: dt.datetime
    actor: str
    action: str
    outcome: EventOutcome
    detail: dict[str, Any]
