"""Test and demo controls under ``/_emulator/``: faults, config, counters, tenants, tokens, certificates.

Not part of NetSuite's API and unauthenticated: the emulator listens on loopback for tests and demos.
Omitted ``account_id``/``client_id`` mean the demo tenant's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certrotor.emulator.bounds import MAX_LIFETIME_SECONDS, InternalId
from certrotor.emulator.problems import INVALID_CONTENT, NONEXISTENT_ID, NetSuiteRefusalError
from certrotor.emulator.routes.common import get_runtime
from certrotor.emulator.runtime import EmulatorRuntime
from certrotor.emulator.state import DemoTenantInfo, IntegrationInfo, TokenGrant
from certrotor.emulator.state.tenants import INTEGRATION_SCOPES
from certrotor.emulator.tokens import MANAGEMENT_TOKEN_LIFETIME_SECONDS
from certrotor.protocol.models import SCOPES
from certrotor.protocol.urls import validate_account_id

ADMIN_PREFIX = "/_emulator"

router = APIRouter(prefix=ADMIN_PREFIX, tags=["emulator admin"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_Body):
    account_id: str
    company_id: str | None = None


class IntegrationIn(_Body):
    account_id: str | None = None
    name: str = "Integration"
    client_id: str | None = None
    application_id: str | None = None
    redirect_uris: list[str] = Field(default_factory=list)
    count: int = Field(default=1, ge=1, le=10_000)
    map_demo_combination: bool = True
    """Map the demo tenant's entity and role on the new integration(s)."""
    client_credentials_enabled: bool = True
    """The record's "Client Credentials (Machine to Machine) Grant" box."""
    scopes: list[str] = Field(default_factory=lambda: list(INTEGRATION_SCOPES))
    """The scope boxes ticked on the record."""


class IntegrationSettingsIn(_Body):
    client_id: str | None = None
    client_credentials_enabled: bool | None = None
    scopes: list[str] | None = None


class EntityIn(_Body):
    account_id: str | None = None
    name: str = "Entity"
    entity_id: InternalId | None = None
    entity_type: str = "EMPLOYEE"


class RoleIn(_Body):
    account_id: str | None = None
    name: str = "Role"
    role_id: InternalId | None = None
    can_manage_certificates: bool = False


class MappingIn(_Body):
    client_id: str | None = None
    entity_id: InternalId
    role_id: InternalId


class CombinationsIn(_Body):
    client_id: str | None = None
    count: int = Field(default=1, ge=1, le=10_000)
    role_id: InternalId | None = None
    """Reuse this role for every new entity; by default each combination gets a new role."""
    can_manage_certificates: bool = False


class ManagementTokenIn(_Body):
    client_id: str | None = None
    entity_id: InternalId | None = None
    role_id: InternalId | None = None
    scopes: list[str] = Field(default_factory=lambda: ["rest_webservices", "restlets"])
    lifetime_seconds: int = Field(default=MANAGEMENT_TOKEN_LIFETIME_SECONDS, ge=1, le=MAX_LIFETIME_SECONDS)


def _demo(runtime: EmulatorRuntime) -> DemoTenantInfo:
    tenant = runtime.state.demo.load()
    if tenant is None:
        raise NetSuiteRefusalError(
            404, NONEXISTENT_ID, "The emulator has no demo tenant; run `certrotor emulator init`."
        )
    return tenant


def _account_id(runtime: EmulatorRuntime, account_id: str | None) -> str:
    return account_id or _demo(runtime).integration.account.account_id


def _integration(runtime: EmulatorRuntime, client_id: str | None) -> IntegrationInfo:
    if client_id is None:
        return _demo(runtime).integration
    integration = runtime.state.tenants.find_integration(client_id)
    if integration is None:
        raise NetSuiteRefusalError(404, NONEXISTENT_ID, f"No integration has the client ID {client_id}.")
    return integration


def _integration_json(integration: IntegrationInfo) -> dict[str, Any]:
    return {
        "client_id": integration.client_id,
        "application_id": integration.application_id,
        "internal_id": integration.internal_id,
        "name": integration.name,
        "account_id": integration.account.account_id,
        "client_credentials_enabled": integration.client_credentials_enabled,
        "scopes": list(integration.scopes),
    }


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/faults", summary="Current fault settings")
def read_faults(request: Request) -> dict[str, Any]:
    return get_runtime(request).config.faults()


