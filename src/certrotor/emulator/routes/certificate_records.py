"""Certificate records over HTTP: the records RESTlet (bearer-protected) and admin controls.

The RESTlet (``certrotor.protocol.records`` documents the contract) reads, creates, replaces and
deletes records of the token's account. Under ``/_emulator/records`` tests play the NetSuite UI
(delete a record by accident, install the OpenAir bundle) and make NetSuite send a signed
real-time import request to a receiver.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from certrotor.crypto import utcnow
from certrotor.emulator.bounds import MAX_UNIX_SECONDS
from certrotor.emulator.problems import (
    INSUFFICIENT_PERMISSION,
    INVALID_CONTENT,
    NONEXISTENT_ID,
    NetSuiteRefusalError,
)
from certrotor.emulator.records import (
    import_fields,
    parse_record_file,
    send_import,
)
from certrotor.emulator.routes.admin import ADMIN_PREFIX
from certrotor.emulator.routes.common import (
    RESTLETS,
    bearer_header,
    bearer_scheme,
    error_responses,
    get_runtime,
    parse_json_body,
    require_scope,
)
from certrotor.emulator.state import CertificateRecords, EmulatorState
from certrotor.errors import AlreadyExistsError
from certrotor.protocol.records import (
    PLACEHOLDER_FILE_NAME,
    RECORDS_RESTLET_DEPLOY,
    RECORDS_RESTLET_DEPLOYMENT_ID,
    RECORDS_RESTLET_SCRIPT,
    RESTLET_PATH,
    CertificateRecordInfo,
    CertificateRecordList,
    FileFormat,
    RecordDeleted,
    RecordFileUpload,
    placeholder_pem,
    record_script_id,
)

RECORDS_ADMIN_PREFIX = ADMIN_PREFIX + "/records"
INVALID_SCRIPTLET_ID = "SSS_INVALID_SCRIPTLET_ID"
DEPLOYMENTS = frozenset({RECORDS_RESTLET_DEPLOY, RECORDS_RESTLET_DEPLOYMENT_ID})
"""NetSuite takes a deployment by its number or by its script ID."""

router = APIRouter(tags=["certificate records"])

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
ScriptParam = Annotated[str, Query(description=f"The RESTlet's script ID: {RECORDS_RESTLET_SCRIPT}.")]
DeployParam = Annotated[
    str,
    Query(description=f"The deployment: {RECORDS_RESTLET_DEPLOYMENT_ID} (or {RECORDS_RESTLET_DEPLOY})."),
]


def install_demo_bundle(state: EmulatorState) -> None:
    """Install the OpenAir bundle in the demo account (once ever), as the demo tenant has it."""
    demo = state.demo.load()
    if demo is not None:
        state.records.install_bundle(demo.integration.account.account_id)


def get_records(request: Request) -> CertificateRecords:
    return get_runtime(request).state.records


def _answer(info: CertificateRecordInfo) -> dict[str, Any]:
    return info.model_dump(mode="json")


def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, script: str, deploy: str
) -> str:
    """The account whose records the token may manage (401, 403, or 400 for an unknown RESTlet)."""
    token = get_runtime(request).issuer.verify_bearer(bearer_header(credentials))
    require_scope(token, RESTLETS, "a RESTlet")
    if script.lower() != RECORDS_RESTLET_SCRIPT or deploy.lower() not in DEPLOYMENTS:
        raise NetSuiteRefusalError(
            400,
            INVALID_SCRIPTLET_ID,
            f"No RESTlet is deployed as script {script!r}, deployment {deploy!r}; the certificate "
            f"records RESTlet is script={RECORDS_RESTLET_SCRIPT}&deploy={RECORDS_RESTLET_DEPLOYMENT_ID} "
            f"(or deploy={RECORDS_RESTLET_DEPLOY}).",
        )
    grant = token.grant
    if not grant.role.may_manage_certificates:
        raise NetSuiteRefusalError(
            403,
            INSUFFICIENT_PERMISSION,
            f"The role {grant.role.name!r} ({grant.role.id}) lacks the permission 'Certificate "
            "Management'; use the Administrator role or grant the permission.",
        )
    return grant.integration.account.account_id


async def _upload_body(request: Request) -> RecordFileUpload:
    payload = parse_json_body(await request.body(), request.headers.get("content-type"))
    if not isinstance(payload, dict):
        raise NetSuiteRefusalError(400, INVALID_CONTENT, "The request body must be a JSON object.")
    try:
        return RecordFileUpload.model_validate(payload)
    except ValidationError as error:
        # Locations and messages only: the input may hold a private key.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        )
        raise NetSuiteRefusalError(400, INVALID_CONTENT, f"Invalid request: {problems}.") from None


UploadBody = Annotated[RecordFileUpload, Depends(_upload_body)]


@router.get(
    RESTLET_PATH,
    summary="Read a certificate record's metadata (or every record without ?record=)",
    response_model=CertificateRecordInfo | CertificateRecordList,
    responses=error_responses(400, 401, 403, 404),
)
def read_records(
    request: Request,
    credentials: Credentials,
    script: ScriptParam,
    deploy: DeployParam,
    record: Annotated[str | None, Query(description="The record's script ID.")] = None,
) -> dict[str, Any]:
    account_id = _authenticate(request, credentials, script, deploy)
    records, now = get_records(request), utcnow()
    if record is None:
        return {"records": [_answer(stored.info(now=now)) for stored in records.all(account_id)]}
    return _answer(records.get(account_id, record).info(now=now))


@router.post(
    RESTLET_PATH,
    summary="Create a certificate record (name, ID and file)",
    response_model=CertificateRecordInfo,
    responses=error_responses(400, 401, 403),
)
def create_record(
    request: Request, credentials: Credentials, script: ScriptParam, deploy: DeployParam, body: UploadBody
) -> dict[str, Any]:
    account_id = _authenticate(request, credentials, script, deploy)
    if not body.name or not body.name.strip():
        raise NetSuiteRefusalError(400, INVALID_CONTENT, "A new certificate record needs a name.")
    file = parse_record_file(
        body.file_format, body.file_content, file_name=body.file_name, password=body.password
    )
    now = utcnow()
    try:
        stored = get_records(request).create(account_id, body.script_id, body.name.strip(), file, now=now)
    except AlreadyExistsError as error:
        # A RESTlet cannot choose its status: the deployed one answers 400 with this code and text.
        raise NetSuiteRefusalError(400, INVALID_CONTENT, error.message) from None
    return _answer(stored.info(now=now))


@router.put(
    RESTLET_PATH,
    summary="Replace a certificate record's file (key and certificate)",
    response_model=CertificateRecordInfo,
    responses=error_responses(400, 401, 403, 404),
)
def replace_record_file(
    request: Request, credentials: Credentials, script: ScriptParam, deploy: DeployParam, body: UploadBody
) -> dict[str, Any]:
    account_id = _authenticate(request, credentials, script, deploy)
    file = parse_record_file(
        body.file_format, body.file_content, file_name=body.file_name, password=body.password
    )
    now = utcnow()
    stored = get_records(request).replace_file(account_id, record_script_id(body.script_id), file, now=now)
    return _answer(stored.info(now=now))


@router.delete(
    RESTLET_PATH,
    summary="Delete a certificate record",
    response_model=RecordDeleted,
    responses=error_responses(400, 401, 403, 404),
)
def delete_record(
    request: Request,
    credentials: Credentials,
    script: ScriptParam,
    deploy: DeployParam,
    record: Annotated[str, Query(description="The record's script ID.")],
) -> dict[str, Any]:
    account_id = _authenticate(request, credentials, script, deploy)
    get_records(request).delete(account_id, record)
    return {"deleted": record.strip().lower()}


# -- admin controls (no authentication: the emulator listens on loopback) ---------------------------


class _AdminBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminRecordIn(_AdminBody):
    account_id: str | None = None
    record_id: str = "_oa_realtime"
    name: str = "OpenAir real-time"
    file_name: str = PLACEHOLDER_FILE_NAME
    file_format: FileFormat = "pem"
    file_content: str | None = Field(default=None, repr=False)
    """Omitted: the bundled placeholder."""
    password: str | None = Field(default=None, repr=False)


def _receiver_url(value: str) -> str:
    """An http(s) URL with a host and a valid port, with no space or control character."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if (
        parts is None
        or port == -1
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value)
    ):
        raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8300")
    return value


