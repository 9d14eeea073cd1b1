"""The NetSuite contract as JSON Schemas of the protocol models; ``python -m certrotor.protocol.schemas DIR``.

The SuiteCloud project (``netsuite/``) commits these files under ``netsuite/contract/`` and its tests
validate every RESTlet answer against them; a Python test fails when they drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from certrotor.protocol.records import (
    MAX_SCRIPT_ID_LENGTH,
    PLACEHOLDER_FILE_NAME,
    RECORD_QUERY_PARAM,
    RECORDS_RESTLET_DEPLOY,
    RECORDS_RESTLET_DEPLOYMENT_ID,
    RECORDS_RESTLET_SCRIPT,
    RESTLET_PATH,
    SCRIPT_ID_PREFIX,
    CertificateRecordInfo,
    CertificateRecordList,
    RecordDeleted,
    RecordFileUpload,
    RestletErrorBody,
    placeholder_fingerprint,
    record_not_found_message,
)
from certrotor.protocol.signed_import import (
    ECDSA_SIGNATURE_ENCODING,
    IMPORT_PATH,
    SIGNATURE_PARAM,
    SIGNED_FIELDS,
    SignedImportRequest,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONTRACT_MODELS: dict[str, type[BaseModel]] = {
    "certificate_record_info": CertificateRecordInfo,
    "certificate_record_list": CertificateRecordList,
    "record_file_upload": RecordFileUpload,
    "record_deleted": RecordDeleted,
    "restlet_error": RestletErrorBody,
    "signed_import_request": SignedImportRequest,
}
"""File stem (``<stem>.schema.json``) to the model it describes."""
CONSTANTS_FILE = "constants.json"


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as its JSON answers look (``mode="serialization"``), with its ``$id``."""
    schema = model.model_json_schema(mode="serialization", by_alias=True)
    return {"$schema": SCHEMA_DIALECT, "$id": f"certrotor:{model.__name__}", **schema}


def contract_constants() -> dict[str, Any]:
    """The fixed facts both sides share: IDs, parameter names, the signed fields' order, error texts."""
    return {
        "restlet_path": RESTLET_PATH,
        "restlet_script": RECORDS_RESTLET_SCRIPT,
        "restlet_deploy": RECORDS_RESTLET_DEPLOY,
        "restlet_deployment_id": RECORDS_RESTLET_DEPLOYMENT_ID,
        "record_query_param": RECORD_QUERY_PARAM,
        "script_id_prefix": SCRIPT_ID_PREFIX,
        "max_script_id_length": MAX_SCRIPT_ID_LENGTH,
        "placeholder_file_name": PLACEHOLDER_FILE_NAME,
        "placeholder_fingerprint_sha256": placeholder_fingerprint(),
        "record_not_found_example": record_not_found_message("custcertificate_oa_realtime"),
        "import_path": IMPORT_PATH,
        "signature_param": SIGNATURE_PARAM,
        "signed_fields": list(SIGNED_FIELDS),
        "ecdsa_signature_encoding": ECDSA_SIGNATURE_ENCODING,
    }


def contract_files() -> dict[str, str]:
    """File name to exact file text (sorted keys, two-space indent, final newline)."""
    files = {f"{stem}.schema.json": model_schema(model) for stem, model in CONTRACT_MODELS.items()}
    files[CONSTANTS_FILE] = contract_constants()
    return {name: json.dumps(content, indent=2, sort_keys=True) + "\n" for name, content in files.items()}


def write_contract(directory: Path) -> list[Path]:
    """Write every contract file into ``directory`` (created if needed); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in contract_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        usage = "usage: python -m certrotor.protocol.schemas DIRECTORY  (e.g. netsuite/contract)"
        print(usage, file=sys.stderr)
        return 2
    for path in write_contract(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["CONTRACT_MODELS", "contract_constants", "contract_files", "model_schema", "write_contract"]
