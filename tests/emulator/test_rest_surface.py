"""NetSuite's REST web services on the emulator: record/v1 CRUD, the metadata catalog and SuiteQL."""

from __future__ import annotations

from typing import Any

import httpx2

from ._support import Caller, netsuite_error

SUITEQL = "/services/rest/query/v1/suiteql"


def auth(caller: Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.tenant.admin_token}"}


def record(caller: Caller, path: str) -> httpx2.Response:
    return caller.http.get(caller.endpoints.record_url(path), headers=auth(caller))


def create(caller: Caller, record_type: str, fields: dict[str, Any]) -> httpx2.Response:
    return caller.http.post(caller.endpoints.record_url(record_type), json=fields, headers=auth(caller))


def suiteql(
    caller: Caller, query: str, *, prefer: str | None = "transient", **params: int
) -> httpx2.Response:
    headers = {**auth(caller), **({"Prefer": prefer} if prefer else {})}
    return caller.http.post(
        caller.emulator.base_url + SUITEQL, json={"q": query}, headers=headers, params=params
    )


class TestRecords:
    def test_sample_customer_in_netsuite_shape(self, shared_caller: Caller) -> None:
        """GET customer/42: links, id as a string, fields, the subsidiary as a reference."""
        url = shared_caller.endpoints.record_url("customer/42")
        body = record(shared_caller, "customer/42").json()
        assert body["links"] == [{"rel": "self", "href": url}]
        assert (body["id"], body["companyName"], body["isInactive"]) == ("42", "Acme Corporation", False)
        assert body["subsidiary"]["id"] == "1"
        assert body["subsidiary"]["refName"] == "Parent Company"

    def test_create_read_update_delete(self, caller: Caller) -> None:
        """POST 201 with Location, GET, PATCH 204, DELETE 204, then 404 NONEXISTENT_ID."""
        created = create(caller, "customer", {"companyName": "Initech", "email": "it@initech.example"})
        assert created.status_code == 201
        assert created.content == b""
        location = created.headers["location"]
        assert location == caller.endpoints.record_url("customer/1000")
        assert record(caller, "customer/1000").json()["companyName"] == "Initech"
        patched = caller.http.patch(location, json={"phone": "555-0100"}, headers=auth(caller))
        assert patched.status_code == 204
        assert record(caller, "customer/1000").json()["phone"] == "555-0100"
        assert caller.http.delete(location, headers=auth(caller)).status_code == 204
        assert netsuite_error(record(caller, "customer/1000")) == (
            404,
            "NONEXISTENT_ID",
            "The record instance does not exist. Provide a valid record instance ID.",
        )

    def test_sales_order_refers_to_its_customer(self, caller: Caller) -> None:
        """A salesOrder's entity is a reference with links and the customer's refName."""
        created = create(caller, "salesOrder", {"entity": {"id": "43"}, "memo": "rush"})
        body = caller.http.get(created.headers["location"], headers=auth(caller)).json()
        assert body["entity"] == {
            "links": [{"rel": "self", "href": caller.endpoints.record_url("customer/43")}],
            "id": "43",
            "refName": "Globex Inc.",
        }

    def test_missing_required_field_is_a_user_error(self, caller: Caller) -> None:
        """An employee without lastName: 400 USER_ERROR with o:errorPath, nothing stored."""
        response = create(caller, "employee", {"firstName": "Ann"})
        assert netsuite_error(response) == (400, "USER_ERROR", "Please enter value(s) for: lastName.")
        assert response.json()["o:errorDetails"][0]["o:errorPath"] == "lastName"
        assert record(caller, "employee").json()["totalResults"] == 2

    def test_unknown_field_and_bad_reference_are_refused(self, caller: Caller) -> None:
        """An unknown field or a reference to a missing customer is a 400 USER_ERROR."""
        unknown = create(caller, "customer", {"companyName": "X", "shoeSize": 9})
        assert netsuite_error(unknown)[:2] == (400, "USER_ERROR")
        assert "invalid field name: shoeSize" in netsuite_error(unknown)[2]
        dangling = create(caller, "salesOrder", {"entity": {"id": "999"}})
        assert netsuite_error(dangling) == (400, "USER_ERROR", "Invalid entity reference key 999.")

    def test_unknown_record_type_is_not_found(self, shared_caller: Caller) -> None:
        """A record type the emulator does not hold is 404 NONEXISTENT_ID naming the ones it holds."""
        assert netsuite_error(record(shared_caller, "invoice/1")) == (
            404,
            "NONEXISTENT_ID",
            "Record type 'invoice' does not exist. The emulator holds customer, employee, salesOrder.",
        )

    def test_list_pages_with_links(self, caller: Caller) -> None:
        """A list holds references, paged with count, hasMore, offset, totalResults and a next link."""
        for name in ("A", "B", "C"):
            assert create(caller, "customer", {"companyName": name}).status_code == 201
        page = record(caller, "customer?limit=2&offset=2").json()
        assert (page["count"], page["hasMore"], page["offset"], page["totalResults"]) == (2, True, 2, 5)
        assert [item["id"] for item in page["items"]] == ["1000", "1001"]
        rels = {link["rel"]: link["href"] for link in page["links"]}
        assert rels["next"] == caller.endpoints.record_url("customer") + "?limit=2&offset=4"

    def test_metadata_catalog_lists_the_types(self, shared_caller: Caller) -> None:
        """The catalog names customer, employee and salesOrder with their links."""
        items = record(shared_caller, "metadata-catalog").json()["items"]
        assert [item["name"] for item in items] == ["customer", "employee", "salesOrder"]
        schema = record(shared_caller, "metadata-catalog/salesOrder").json()
        assert schema["required"] == ["entity"]