class SendImportIn(_AdminBody):
    receiver_url: Annotated[str, AfterValidator(_receiver_url)]
    """The OpenAir side's base URL; the request goes to ``<receiver_url>/netsuite.pl``."""
    account_id: str | None = None
    db_id: str | None = None
    """Default: the account's company ID."""
    record_type: str = "customer"
    ns_id: str = "1001"
    netsuite_user_id: str | None = None
    """Default: the demo tenant's entity."""
    timestamp: int | None = Field(default=None, ge=0, le=MAX_UNIX_SECONDS)
    """Unix seconds; default now."""
    action: str = "synchronize"


def _account_id(request: Request, account_id: str | None) -> str:
    if account_id is not None:
        return get_runtime(request).state.tenants.get_account(account_id).account_id
    demo = get_runtime(request).state.demo.load()
    if demo is None:
        raise NetSuiteRefusalError(
            404,
            NONEXISTENT_ID,
            "The emulator has no demo tenant; give account_id or run `certrotor emulator init`.",
        )
    return demo.integration.account.account_id


@router.get(
    RECORDS_ADMIN_PREFIX, summary="Every certificate record (emulator admin)", tags=["emulator admin"]
)
def admin_list_records(request: Request) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"account_id": stored.account_id, **_answer(stored.info(now=now))}
        for stored in get_records(request).all()
    ]


