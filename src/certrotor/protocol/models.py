"""JSON shapes of NetSuite's certificate, token and error answers, named exactly as the seed prints them.

The seed samples in ``shared/vectors/`` parse with these models byte for byte; the emulator answers
with them, so the field names and JSON types on both sides cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

REVOKE_SUCCESS_TEXT = "Successfully revoked"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_AUTHORIZATION_CODE = "authorization_code"
SCOPES = ("restlets", "rest_webservices", "suite_analytics")
ASSERTION_ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""The client assertion algorithms NetSuite accepts; RS256 is not among them."""
MAX_ASSERTION_LIFETIME_SECONDS = 3600
ACCESS_TOKEN_LIFETIME_SECONDS = 3600
ACCESS_TOKEN_ISSUER = "https://system.netsuite.com"


_NUMERIC_ID = re.compile(r"-?[0-9]+")


def _numeric_id(value: Any) -> int:
    """NetSuite ids arrive as numbers or numeric strings (Oracle's own example: ``"-5"``)."""
    if isinstance(value, bool):
        raise ValueError("must be a number or a numeric string, not a boolean")
    if isinstance(value, int):
        return value
    # ASCII digits with at most one leading minus: str.isdigit() alone would let "٣" or "²" through.
    if isinstance(value, str) and _NUMERIC_ID.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError("must be a number or a numeric string")


NumericId = Annotated[int, BeforeValidator(_numeric_id)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class UploadCertificateRequest(_Model):
    """Body of ``POST .../clients/{clientId}/certificates``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    file_content: str = Field(alias="fileContent", min_length=1)
    role: NumericId
    entity: NumericId

    def to_wire(self) -> dict[str, Any]:
        return {"fileContent": self.file_content, "role": self.role, "entity": self.entity}


class EntityRoleId(_Model):
    com: str
    ent: int
    rol: int


class UploadCertificateResponse(_Model):
    """Answer to an upload.

    Oracle's documented variant adds ``application_id`` and drops ``installation_id`` and ``valid``.
    """

    entity_role_id: EntityRoleId
    certificate_id: str
    certificate: str
    algorithm: str
    created_at: dt.date
    valid_from: dt.date
    valid_until: dt.date
    invalidated: bool
    installation_id: int | None = None
    valid: bool | None = None
    application_id: str | None = None


class ApplicationRef(_Model):
    id: int
    name: str
    url: str
    application_id: str


class EntityRef(_Model):
    id: int
    name: str
    entity_type: str
    url: str


class RoleRef(_Model):
    id: int
    name: str
    url: str


class CertificateListItem(_Model):
    """One element of the list answer."""

    application: ApplicationRef
    entity: EntityRef
    role: RoleRef
    created: dt.date
    valid_from: dt.date
    valid_until: dt.date
    revoked: bool
    certificate_id: str
    algorithm: str


class TokenResponse(_Model):
    access_token: str = Field(repr=False)
    expires_in: int
    token_type: str
    refresh_token: str | None = Field(default=None, repr=False)
    scope: str | None = None


class OAuthErrorBody(_Model):
    """RFC 6749 section 5.2 error answer."""

    error: str
    error_description: str | None = None


class NetSuiteErrorDetail(_Model):
    detail: str
    error_code: str = Field(alias="o:errorCode")


class NetSuiteErrorBody(_Model):
    """NetSuite's REST error format."""

    type: str
    title: str
    status: int
    error_details: list[NetSuiteErrorDetail] = Field(alias="o:errorDetails")

    @property
    def message(self) -> str:
        return "; ".join(d.detail for d in self.error_details) or self.title

    @property
    def error_code(self) -> str | None:
        return self.error_details[0].error_code if self.error_details else None


def parse_scopes(value: object) -> list[str]:
    """Scopes as a JSON list or a comma (or space) separated string, as NetSuite accepts both."""
    if isinstance(value, str):
        items = [s for s in value.replace(",", " ").split() if s]
    elif isinstance(value, list) and all(isinstance(s, str) for s in value):
        items = [s.strip() for s in value if s.strip()]
    else:
        raise ValueError("scope must be a list of strings or a comma separated string")
    return items
