"""The demo tenant: one account, integration, entity and Administrator role mapped for M2M, and a token.

Its names follow the seed's samples (account ``TSTDRV1234567``, company ``4030059``, integration
"Test Integration", entity 7 "Infra Auth", role 3 "Administrator").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certrotor.emulator.state import DemoTenantInfo, EmulatorState, TokenGrant
from certrotor.emulator.state.tenants import check_integration_scopes
from certrotor.emulator.tokens import MANAGEMENT_TOKEN_LIFETIME_SECONDS, TokenIssuer
from certrotor.errors import NotFoundError

DEMO_ACCOUNT_ID = "TSTDRV1234567"
DEMO_COMPANY_ID = "4030059"
DEMO_INTEGRATION_NAME = "Test Integration"
DEMO_ENTITY_ID = 7
DEMO_ENTITY_NAME = "Infra Auth"
DEMO_ROLE_ID = 3
DEMO_ROLE_NAME = "Administrator"
DEMO_SCOPES = ("rest_webservices", "restlets")


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoTenant:
    """What a test or a user needs to talk to the demo tenant; ``repr`` hides the token."""

    account_id: str
    company_id: str
    client_id: str
    application_id: str
    integration_id: int
    entity_id: int
    role_id: int
    admin_token: str = field(repr=False)

    @classmethod
    def from_info(cls, info: DemoTenantInfo) -> DemoTenant:
        integration = info.integration
        return cls(
            account_id=integration.account.account_id,
            company_id=integration.account.company_id,
            client_id=integration.client_id,
            application_id=integration.application_id,
            integration_id=integration.internal_id,
            entity_id=info.entity.id,
            role_id=info.role.id,
            admin_token=info.admin_token,
        )

    def to_json(self) -> dict[str, Any]:
        """Every field, the token included: for ``certrotor emulator init --json``."""
        return {
            "account_id": self.account_id,
            "company_id": self.company_id,
            "client_id": self.client_id,
            "application_id": self.application_id,
            "integration_id": self.integration_id,
            "entity_id": self.entity_id,
            "role_id": self.role_id,
            "admin_token": self.admin_token,
        }


def ensure_demo_tenant(state: EmulatorState) -> DemoTenant:
    """The state's demo tenant, created when missing; an existing one is returned untouched."""
    existing = state.demo.load()
    if existing is not None:
        return DemoTenant.from_info(existing)
    try:
        account = state.tenants.get_account(DEMO_ACCOUNT_ID)
    except NotFoundError:
        account = state.tenants.create_account(DEMO_ACCOUNT_ID, company_id=DEMO_COMPANY_ID)
    integration = state.tenants.create_integration(account.account_id, DEMO_INTEGRATION_NAME)
    entity = state.tenants.find_entity(account.account_id, DEMO_ENTITY_ID) or state.tenants.create_entity(
        account.account_id, DEMO_ENTITY_NAME, entity_id=DEMO_ENTITY_ID
    )
    role = state.tenants.find_role(account.account_id, DEMO_ROLE_ID) or state.tenants.create_role(
        account.account_id, DEMO_ROLE_NAME, role_id=DEMO_ROLE_ID, can_manage_certificates=True
    )
    state.tenants.map_m2m(integration.client_id, entity.id, role.id)
    grant = TokenGrant(integration=integration, entity=entity, role=role, scopes=DEMO_SCOPES)
    token = TokenIssuer(state).issue(
        grant, lifetime_seconds=MANAGEMENT_TOKEN_LIFETIME_SECONDS, kind="management"
    )
    state.demo.save(
        client_id=integration.client_id,
        entity_id=entity.id,
        role_id=role.id,
        admin_token=token.token,
    )
    saved = state.demo.load()
    assert saved is not None
    return DemoTenant.from_info(saved)


def init_demo(
    state_path: Path,
    *,
    scopes: Sequence[str] | None = None,
    client_credentials_enabled: bool | None = None,
) -> DemoTenant:
    """Open (or create) the state file and make sure it holds the demo tenant; never destroys data.

    ``scopes`` and ``client_credentials_enabled`` set the demo integration record's boxes (``None``
    keeps them: all scopes ticked and the grant enabled on a new record).
    """
    if scopes is not None:
        check_integration_scopes(scopes)
    state = EmulatorState.open(state_path)
    try:
        tenant = ensure_demo_tenant(state)
        if scopes is not None or client_credentials_enabled is not None:
            state.tenants.update_integration(
                tenant.client_id, scopes=scopes, client_credentials_enabled=client_credentials_enabled
            )
        return tenant
    finally:
        state.close()
