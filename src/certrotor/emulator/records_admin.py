"""Admin shortcuts for certificate records on a running emulator (tests and demos)::

records = RecordsAdmin(emulator)
records.delete("custcertificate_oa_realtime")          # as if deleted in the NetSuite UI
answer = records.send_import("custcertificate_oa_realtime", receiver_url)
answer["status_code"], answer["answer"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certrotor.emulator.routes.admin import ADMIN_PREFIX
from certrotor.emulator.routes.certificate_records import RECORDS_ADMIN_PREFIX
from certrotor.emulator.testing import RunningEmulator

_RECORDS = RECORDS_ADMIN_PREFIX.removeprefix(ADMIN_PREFIX)


@dataclass(frozen=True)
class RecordsAdmin:
    """The ``/_emulator/records`` controls of one running emulator."""

    emulator: RunningEmulator

    def all(self) -> list[dict[str, Any]]:
        """Every record with its metadata (script ID, fingerprint, placeholder flag, ...)."""
        records: list[dict[str, Any]] = self.emulator._admin("GET", _RECORDS)
        return records

    def get(self, script_id: str) -> dict[str, Any] | None:
        return next((r for r in self.all() if r["script_id"] == script_id), None)

    def create(
        self, record_id: str = "_oa_realtime", name: str = "OpenAir real-time", **file: Any
    ) -> dict[str, Any]:
        """Create a record as in the UI; without ``file_content`` it holds the bundled placeholder."""
        created: dict[str, Any] = self.emulator._admin(
            "POST", _RECORDS, {"record_id": record_id, "name": name, **file}
        )
        return created

    def delete(self, script_id: str) -> None:
        """Delete a record as if someone did it by accident in the NetSuite UI."""
        self.emulator._admin("DELETE", f"{_RECORDS}/{script_id}")

    def send_import(self, script_id: str, receiver_url: str, **fields: Any) -> dict[str, Any]:
        """Make NetSuite sign an import request with the record's key and send it to ``receiver_url``."""
        sent: dict[str, Any] = self.emulator._admin(
            "POST", f"{_RECORDS}/{script_id}/send-import", {"receiver_url": receiver_url, **fields}
        )
        return sent

    def imports(self) -> list[dict[str, Any]]:
        """Every import request sent so far, with the receiver's answer."""
        sent: list[dict[str, Any]] = self.emulator._admin("GET", f"{_RECORDS}/imports")
        return sent
