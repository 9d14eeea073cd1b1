"""The NetSuite contract: the committed JSON Schemas under netsuite/contract/ are those of the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from certrotor.protocol.records import RecordFileUpload
from certrotor.protocol.schemas import CONTRACT_MODELS, contract_files, main, write_contract
from certrotor.protocol.signed_import import SIGNED_FIELDS, SignedImportRequest

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "netsuite" / "contract"
REGENERATE = "run `.venv/bin/python -m certrotor.protocol.schemas netsuite/contract`"


class TestCommittedContract:
    @pytest.mark.parametrize("name", sorted(contract_files()))
    def test_committed_file_matches_the_models(self, name: str) -> None:
        """Each committed contract file is exactly what the models generate (regenerate when they change)."""
        committed = CONTRACT_DIR / name
        assert committed.is_file(), f"missing {committed}: {REGENERATE}"
        assert committed.read_text(encoding="utf-8") == contract_files()[name], (
            f"{name} drifted from the models: {REGENERATE}"
        )

    def test_no_stale_files(self) -> None:
        """The contract folder holds no schema that no model generates any more."""
        assert sorted(p.name for p in CONTRACT_DIR.glob("*.json")) == sorted(contract_files())

    def test_every_answer_model_has_a_schema(self) -> None:
        """The RESTlet's answers, its error body, its upload body and the signed import are all covered."""
        names = {model.__name__ for model in CONTRACT_MODELS.values()}
        assert names == {
            "CertificateRecordInfo",
            "CertificateRecordList",
            "RecordFileUpload",
            "RecordDeleted",
            "RestletErrorBody",
            "SignedImportRequest",
        }


class TestGeneratedSchemas:
    def test_a_changed_model_changes_the_schema(self) -> None:
        """A field added to a model shows in the generated text, so drift cannot go unnoticed."""
        schema = json.loads(contract_files()["record_file_upload.schema.json"])
        assert set(schema["properties"]) == set(RecordFileUpload.model_fields)
        assert schema["additionalProperties"] is False

    def test_signed_import_carries_the_signing_rules(self) -> None:
        """The signed fields' order and the ECDSA encoding are part of the contract."""
        schema = json.loads(contract_files()["signed_import_request.schema.json"])
        assert schema["x-signed-fields"] == list(SIGNED_FIELDS)
        assert SIGNED_FIELDS == ("action", "db_id", "record_type", "ns_id", "netsuite_user_id", "timestamp")
        assert schema["x-ecdsa-signature-encoding"] == "der"

    def test_signed_import_model_refuses_a_bad_timestamp(self) -> None:
        """The model itself holds the rules its schema states."""
        fields = {"action": "synchronize", "db_id": "1", "record_type": "customer", "ns_id": "2"}
        with pytest.raises(ValidationError):
            SignedImportRequest(**fields, netsuite_user_id="-5", timestamp="soon", signature="AAAA")

    def test_write_contract_writes_every_file(self, tmp_path: Path) -> None:
        """The `python -m` entry writes the same files into the folder it is given."""
        assert main([str(tmp_path / "contract")]) == 0
        written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "contract").iterdir()}
        assert written == contract_files()
        assert sorted(p.name for p in write_contract(tmp_path / "again")) == sorted(contract_files())

    def test_main_without_a_folder_prints_usage(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without its one argument the entry point says how to call it and fails."""
        assert main([]) == 2
        assert "usage: python -m certrotor.protocol.schemas DIRECTORY" in capsys.readouterr().err
