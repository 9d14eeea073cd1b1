"""The standard record types the emulated REST web services hold: their fields, sample rows and SuiteQL
tables (customer, employee, salesOrder), and the checks of a record body as NetSuite makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from certrotor.emulator.problems import NONEXISTENT_ID, USER_ERROR, NetSuiteRefusalError

FieldKind = Literal["string", "boolean", "number", "date", "reference"]
SUBSIDIARY = {"id": "1", "refName": "Parent Company"}


@dataclass(frozen=True, slots=True)
class RecordType:
    """One record type: wire name, fields by kind, what a new record must carry, its SuiteQL table."""

    name: str
    label: str
    fields: Mapping[str, FieldKind]
    required: tuple[str, ...]
    """Fields a new record must carry (NetSuite: ``USER_ERROR`` "Please enter value(s) for: ...")."""
    defaults: Mapping[str, Any]
    ref_name: str
    """The field whose value is the record's ``refName`` when another record refers to it."""
    references: Mapping[str, str]
    """Reference fields that point to a record type held here (others, e.g. subsidiary, are fixed)."""
    suiteql_table: str
    suiteql_type: str | None = None
    """The ``type`` column of the SuiteQL table when several record types share it (transaction)."""
    samples: tuple[tuple[int, Mapping[str, Any]], ...] = ()

    def field_kind(self, name: str) -> FieldKind | None:
        return self.fields.get(name)


CUSTOMER = RecordType(
    name="customer",
    label="Customer",
    fields={
        "companyName": "string",
        "entityId": "string",
        "email": "string",
        "phone": "string",
        "isInactive": "boolean",
        "isPerson": "boolean",
        "balance": "number",
        "subsidiary": "reference",
        "externalId": "string",
    },
    required=("companyName",),
    defaults={"isInactive": False, "isPerson": False, "balance": 0.0, "subsidiary": SUBSIDIARY},
    ref_name="companyName",
    references={},
    suiteql_table="customer",
    samples=(
        (42, {"companyName": "Acme Corporation", "entityId": "CUST42", "email": "billing@acme.example"}),
        (43, {"companyName": "Globex Inc.", "entityId": "CUST43", "email": "ap@globex.example"}),
    ),
)
EMPLOYEE = RecordType(
    name="employee",
    label="Employee",
    fields={
        "firstName": "string",
        "lastName": "string",
        "entityId": "string",
        "email": "string",
        "title": "string",
        "isInactive": "boolean",
        "giveAccess": "boolean",
        "subsidiary": "reference",
        "externalId": "string",
    },
    required=("firstName", "lastName"),
    defaults={"isInactive": False, "giveAccess": False, "subsidiary": SUBSIDIARY},
    ref_name="entityId",
    references={},
    suiteql_table="employee",
    samples=(
        (1, {"firstName": "Larry", "lastName": "Nelson", "entityId": "Larry Nelson", "giveAccess": True}),
        (7, {"firstName": "Infra", "lastName": "Auth", "entityId": "Infra Auth", "giveAccess": True}),
    ),
)
SALES_ORDER = RecordType(
    name="salesOrder",
    label="Sales Order",
    fields={
        "entity": "reference",
        "tranId": "string",
        "tranDate": "date",
        "memo": "string",
        "total": "number",
        "status": "string",
        "subsidiary": "reference",
        "externalId": "string",
    },
    required=("entity",),
    defaults={"status": "Pending Approval", "total": 0.0, "subsidiary": SUBSIDIARY},
    ref_name="tranId",
    references={"entity": "customer"},
    suiteql_table="transaction",
    suiteql_type="SalesOrd",
    samples=(
        (
            100,
            {"entity": {"id": "42"}, "tranId": "SO100", "tranDate": "2026-01-15", "total": 1250.0},
        ),
    ),
)

RECORD_TYPES: dict[str, RecordType] = {kind.name: kind for kind in (CUSTOMER, EMPLOYEE, SALES_ORDER)}
SUITEQL_TABLES: dict[str, RecordType] = {kind.suiteql_table: kind for kind in RECORD_TYPES.values()}


def record_type(name: str) -> RecordType:
    """The record type named ``name`` (case-insensitive, as NetSuite's URLs), or a 404."""
    for kind in RECORD_TYPES.values():
        if kind.name.lower() == name.lower():
            return kind
    raise NetSuiteRefusalError(
        404,
        NONEXISTENT_ID,
        f"Record type '{name}' does not exist. The emulator holds {', '.join(RECORD_TYPES)}.",
    )


def _kind_matches(kind: FieldKind, value: Any) -> bool:
    if value is None:
        return True
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "reference":
        return (
            isinstance(value, dict)
            and isinstance(value.get("id"), str | int)
            and not isinstance(value.get("id"), bool)
        )
    return isinstance(value, str)


def check_record_body(kind: RecordType, payload: Any, *, creating: bool) -> dict[str, Any]:
    """The fields of a POST or PATCH body, refused as NetSuite does (``USER_ERROR``, 400)."""
    if not isinstance(payload, dict):
        raise NetSuiteRefusalError(400, USER_ERROR, "The request body must be a JSON object of fields.")
    fields: dict[str, Any] = {}
    for name, value in payload.items():
        if name in {"id", "links", "refName"}:
            continue
        field_kind = kind.field_kind(name)
        if field_kind is None:
            raise NetSuiteRefusalError(
                400,
                USER_ERROR,
                f"Error while accessing a resource. You have entered an invalid field name: {name}. "
                f"The {kind.name} fields are {', '.join(kind.fields)}.",
                error_path=name,
            )
        if not _kind_matches(field_kind, value):
            raise NetSuiteRefusalError(
                400,
                USER_ERROR,
                f"Invalid value for the field {name}: expected a {field_kind}"
                + (' such as {"id": "42"}.' if field_kind == "reference" else "."),
                error_path=name,
            )
        fields[name] = {"id": str(value["id"])} if field_kind == "reference" and value else value
    if creating:
        missing = [name for name in kind.required if fields.get(name) in (None, "")]
        if missing:
            raise NetSuiteRefusalError(
                400,
                USER_ERROR,
                f"Please enter value(s) for: {', '.join(missing)}.",
                error_path=missing[0],
            )
    return fields


__all__ = [
    "CUSTOMER",
    "EMPLOYEE",
    "RECORD_TYPES",
    "SALES_ORDER",
    "SUITEQL_TABLES",
    "RecordType",
    "check_record_body",
    "record_type",
]