class TestSuiteQL:
    def test_select_with_where(self, shared_caller: Caller) -> None:
        """SELECT id, companyname FROM customer WHERE id = 42: one row of strings, links empty."""
        answer = suiteql(shared_caller, "SELECT id, companyname FROM customer WHERE id = 42").json()
        assert answer["items"] == [{"links": [], "id": "42", "companyname": "Acme Corporation"}]
        assert (answer["count"], answer["hasMore"], answer["offset"], answer["totalResults"]) == (
            1,
            False,
            0,
            1,
        )

    def test_string_value_and_transaction_table(self, shared_caller: Caller) -> None:
        """Quoted values compare as text; sales orders are rows of transaction with type SalesOrd."""
        answer = suiteql(
            shared_caller, "select id, entity, type from transaction where tranid = 'SO100'"
        ).json()
        assert answer["items"] == [{"links": [], "id": "100", "entity": "42", "type": "SalesOrd"}]

    def test_paging(self, shared_caller: Caller) -> None:
        """limit and offset page the rows; hasMore tells whether more follow."""
        first = suiteql(shared_caller, "SELECT * FROM employee", limit=1).json()
        second = suiteql(shared_caller, "SELECT * FROM employee", limit=1, offset=1).json()
        assert (first["hasMore"], second["hasMore"]) == (True, False)
        assert [first["items"][0]["id"], second["items"][0]["id"]] == ["1", "7"]
        assert first["items"][0]["isinactive"] == "F"

    def test_prefer_transient_is_required(self, shared_caller: Caller) -> None:
        """Without Prefer: transient the query is refused with the header named."""
        response = suiteql(shared_caller, "SELECT id FROM customer", prefer=None)
        assert netsuite_error(response) == (
            400,
            "INVALID_HEADER",
            "SuiteQL queries require the header 'Prefer: transient'.",
        )
        assert response.json()["o:errorDetails"][0]["o:errorHeader"] == "Prefer"

    def test_unknown_column_and_table(self, shared_caller: Caller) -> None:
        """An unknown column or table is NetSuite's search error."""
        column = suiteql(shared_caller, "SELECT shoesize FROM customer")
        assert netsuite_error(column)[:2] == (400, "INVALID_PARAMETER")
        assert "Field 'shoesize' for record 'customer' was not found" in netsuite_error(column)[2]
        table = suiteql(shared_caller, "SELECT id FROM invoice")
        assert "Record 'invoice' was not found" in netsuite_error(table)[2]

    def test_other_statements_are_refused(self, shared_caller: Caller) -> None:
        """Anything but the one SELECT shape is refused, saying which shape is answered."""
        response = suiteql(shared_caller, "DELETE FROM customer")
        assert netsuite_error(response)[:2] == (400, "INVALID_PARAMETER")
        assert "SELECT <columns|*> FROM <table> [WHERE <column> = <value>]" in netsuite_error(response)[2]