@router.post("/faults", summary="Change fault settings (only the fields given)")
def change_faults(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
    runtime = get_runtime(request)
    try:
        return runtime.update_faults(**changes).faults()
    except (ValueError, ValidationError) as error:
        raise NetSuiteRefusalError(400, INVALID_CONTENT, f"Invalid fault settings: {error}") from None


@router.get("/config", summary="The whole emulator config")
def read_config(request: Request) -> dict[str, Any]:
    return get_runtime(request).config.model_dump()


@router.post("/config", summary="Change the emulator config (only the fields given)")
def change_config(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
    runtime = get_runtime(request)
    try:
        return runtime.update_config(**changes).model_dump()
    except (ValueError, ValidationError) as error:
        raise NetSuiteRefusalError(400, INVALID_CONTENT, f"Invalid config: {error}") from None


@router.get("/counters", summary="Uploads per client, token grants, refusals, faults")
def counters(request: Request) -> dict[str, Any]:
    return get_runtime(request).counters()


@router.get("/tenant", summary="The demo tenant (without its token)")
def tenant(request: Request) -> dict[str, Any]:
    demo = _demo(get_runtime(request))
    return {
        **_integration_json(demo.integration),
        "company_id": demo.integration.account.company_id,
        "entity_id": demo.entity.id,
        "role_id": demo.role.id,
    }


@router.post("/accounts", summary="Create an account")
def create_account(request: Request, body: AccountIn) -> dict[str, Any]:
    account = get_runtime(request).state.tenants.create_account(
        validate_account_id(body.account_id), company_id=body.company_id
    )
    return {"account_id": account.account_id, "company_id": account.company_id}


@router.post("/integrations", summary="Create integration records")
def create_integrations(request: Request, body: IntegrationIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    account_id = _account_id(runtime, body.account_id)
    demo = _demo(runtime) if body.map_demo_combination else None
    created = []
    for index in range(body.count):
        integration = runtime.state.tenants.create_integration(
            account_id,
            body.name if body.count == 1 else f"{body.name} {index + 1}",
            client_id=body.client_id if body.count == 1 else None,
            application_id=body.application_id if body.count == 1 else None,
            redirect_uris=body.redirect_uris,
            client_credentials_enabled=body.client_credentials_enabled,
            scopes=body.scopes,
        )
        if demo is not None:
            runtime.state.tenants.map_m2m(integration.client_id, demo.entity.id, demo.role.id)
        created.append(_integration_json(integration))
    return {"integrations": created}


@router.post(
    "/integration-settings",
    summary="Change an integration record's settings: the client credentials grant box, the ticked scopes",
)
def change_integration_settings(request: Request, body: IntegrationSettingsIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    integration = _integration(runtime, body.client_id)
    changed = runtime.state.tenants.update_integration(
        integration.client_id,
        client_credentials_enabled=body.client_credentials_enabled,
        scopes=body.scopes,
    )
    return _integration_json(changed)


@router.get("/integration-settings", summary="An integration record's settings (demo by default)")
def read_integration_settings(request: Request, client_id: str | None = None) -> dict[str, Any]:
    return _integration_json(_integration(get_runtime(request), client_id))


@router.post("/entities", summary="Create an entity (employee)")
def create_entity(request: Request, body: EntityIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    entity = runtime.state.tenants.create_entity(
        _account_id(runtime, body.account_id),
        body.name,
        entity_id=body.entity_id,
        entity_type=body.entity_type,
    )
    return {"entity_id": entity.id, "name": entity.name, "entity_type": entity.entity_type}


@router.post("/roles", summary="Create a role")
def create_role(request: Request, body: RoleIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    role = runtime.state.tenants.create_role(
        _account_id(runtime, body.account_id),
        body.name,
        role_id=body.role_id,
        can_manage_certificates=body.can_manage_certificates,
    )
    return {"role_id": role.id, "name": role.name, "can_manage_certificates": role.can_manage_certificates}


@router.post("/mappings", summary="Allow an (entity, role) to use M2M on an integration")
def create_mapping(request: Request, body: MappingIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    integration = _integration(runtime, body.client_id)
    runtime.state.tenants.map_m2m(integration.client_id, body.entity_id, body.role_id)
    return {"client_id": integration.client_id, "entity_id": body.entity_id, "role_id": body.role_id}


@router.post("/combinations", summary="Create new (entity, role) pairs mapped on an integration")
def create_combinations(request: Request, body: CombinationsIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    integration = _integration(runtime, body.client_id)
    pairs = runtime.state.tenants.add_combinations(
        integration.client_id,
        body.count,
        role_id=body.role_id,
        can_manage_certificates=body.can_manage_certificates,
    )
    return {
        "client_id": integration.client_id,
        "combinations": [{"entity_id": entity, "role_id": role} for entity, role in pairs],
    }


@router.post("/management-tokens", summary="Issue a long-lived management token (as from the UI)")
def create_management_token(request: Request, body: ManagementTokenIn) -> dict[str, Any]:
    runtime = get_runtime(request)
    integration = _integration(runtime, body.client_id)
    demo = runtime.state.demo.load()
    account_id = integration.account.account_id
    entity_id = body.entity_id if body.entity_id is not None else (demo.entity.id if demo else None)
    role_id = body.role_id if body.role_id is not None else (demo.role.id if demo else None)
    entity = runtime.state.tenants.find_entity(account_id, entity_id) if entity_id is not None else None
    role = runtime.state.tenants.find_role(account_id, role_id) if role_id is not None else None
    if entity is None or role is None:
        raise NetSuiteRefusalError(404, NONEXISTENT_ID, "Unknown entity or role for the management token.")
    unknown = [scope for scope in body.scopes if scope not in SCOPES]
    if unknown or not body.scopes:
        raise NetSuiteRefusalError(400, INVALID_CONTENT, f"Scopes must be among {', '.join(SCOPES)}.")
    grant = TokenGrant(integration=integration, entity=entity, role=role, scopes=tuple(body.scopes))
    token = runtime.issuer.issue(grant, lifetime_seconds=body.lifetime_seconds, kind="management")
    return {"access_token": token.token, "expires_in": token.expires_in, "token_type": "Bearer"}


@router.get("/certificates", summary="Every certificate with its fingerprint")
def all_certificates(request: Request) -> list[dict[str, Any]]:
    return [
        {
            "certificate_id": stored.certificate_id,
            "client_id": stored.integration.client_id,
            "entity_id": stored.entity.id,
            "role_id": stored.role.id,
            "fingerprint": stored.fingerprint,
            "algorithm": stored.algorithm,
            "created_at": stored.created_at.isoformat(),
            "valid_from": stored.valid_from.isoformat(),
            "valid_until": stored.valid_until.isoformat(),
            "revoked": stored.revoked,
        }
        for stored in get_runtime(request).state.certificates.all()
    ]
