"""NetSuite's REST ``record/v1`` over the emulator's store: customer, employee and salesOrder records
(GET, POST 201 with ``Location``, PATCH 204, DELETE 204) in NetSuite's shape, and the metadata catalog.

Every call needs a token with the ``rest_webservices`` scope (403 ``INSUFFICIENT_PERMISSION`` without).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from certrotor.crypto import utcnow
from certrotor.emulator.bounds import MAX_PAGE_OFFSET
from certrotor.emulator.problems import INVALID_PARAMETER, NetSuiteRefusalError
from certrotor.emulator.record_types import (
    RECORD_TYPES,
    SUBSIDIARY,
    RecordType,
    check_record_body,
    record_type,
)
from certrotor.emulator.routes.common import (
    REST_WEBSERVICES,
    bearer_header,
    bearer_scheme,
    error_responses,
    get_runtime,
    parse_json_body,
    require_scope,
)
from certrotor.emulator.state import RestRecord, RestRecords
from certrotor.protocol.urls import RECORD_PATH_PREFIX

MAX_PAGE_SIZE = 1000
METADATA_CATALOG = RECORD_PATH_PREFIX + "/metadata-catalog"

router = APIRouter(tags=["record"])

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def authenticate_rest(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """The account a ``rest_webservices`` token speaks for (401 without a token, 403 without the scope)."""
    token = get_runtime(request).issuer.verify_bearer(bearer_header(credentials))
    require_scope(token, REST_WEBSERVICES, "REST web services (record/v1, query/v1)")
    return token.grant.integration.account.account_id


def rest_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(rel: str, href: str, **extra: str) -> dict[str, str]:
    return {"rel": rel, "href": href, **extra}


def paging(limit: int | None, offset: int | None) -> tuple[int, int]:
    """NetSuite's ``limit`` (1 to 1000, default 1000) and ``offset`` (0 to ``MAX_PAGE_OFFSET``), or a 400."""
    chosen_limit = MAX_PAGE_SIZE if limit is None else limit
    chosen_offset = 0 if offset is None else offset
    if not 1 <= chosen_limit <= MAX_PAGE_SIZE:
        raise NetSuiteRefusalError(
            400, INVALID_PARAMETER, f"Invalid limit {chosen_limit}: give 1 to {MAX_PAGE_SIZE}."
        )
    if not 0 <= chosen_offset <= MAX_PAGE_OFFSET:
        raise NetSuiteRefusalError(
            400, INVALID_PARAMETER, f"Invalid offset {chosen_offset}: give 0 to {MAX_PAGE_OFFSET}."
        )
    return chosen_limit, chosen_offset


