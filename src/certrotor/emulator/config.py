"""The emulator's behaviour knobs: NetSuite's limits (configurable where uncertain) and injected faults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from certrotor.emulator.bounds import MAX_LIFETIME_SECONDS

# NetSuite's two caps on active (unrevoked, unexpired) certificates, the defaults of the settings
# below; ``state/certificates.py`` (``_check_caps``) enforces them at upload, with NetSuite's refusal.
ACTIVE_CERTIFICATES_PER_INTEGRATION = 5
"""NetSuite: at most five active certificates per integration record (documented as of 2026.1)."""
ACTIVE_CERTIFICATES_PER_COMBINATION: int | None = None
"""Per (integration, entity, role): NetSuite documents none, so none; ``1`` forces revoke-then-upload."""
LIMIT_ERROR_CODE = "CERTIFICATE_LIMIT_REACHED"
"""The emulator's own code for a refusal at a cap; real NetSuite's is not documented (a setting)."""
ORACLE_CONTENT_TYPE = "application/vnd.oracle.resource+json"
"""The content type clients in production report on NetSuite's JSON answers."""

AudienceRule = Literal["strict", "lenient"]
"""How an assertion's ``aud`` is compared with the token endpoint URL (see ``audience_rule``)."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest body limit that may be set: the middleware holds a whole body in memory."""
MAX_CAP = 1_000_000
"""The largest certificate cap that may be set (more than any integration could hold)."""

FAULT_FIELDS = frozenset(
    {
        "error_rate",
        "error_status",
        "rate_limit_rate",
        "retry_after_seconds",
        "slow_seconds",
        "slow_rate",
        "drop_rate",
        "after_commit_error_rate",
        "after_commit_drop_rate",
        "max_faults",
        "fault_seed",
    }
)
"""The fields of :class:`EmulatorConfig` that ``/_emulator/faults`` reads and changes."""


class EmulatorConfig(BaseModel):
    """How strict the emulator is and which faults it injects; changeable at runtime (admin API).

    Faults apply to the token endpoint and the certificate endpoints only. ``error_rate``,
    ``rate_limit_rate`` and ``drop_rate`` strike *before* the request is handled (nothing is
    stored); ``after_commit_error_rate`` and ``after_commit_drop_rate`` strike *after* a successful
    upload or revoke was stored, so the client never learns that it worked: that is how duplicate
    uploads are provoked.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    clock_tolerance_seconds: int = Field(default=60, ge=0, le=3600)
    """Leeway for ``iat``/``exp``/``nbf`` of client assertions (clock skew between hosts)."""
    max_active_per_integration: int = Field(default=ACTIVE_CERTIFICATES_PER_INTEGRATION, ge=1, le=MAX_CAP)
    """Cap of active certificates per integration record (see ``ACTIVE_CERTIFICATES_PER_INTEGRATION``)."""
    max_active_per_combination: int | None = Field(
        default=ACTIVE_CERTIFICATES_PER_COMBINATION, ge=1, le=MAX_CAP
    )
    """Cap per (integration, entity, role); ``None`` is no cap, ``1`` models revoke-then-upload."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=MAX_BODY_BYTES)
    token_lifetime_seconds: int = Field(default=3600, ge=1, le=86400)
    authorization_code_lifetime_seconds: int = Field(default=600, ge=1, le=MAX_LIFETIME_SECONDS)
    refresh_token_lifetime_seconds: int = Field(default=7 * 86400, ge=1, le=MAX_LIFETIME_SECONDS)
    require_jti: bool = False
    """Refuse assertions without ``jti``; otherwise a hash of the assertion guards against replay."""
    replay_without_jti: bool = True
    """The emulator's own rule, not NetSuite's documented one: an assertion without ``jti`` may not be
    sent twice (the same bytes are a replay). ``False`` accepts such a resend until it expires."""
    audience_rule: AudienceRule = "strict"
    """``strict``: ``aud`` must be the token endpoint URL (this server's, the account's NetSuite hosts or
    ``public_base_url``). ``lenient``: any ``aud`` that contains such a URL, as NetSuite appears to accept
    (clients in production send malformed ones)."""
    public_base_url: str | None = None
    """Extra base URL accepted in an assertion's ``aud`` (e.g. behind a proxy)."""
    dash_certificate_ids: bool = False
    """Make every new certificate ID begin with ``-`` (real ones sometimes do) to test CLIs."""
    limit_error_code: str = Field(default=LIMIT_ERROR_CODE, pattern=r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
    """The error code of an upload refused at a cap: any other code plays real NetSuite's unknown one."""
    plain_text_errors: bool = False
    """Answer the certificate endpoints' and the records RESTlet's errors as plain text (NetSuite's
    words only), as clients in production report."""
    oracle_content_type: bool = False
    """Answer their JSON successes with ``application/vnd.oracle.resource+json``."""

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability of a 5xx answer before handling."""
    error_status: int = Field(default=503, ge=500, le=599)
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability of a 429 answer with ``Retry-After``."""
    retry_after_seconds: int = Field(default=1, ge=0, le=3600)
    slow_seconds: float = Field(default=0.0, ge=0.0, le=120.0)
    """Delay added to a request picked with ``slow_rate``."""
    slow_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability of closing the connection without any answer, before handling."""
    after_commit_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability of a 5xx answer after an upload or revoke was stored."""
    after_commit_drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability of closing the connection after an upload or revoke was stored."""
    max_faults: int | None = Field(default=None, ge=0, le=2**63 - 1)
    """Stop injecting faults after this many (``None``: no limit)."""
    fault_seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    """Seed of the fault dice, for reproducible runs."""

    @model_validator(mode="after")
    def _check_rates(self) -> EmulatorConfig:
        before = self.error_rate + self.rate_limit_rate + self.drop_rate
        after = self.after_commit_error_rate + self.after_commit_drop_rate
        if before > 1.0 or after > 1.0:
            raise ValueError("fault probabilities of one phase must add up to at most 1")
        return self

    @property
    def faults_enabled(self) -> bool:
        return any(
            (
                self.error_rate,
                self.rate_limit_rate,
                self.drop_rate,
                self.slow_seconds,
                self.after_commit_error_rate,
                self.after_commit_drop_rate,
            )
        )

    def faults(self) -> dict[str, Any]:
        """The fault settings alone, as the admin endpoint shows them."""
        return self.model_dump(include=set(FAULT_FIELDS))

    def updated(self, **changes: Any) -> EmulatorConfig:
        """A validated copy with ``changes`` applied (unknown names are refused)."""
        return EmulatorConfig.model_validate({**self.model_dump(), **changes})