@router.post(
    RECORDS_ADMIN_PREFIX,
    summary="Create a record as in the NetSuite UI (emulator admin)",
    tags=["emulator admin"],
)
def admin_create_record(request: Request, body: AdminRecordIn) -> dict[str, Any]:
    account_id = _account_id(request, body.account_id)
    file = parse_record_file(
        body.file_format,
        body.file_content if body.file_content is not None else placeholder_pem(),
        file_name=body.file_name,
        password=body.password,
    )
    now = utcnow()
    return _answer(
        get_records(request).create(account_id, body.record_id, body.name, file, now=now).info(now=now)
    )


@router.post(
    RECORDS_ADMIN_PREFIX + "/install-bundle",
    summary="Install the OpenAir bundle in an account (adds custcertificate_oa_realtime once)",
    tags=["emulator admin"],
)
def admin_install_bundle(request: Request, account_id: str | None = None) -> dict[str, Any]:
    account = _account_id(request, account_id)
    return {"account_id": account, "installed": get_records(request).install_bundle(account)}


@router.get(
    RECORDS_ADMIN_PREFIX + "/imports", summary="Signed import requests sent so far", tags=["emulator admin"]
)
def admin_imports(request: Request) -> list[dict[str, Any]]:
    return get_records(request).imports()


@router.delete(
    RECORDS_ADMIN_PREFIX + "/{script_id}",
    summary="Delete a record as in the NetSuite UI (emulator admin)",
    tags=["emulator admin"],
)
def admin_delete_record(request: Request, script_id: str, account_id: str | None = None) -> dict[str, Any]:
    get_records(request).delete(_account_id(request, account_id), script_id)
    return {"deleted": script_id}


@router.post(
    RECORDS_ADMIN_PREFIX + "/{script_id}/send-import",
    summary="Send a signed real-time import request, as NetSuite's SuiteScript does for OpenAir",
    tags=["emulator admin"],
)
def admin_send_import(request: Request, script_id: str, body: SendImportIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    account_id = _account_id(request, body.account_id)
    stored = get_records(request).get(account_id, script_id)
    demo = runtime.state.demo.load()
    fields = import_fields(
        action=body.action,
        db_id=body.db_id or runtime.state.tenants.get_account(account_id).company_id,
        record_type=body.record_type,
        ns_id=body.ns_id,
        netsuite_user_id=body.netsuite_user_id or (str(demo.entity.id) if demo else "-5"),
        timestamp=body.timestamp if body.timestamp is not None else int(utcnow().timestamp()),
    )
    outcome = send_import(stored, body.receiver_url, fields)
    get_records(request).log_import(account_id, stored.script_id, outcome)
    return outcome.to_json()
