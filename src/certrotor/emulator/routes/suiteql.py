"""NetSuite's ``query/v1/suiteql``: ``SELECT cols|* FROM table [WHERE field = value]`` over the
emulator's records, paged as NetSuite pages (``count``, ``hasMore``, ``offset``, ``totalResults``,
``items``), with ``Prefer: transient`` required and a ``rest_webservices`` token.

Tables: ``customer``, ``employee`` and ``transaction`` (sales orders, ``type`` ``SalesOrd``). Columns
are the lower-cased field names; values come back as strings, booleans as ``T``/``F``, and null
columns are left out, as NetSuite answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials

from certrotor.crypto import utcnow
from certrotor.emulator.problems import INVALID_HEADER, INVALID_PARAMETER, NetSuiteRefusalError
from certrotor.emulator.record_types import SUITEQL_TABLES, RecordType
from certrotor.emulator.routes.common import bearer_scheme, error_responses, get_runtime, parse_json_body
from certrotor.emulator.routes.protected_resource import authenticate_rest, page_links, paging, rest_base
from certrotor.emulator.state import RestRecord

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
_SHAPE = "the emulator answers only SELECT <columns|*> FROM <table> [WHERE <column> = <value>]."
SEARCH_ERROR = "Invalid search query. Detailed unprocessed description follows. Search error occurred: "

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_QUERY = re.compile(
    rf"^\s*SELECT\s+(?P<columns>\*|{_IDENTIFIER}(?:\s*,\s*{_IDENTIFIER})*)\s+FROM\s+(?P<table>{_IDENTIFIER})"
    rf"(?:\s+WHERE\s+(?P<field>{_IDENTIFIER})\s*=\s*(?P<value>'(?:[^']|'')*'|-?[0-9]+(?:\.[0-9]+)?))?"
    r"\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)

router = APIRouter(tags=["query"])

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


@dataclass(frozen=True, slots=True)
class SuiteQLQuery:
    table: RecordType
    columns: tuple[str, ...] | None
    """Lower-cased column names; ``None`` for ``*``."""
    where: tuple[str, str] | None


def _columns_of(kind: RecordType) -> dict[str, str]:
    """SuiteQL column name -> field name (``id`` and ``type`` are columns too)."""
    columns = {name.lower(): name for name in kind.fields}
    columns["id"] = "id"
    if kind.suiteql_type is not None:
        columns["type"] = "type"
    return columns


def parse_suiteql(text: str) -> SuiteQLQuery:
    """The one query shape the emulator answers, or NetSuite's search error (400)."""
    match = _QUERY.match(text)
    if match is None:
        raise NetSuiteRefusalError(
            400,
            INVALID_PARAMETER,
            SEARCH_ERROR + _SHAPE,
        )
    table = SUITEQL_TABLES.get(match["table"].lower())
    if table is None:
        raise NetSuiteRefusalError(
            400,
            INVALID_PARAMETER,
            SEARCH_ERROR + f"Record '{match['table']}' was not found. The emulator's tables are "
            f"{', '.join(SUITEQL_TABLES)}.",
        )
    known = _columns_of(table)
    requested = (
        None if match["columns"] == "*" else tuple(c.strip().lower() for c in match["columns"].split(","))
    )
    where = None
    if match["field"]:
        raw = match["value"]
        value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        where = (match["field"].lower(), value)
    for column in [*(requested or ()), *([where[0]] if where else [])]:
        if column not in known:
            raise NetSuiteRefusalError(
                400,
                INVALID_PARAMETER,
                SEARCH_ERROR + f"Field '{column}' for record '{table.suiteql_table}' was not found. "
                "Reason: NOT_EXPOSED - Not available for channel SEARCH",
            )
    return SuiteQLQuery(table=table, columns=requested, where=where)


def _cell(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") is not None else None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def row_of(query: SuiteQLQuery, record: RestRecord) -> dict[str, str]:
    """A record as a SuiteQL row: every column (``*``) or the chosen ones, nulls left out."""
    known = _columns_of(query.table)
    values = {"id": str(record.id), "type": query.table.suiteql_type}
    row: dict[str, str] = {}
    for column in query.columns or tuple(known):
        field = known[column]
        cell = _cell(values[field] if field in values else record.fields.get(field))
        if cell is not None:
            row[column] = cell
    return row


def _prefers_transient(prefer: str | None) -> bool:
    tokens = re.split(r"[\s,]+", (prefer or "").lower())
    return "transient" in tokens


@router.post(
    SUITEQL_PATH,
    summary="Run a SuiteQL query (SELECT ... FROM table [WHERE column = value]); Prefer: transient",
    responses=error_responses(400, 401, 403),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}}
                }
            },
        }
    },
)
async def run_suiteql(
    request: Request,
    credentials: Credentials,
    limit: Annotated[int | None, Query()] = None,
    offset: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    account_id = authenticate_rest(request, credentials)
    if not _prefers_transient(request.headers.get("prefer")):
        raise NetSuiteRefusalError(
            400,
            INVALID_HEADER,
            "SuiteQL queries require the header 'Prefer: transient'.",
            error_header="Prefer",
        )
    payload = parse_json_body(await request.body(), request.headers.get("content-type"))
    if not isinstance(payload, dict) or not isinstance(payload.get("q"), str) or not payload["q"].strip():
        raise NetSuiteRefusalError(
            400, INVALID_PARAMETER, 'The request body must be a JSON object {"q": "SELECT ..."}.'
        )
    query = parse_suiteql(payload["q"])
    page_size, start = paging(limit, offset)
    records = get_runtime(request).state.rest.all(account_id, query.table, now=utcnow())
    rows = [row_of(query, record) for record in records]
    if query.where is not None:
        column, value = query.where
        full = SuiteQLQuery(table=query.table, columns=None, where=None)
        rows = [
            row
            for row, record in zip(rows, records, strict=True)
            if row_of(full, record).get(column) == value
        ]
    total = len(rows)
    items = [{"links": [], **row} for row in rows[start : start + page_size]]
    return {
        "links": page_links(rest_base(request) + SUITEQL_PATH, limit=page_size, offset=start, total=total),
        "count": len(items),
        "hasMore": start + len(items) < total,
        "items": items,
        "offset": start,
        "totalResults": total,
    }
