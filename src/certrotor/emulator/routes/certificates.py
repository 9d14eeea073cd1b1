"""The certificate endpoints of seed 000: upload, list and revoke, in exactly the seed's shapes.

Checks in NetSuite's order: token (401 ``INVALID_LOGIN``), permission (403), client (404), then
the body (400): JSON, a well-formed certificate of an accepted key that has not expired, mapped
(entity, role), no duplicate, caps. Answers are built with ``certrotor.protocol.models``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from certrotor.crypto import (
    MAX_VALIDITY_DAYS,
    check_certificate_usable,
    fingerprint_sha256,
    load_certificate_pem,
    utcnow,
)
from certrotor.emulator.problems import INVALID_CERTIFICATE, INVALID_CONTENT, NetSuiteRefusalError
from certrotor.emulator.routes.common import (
    authenticate_manager,
    bearer_scheme,
    error_responses,
    get_runtime,
    parse_json_body,
)
from certrotor.emulator.runtime import EmulatorRuntime
from certrotor.emulator.state import NewCertificate, StoredCertificate
from certrotor.errors import CertificateError
from certrotor.protocol.models import (
    REVOKE_SUCCESS_TEXT,
    ApplicationRef,
    CertificateListItem,
    EntityRef,
    EntityRoleId,
    RoleRef,
    UploadCertificateRequest,
    UploadCertificateResponse,
)
from certrotor.protocol.urls import CERTIFICATES_PATH, REVOKE_PATH

router = APIRouter(tags=["certificates"])

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

_NUMERIC_ID_SCHEMA = {
    "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}],
}
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["fileContent", "role", "entity"],
                "properties": {
                    "fileContent": {"type": "string", "minLength": 1, "description": "PEM certificate"},
                    "role": _NUMERIC_ID_SCHEMA,
                    "entity": _NUMERIC_ID_SCHEMA,
                },
            }
        }
    },
}


async def request_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(request_body)]


def _validation_message(error: ValidationError) -> str:
    """One readable sentence per problem, naming the wire field names."""
    messages = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        if problem["type"] == "missing":
            messages.append(f"The field {field} is missing.")
        elif problem["type"] == "extra_forbidden":
            messages.append(f"The field {field} is not allowed.")
        elif field in {"role", "entity"}:
            messages.append(f"The field {field} must be a number or a numeric string.")
        else:
            messages.append(f"The field {field} must be a non-empty string holding a PEM certificate.")
    return " ".join(messages)


def parse_upload(payload: Any) -> UploadCertificateRequest:
    if not isinstance(payload, dict):
        raise NetSuiteRefusalError(
            400,
            INVALID_CONTENT,
            "The request body must be a JSON object with fileContent, role and entity.",
        )
    try:
        return UploadCertificateRequest.model_validate(payload)
    except ValidationError as error:
        raise NetSuiteRefusalError(400, INVALID_CONTENT, _validation_message(error)) from None


def examine_certificate(file_content: str, *, now: dt.datetime) -> NewCertificate:
    """NetSuite's checks of ``fileContent``; a validity over two years is shortened, not refused."""
    if "PRIVATE KEY-----" in file_content:
        raise NetSuiteRefusalError(
            400,
            INVALID_CERTIFICATE,
            "The fileContent holds a private key; upload only the certificate "
            "(-----BEGIN CERTIFICATE-----) and keep the key secret.",
        )
    try:
        certificate = load_certificate_pem(file_content)
        info = check_certificate_usable(certificate, now=now, enforce_max_validity=False)
    except CertificateError as error:
        raise NetSuiteRefusalError(400, INVALID_CERTIFICATE, error.message) from None
    valid_until = min(info.not_after, info.not_before + dt.timedelta(days=MAX_VALIDITY_DAYS))
    return NewCertificate(
        pem=file_content,
        fingerprint=fingerprint_sha256(certificate),
        algorithm=info.key_type,
        valid_from=info.not_before,
        valid_until=valid_until,
    )


