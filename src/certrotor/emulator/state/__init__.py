"""The emulator's world in one SQLite file, by concern; :class:`EmulatorState` opens it and holds the parts.

Parts (one module each): ``tenants`` (accounts, integrations, entities, roles, M2M mappings),
``certificates`` (uploads with both caps, revokes), ``grants`` (replay memory, tokens, codes,
refresh tokens, the signing key), ``counters``, ``demo`` (the demo tenant), ``certificate_records``
(seed 004) and ``rest_records`` (customer, employee and salesOrder records of REST web services).
``database`` is the one SQLite setup they share: pragmas, the UTC datetime column type, and one lock
so uvicorn's threads never interleave a check and its write.
"""

from __future__ import annotations

from pathlib import Path

from certrotor.emulator.state.certificate_records import CertificateRecords
from certrotor.emulator.state.certificates import (
    Certificates,
    NewCertificate,
    StoredCertificate,
    new_certificate_id,
)
from certrotor.emulator.state.counters import Counters
from certrotor.emulator.state.database import Database
from certrotor.emulator.state.demo import DemoTenantInfo, DemoTenants
from certrotor.emulator.state.grants import Grants, IssuedToken, TokenGrant, hash_secret
from certrotor.emulator.state.rest_records import RestRecord, RestRecords
from certrotor.emulator.state.tenants import (
    ADMINISTRATOR_ROLE_ID,
    AccountInfo,
    EntityInfo,
    IntegrationInfo,
    RoleInfo,
    Tenants,
    new_client_id,
)


class EmulatorState:
    """All reads and writes of the emulator's SQLite file, one part per concern; thread-safe."""

    def __init__(self, database: Database, path: Path | None = None) -> None:
        self.database = database
        self.path = path
        self.tenants = Tenants(database)
        self.certificates = Certificates(database)
        self.grants = Grants(database)
        self.counters = Counters(database)
        self.demo = DemoTenants(database)
        self.records = CertificateRecords(database)
        self.rest = RestRecords(database)

    @classmethod
    def open(cls, path: Path) -> EmulatorState:
        """Open (creating when absent) the state file at ``path``."""
        path = Path(path)
        return cls(Database.open(path), path)

    def close(self) -> None:
        self.database.close()


__all__ = [
    "ADMINISTRATOR_ROLE_ID",
    "AccountInfo",
    "CertificateRecords",
    "Certificates",
    "Counters",
    "DemoTenantInfo",
    "DemoTenants",
    "EmulatorState",
    "EntityInfo",
    "Grants",
    "IntegrationInfo",
    "IssuedToken",
    "NewCertificate",
    "RestRecord",
    "RestRecords",
    "RoleInfo",
    "StoredCertificate",
    "Tenants",
    "TokenGrant",
    "hash_secret",
    "new_certificate_id",
    "new_client_id",
]
