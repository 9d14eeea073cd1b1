"""The demo tenant's integration, entity, role and admin token (seeded by ``emulator/tenant.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from certrotor.emulator.state.database import Base, Database
from certrotor.emulator.state.tenants import (
    EntityInfo,
    IntegrationInfo,
    RoleInfo,
    party_info,
    party_rows,
)

_THE_DEMO_TENANT = 1
"""The demo tenant is the one row of its table."""


class _DemoTenantRow(Base):
    __tablename__ = "emu_demo_tenant"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"))
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"))
    admin_token: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class DemoTenantInfo:
    integration: IntegrationInfo
    entity: EntityInfo
    role: RoleInfo
    admin_token: str = field(repr=False)


class DemoTenants:
    """The state's one demo tenant: saved once by the seeding, read by the admin API and tests."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def save(self, *, client_id: str, entity_id: int, role_id: int, admin_token: str) -> None:
        with self._database.transaction() as session:
            integration, entity, role = party_rows(session, client_id, entity_id, role_id)
            session.merge(
                _DemoTenantRow(
                    pk=_THE_DEMO_TENANT,
                    integration_pk=integration.pk,
                    entity_pk=entity.pk,
                    role_pk=role.pk,
                    admin_token=admin_token,
                )
            )

    def load(self) -> DemoTenantInfo | None:
        with self._database.transaction() as session:
            row = session.get(_DemoTenantRow, _THE_DEMO_TENANT)
            if row is None:
                return None
            integration, entity, role = party_info(session, row.integration_pk, row.entity_pk, row.role_pk)
            return DemoTenantInfo(
                integration=integration, entity=entity, role=role, admin_token=row.admin_token
            )


__all__ = ["DemoTenantInfo", "DemoTenants"]