def upload_answer(stored: StoredCertificate, *, now: dt.datetime) -> dict[str, Any]:
    answer = UploadCertificateResponse(
        entity_role_id=EntityRoleId(
            com=stored.integration.account.company_id, ent=stored.entity.id, rol=stored.role.id
        ),
        certificate_id=stored.certificate_id,
        certificate=stored.pem,
        algorithm=stored.algorithm,
        created_at=stored.created_at.date(),
        valid_from=stored.valid_from.date(),
        valid_until=stored.valid_until.date(),
        invalidated=False,
        installation_id=stored.integration.internal_id,
        valid=stored.valid_from <= now < stored.valid_until,
    )
    return answer.model_dump(mode="json", exclude={"application_id"})


def list_item(stored: StoredCertificate) -> dict[str, Any]:
    integration, entity, role = stored.integration, stored.entity, stored.role
    item = CertificateListItem(
        application=ApplicationRef(
            id=integration.internal_id,
            name=integration.name,
            url=f"/app/common/integration/integrapp.nl?id={integration.internal_id}",
            application_id=integration.application_id,
        ),
        entity=EntityRef(
            id=entity.id,
            name=entity.name,
            entity_type=entity.entity_type,
            url=f"/app/common/entity/entity.nl?id={entity.id}",
        ),
        role=RoleRef(id=role.id, name=role.name, url=f"/app/setup/role.nl?id={role.id}"),
        created=stored.created_at.date(),
        valid_from=stored.valid_from.date(),
        valid_until=stored.valid_until.date(),
        revoked=stored.revoked,
        certificate_id=stored.certificate_id,
        algorithm=stored.algorithm,
    )
    return item.model_dump(mode="json")


def _counted(runtime: EmulatorRuntime, refusal: NetSuiteRefusalError) -> NetSuiteRefusalError:
    runtime.state.counters.increment("upload_refusals", refusal.error_code)
    return refusal


@router.post(
    CERTIFICATES_PATH,
    summary="Upload a certificate for an (entity, role) of the integration",
    response_model=UploadCertificateResponse,
    responses=error_responses(400, 401, 403, 404, 413),
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
def upload_certificate(
    client_id: str, request: Request, credentials: Credentials, body: RawBody
) -> JSONResponse:
    runtime = get_runtime(request)
    authenticate_manager(runtime, credentials, client_id)
    now = utcnow()
    config = runtime.config
    try:
        upload = parse_upload(parse_json_body(body, request.headers.get("content-type")))
        certificate = examine_certificate(upload.file_content, now=now)
        stored = runtime.state.certificates.upload(
            client_id,
            entity_id=upload.entity,
            role_id=upload.role,
            certificate=certificate,
            now=now,
            max_active_per_integration=config.max_active_per_integration,
            max_active_per_combination=config.max_active_per_combination,
            leading_dash=config.dash_certificate_ids,
            limit_error_code=config.limit_error_code,
        )
    except NetSuiteRefusalError as refusal:
        raise _counted(runtime, refusal) from None
    return JSONResponse(upload_answer(stored, now=now))


@router.get(
    CERTIFICATES_PATH,
    summary="List the certificates of the integration, revoked ones included",
    response_model=list[CertificateListItem],
    responses=error_responses(401, 403, 404),
)
def list_certificates(client_id: str, request: Request, credentials: Credentials) -> JSONResponse:
    runtime = get_runtime(request)
    authenticate_manager(runtime, credentials, client_id)
    return JSONResponse(
        [list_item(stored) for stored in runtime.state.certificates.list_for_integration(client_id)]
    )


@router.post(
    REVOKE_PATH,
    summary="Revoke a certificate",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string", "enum": [REVOKE_SUCCESS_TEXT]}}}},
        **error_responses(400, 401, 403, 404, 413),
    },
)
def revoke_certificate(
    client_id: str, certificate_id: str, request: Request, credentials: Credentials
) -> PlainTextResponse:
    runtime = get_runtime(request)
    authenticate_manager(runtime, credentials, client_id)
    runtime.state.certificates.revoke(client_id, certificate_id, now=utcnow())
    return PlainTextResponse(REVOKE_SUCCESS_TEXT)