def page_links(url: str, *, limit: int, offset: int, total: int) -> list[dict[str, str]]:
    """self, first, prev, next and last links of a page, as NetSuite lists them."""

    def at(start: int) -> str:
        return f"{url}?limit={limit}&offset={start}"

    links = [_link("self", at(offset)), _link("first", at(0))]
    if offset > 0:
        links.append(_link("prev", at(max(0, offset - limit))))
    if offset + limit < total:
        links.append(_link("next", at(offset + limit)))
    links.append(_link("last", at(max(0, (total - 1) // limit * limit))))
    return links


def _reference(request: Request, account_id: str, kind: RecordType, name: str, value: Any) -> Any:
    base = rest_base(request) + RECORD_PATH_PREFIX
    if name == "subsidiary":
        target_id = str(value.get("id", SUBSIDIARY["id"]))
        return {
            "links": [_link("self", f"{base}/subsidiary/{target_id}")],
            "id": target_id,
            **({"refName": SUBSIDIARY["refName"]} if target_id == SUBSIDIARY["id"] else {}),
        }
    target = RECORD_TYPES.get(kind.references.get(name, ""))
    target_id = str(value["id"])
    answer: dict[str, Any] = {"links": [], "id": target_id}
    if target is not None:
        answer["links"] = [_link("self", f"{base}/{target.name}/{target_id}")]
        referred = get_runtime(request).state.rest.find(account_id, target, target_id, now=utcnow())
        if referred is not None and referred.fields.get(target.ref_name):
            answer["refName"] = referred.fields[target.ref_name]
    return answer


def record_json(request: Request, account_id: str, kind: RecordType, record: RestRecord) -> dict[str, Any]:
    """A record as NetSuite's ``record/v1`` answers it: ``links``, ``id`` (a string) and the fields."""
    body: dict[str, Any] = {"links": [_link("self", str(request.url))]}
    fields: dict[str, Any] = {
        **record.fields,
        "id": str(record.id),
        "dateCreated": record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastModifiedDate": record.modified_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for name in sorted(fields):
        value = fields[name]
        if value is None:
            continue
        if kind.field_kind(name) == "reference":
            value = _reference(request, account_id, kind, name, value)
        body[name] = value
    return body


def _store(request: Request) -> RestRecords:
    return get_runtime(request).state.rest


@router.get(
    METADATA_CATALOG,
    summary="The record types this account exposes (NetSuite's metadata catalog)",
    responses=error_responses(401, 403),
)
def metadata_catalog(
    request: Request,
    credentials: Credentials,
    select: Annotated[str | None, Query(description="Comma separated record types.")] = None,
) -> dict[str, Any]:
    authenticate_rest(request, credentials)
    chosen = [record_type(name) for name in select.split(",") if name.strip()] if select else None
    base = rest_base(request) + RECORD_PATH_PREFIX
    items = [
        {
            "name": kind.name,
            "links": [
                _link("canonical", f"{base}/metadata-catalog/{kind.name}", mediaType="application/json"),
                _link(
                    "alternate",
                    f"{base}/metadata-catalog/{kind.name}",
                    mediaType="application/swagger+json",
                ),
                _link(
                    "alternate",
                    f"{base}/metadata-catalog/{kind.name}",
                    mediaType="application/schema+json",
                ),
                _link("describes", f"{base}/{kind.name}"),
            ],
        }
        for kind in (chosen if chosen is not None else RECORD_TYPES.values())
    ]
    return {"items": items, "links": [_link("self", str(request.url))]}


_JSON_TYPES = {"string": "string", "boolean": "boolean", "number": "number", "date": "string"}


@router.get(
    METADATA_CATALOG + "/{record_type_name}",
    summary="One record type's JSON schema",
    responses=error_responses(401, 403, 404),
)
def metadata_of_type(record_type_name: str, request: Request, credentials: Credentials) -> JSONResponse:
    authenticate_rest(request, credentials)
    kind = record_type(record_type_name)
    properties: dict[str, Any] = {"id": {"type": "string", "title": "Internal ID", "readOnly": True}}
    for name, field_kind in kind.fields.items():
        if field_kind == "reference":
            properties[name] = {
                "type": "object",
                "properties": {"id": {"type": "string"}, "refName": {"type": "string"}},
            }
        else:
            properties[name] = {"type": _JSON_TYPES[field_kind]}
            if field_kind == "date":
                properties[name]["format"] = "date"
    schema = {
        "type": "object",
        "title": kind.label,
        "properties": properties,
        "required": list(kind.required),
    }
    return JSONResponse(schema, media_type="application/schema+json")


@router.get(
    RECORD_PATH_PREFIX + "/{record_type_name}",
    summary="List records of a type (references, paged)",
    responses=error_responses(400, 401, 403, 404),
)
def list_records(
    record_type_name: str,
    request: Request,
    credentials: Credentials,
    limit: Annotated[int | None, Query()] = None,
    offset: Annotated[int | None, Query()] = None,
    q: Annotated[str | None, Query(description="Not supported by the emulator: use SuiteQL.")] = None,
) -> dict[str, Any]:
    account_id = authenticate_rest(request, credentials)
    kind = record_type(record_type_name)
    if q is not None:
        raise NetSuiteRefusalError(
            400,
            INVALID_PARAMETER,
            "The emulator does not evaluate the q parameter of record lists; query with "
            "POST /services/rest/query/v1/suiteql instead.",
        )
    page_size, start = paging(limit, offset)
    total, records = _store(request).page(account_id, kind, limit=page_size, offset=start, now=utcnow())
    base = rest_base(request) + RECORD_PATH_PREFIX + "/" + kind.name
    return {
        "links": page_links(base, limit=page_size, offset=start, total=total),
        "count": len(records),
        "hasMore": start + len(records) < total,
        "items": [
            {"links": [_link("self", f"{base}/{record.id}")], "id": str(record.id)} for record in records
        ],
        "offset": start,
        "totalResults": total,
    }


@router.post(
    RECORD_PATH_PREFIX + "/{record_type_name}",
    summary="Create a record (201, Location of the new record)",
    status_code=201,
    responses=error_responses(400, 401, 403, 404),
)
async def create_record(record_type_name: str, request: Request, credentials: Credentials) -> Response:
    account_id = authenticate_rest(request, credentials)
    kind = record_type(record_type_name)
    fields = check_record_body(
        kind, parse_json_body(await request.body(), request.headers.get("content-type")), creating=True
    )
    record = _store(request).create(account_id, kind, fields, now=utcnow())
    location = f"{rest_base(request)}{RECORD_PATH_PREFIX}/{kind.name}/{record.id}"
    return Response(status_code=201, headers={"Location": location})


@router.get(
    RECORD_PATH_PREFIX + "/{record_type_name}/{record_id}",
    summary="Read a record",
    responses=error_responses(401, 403, 404),
)
def read_record(
    record_type_name: str, record_id: str, request: Request, credentials: Credentials
) -> dict[str, Any]:
    account_id = authenticate_rest(request, credentials)
    kind = record_type(record_type_name)
    return record_json(
        request, account_id, kind, _store(request).get(account_id, kind, record_id, now=utcnow())
    )


@router.patch(
    RECORD_PATH_PREFIX + "/{record_type_name}/{record_id}",
    summary="Update fields of a record (204)",
    status_code=204,
    responses=error_responses(400, 401, 403, 404),
)
async def update_record(
    record_type_name: str, record_id: str, request: Request, credentials: Credentials
) -> Response:
    account_id = authenticate_rest(request, credentials)
    kind = record_type(record_type_name)
    fields = check_record_body(
        kind, parse_json_body(await request.body(), request.headers.get("content-type")), creating=False
    )
    record = _store(request).update(account_id, kind, record_id, fields, now=utcnow())
    location = f"{rest_base(request)}{RECORD_PATH_PREFIX}/{kind.name}/{record.id}"
    return Response(status_code=204, headers={"Location": location})


@router.delete(
    RECORD_PATH_PREFIX + "/{record_type_name}/{record_id}",
    summary="Delete a record (204)",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def delete_record(
    record_type_name: str, record_id: str, request: Request, credentials: Credentials
) -> Response:
    account_id = authenticate_rest(request, credentials)
    kind = record_type(record_type_name)
    _store(request).delete(account_id, kind, record_id, now=utcnow())
    return Response(status_code=204)
