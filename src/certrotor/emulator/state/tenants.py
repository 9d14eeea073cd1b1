"""Who exists in the emulated NetSuite: accounts, integrations, entities, roles, and M2M mappings.

The row helpers at the bottom (``integration_row``, ``entity_info``, ...) serve the other parts of
the state inside their own transactions.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, func, select, true
from sqlalchemy.orm import Mapped, Session, mapped_column

from certrotor.emulator.bounds import MAX_INTERNAL_ID, internal_id_in_range
from certrotor.emulator.problems import NONEXISTENT_ID, NetSuiteRefusalError
from certrotor.emulator.state.database import Base, Database, ReadCache
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError
from certrotor.protocol.models import SCOPES

ADMINISTRATOR_ROLE_ID = 3
"""NetSuite's built-in Administrator role, which may always manage certificates."""
FIRST_CUSTOM_ENTITY_ID = 100
FIRST_CUSTOM_ROLE_ID = 1000
INTEGRATION_SCOPES = SCOPES
"""The scopes ticked on a new integration record unless told otherwise: all three (RESTlets, REST web
services, SuiteAnalytics Connect), so that a test narrows them on purpose."""


class AccountRow(Base):
    __tablename__ = "emu_account"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[str] = mapped_column(String(32), unique=True)


class IntegrationRow(Base):
    __tablename__ = "emu_integration"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"))
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    application_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The integration record's settings: the client credentials (M2M) grant box and the scope boxes.
    client_credentials_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    scopes: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: list(INTEGRATION_SCOPES), server_default='["' + '","'.join(SCOPES) + '"]'
    )


class EntityRow(Base):
    __tablename__ = "emu_entity"
    __table_args__ = (UniqueConstraint("account_pk", "netsuite_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"))
    netsuite_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(32), default="EMPLOYEE")


class RoleRow(Base):
    __tablename__ = "emu_role"
    __table_args__ = (UniqueConstraint("account_pk", "netsuite_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("emu_account.pk"))
    netsuite_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    can_manage_certificates: Mapped[bool] = mapped_column(Boolean, default=False)


class _MappingRow(Base):
    """An (entity, role) allowed to use the client credentials flow on an integration."""

    __tablename__ = "emu_m2m_mapping"
    integration_pk: Mapped[int] = mapped_column(ForeignKey("emu_integration.pk"), primary_key=True)
    entity_pk: Mapped[int] = mapped_column(ForeignKey("emu_entity.pk"), primary_key=True)
    role_pk: Mapped[int] = mapped_column(ForeignKey("emu_role.pk"), primary_key=True)


# Snapshots handed out of the state: plain values, never live ORM rows.


@dataclass(frozen=True, slots=True)
class AccountInfo:
    pk: int
    account_id: str
    company_id: str


@dataclass(frozen=True, slots=True)
class IntegrationInfo:
    pk: int
    internal_id: int
    client_id: str
    application_id: str
    name: str
    account: AccountInfo
    redirect_uris: tuple[str, ...] = ()
    client_credentials_enabled: bool = True
    """The record's "Client Credentials (Machine to Machine) Grant" box."""
    scopes: tuple[str, ...] = INTEGRATION_SCOPES
    """The scope boxes ticked on the record (``restlets``, ``rest_webservices``, ``suite_analytics``)."""


@dataclass(frozen=True, slots=True)
class EntityInfo:
    pk: int
    id: int
    name: str
    entity_type: str


@dataclass(frozen=True, slots=True)
class RoleInfo:
    pk: int
    id: int
    name: str
    can_manage_certificates: bool

    @property
    def may_manage_certificates(self) -> bool:
        return self.can_manage_certificates or self.id == ADMINISTRATOR_ROLE_ID


def new_client_id() -> str:
    return secrets.token_hex(32)


def check_integration_scopes(scopes: Sequence[str]) -> list[str]:
    """The scope boxes to tick: known names, at least one, each once."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise InputError(
            f"Invalid integration scopes {', '.join(scopes) or '(none)'}.",
            hint=f"tick one or more of {', '.join(SCOPES)}.",
        )
    return list(dict.fromkeys(scopes))


class Tenants:
    """Reads and writes of accounts, integrations, entities, roles and their M2M mappings."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._integrations: ReadCache[str, IntegrationInfo | None] = ReadCache(database)

    def create_account(self, account_id: str, *, company_id: str | None = None) -> AccountInfo:
        with self._database.transaction() as session:
            if session.scalar(select(AccountRow).where(AccountRow.account_id == account_id)):
                raise AlreadyExistsError(
                    f"Emulator account {account_id} already exists.",
                    hint="use it or choose another account ID.",
                )
            company = company_id or str(secrets.randbelow(9_000_000) + 1_000_000)
            row = AccountRow(account_id=account_id, company_id=company)
            session.add(row)
            session.flush()
            return account_info(row)

    def company_ids(self) -> list[str]:
        """The company ID of every account."""
        with self._database.transaction() as session:
            return list(session.scalars(select(AccountRow.company_id).order_by(AccountRow.pk)))

    def get_account(self, account_id: str) -> AccountInfo:
        with self._database.transaction() as session:
            return account_info(account_row(session, account_id))

    def create_integration(
        self,
        account_id: str,
        name: str,
        *,
        client_id: str | None = None,
        application_id: str | None = None,
        redirect_uris: Sequence[str] = (),
        client_credentials_enabled: bool = True,
        scopes: Sequence[str] = INTEGRATION_SCOPES,
    ) -> IntegrationInfo:
        ticked = check_integration_scopes(scopes)
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            chosen = client_id or new_client_id()
            if session.scalar(select(IntegrationRow.pk).where(IntegrationRow.client_id == chosen)):
                raise AlreadyExistsError(
                    f"An integration with client ID {chosen} already exists.",
                    hint="choose another client ID or leave it out.",
                )
            row = IntegrationRow(
                account_pk=account.pk,
                client_id=chosen,
                application_id=(application_id or str(uuid.uuid4())).upper(),
                name=name,
                redirect_uris=list(redirect_uris),
                client_credentials_enabled=client_credentials_enabled,
                scopes=ticked,
            )
            session.add(row)
            session.flush()
            return integration_info(session, row)

    def update_integration(
        self,
        client_id: str,
        *,
        client_credentials_enabled: bool | None = None,
        scopes: Sequence[str] | None = None,
    ) -> IntegrationInfo:
        """Change the record's settings (the grant box, the scope boxes); ``None`` keeps one."""
        ticked = None if scopes is None else check_integration_scopes(scopes)
        with self._database.transaction() as session:
            row = integration_row(session, client_id)
            if client_credentials_enabled is not None:
                row.client_credentials_enabled = client_credentials_enabled
            if ticked is not None:
                row.scopes = ticked
            session.flush()
            return integration_info(session, row)

    def find_integration(self, client_id: str, *, version: int | None = None) -> IntegrationInfo | None:
        """The integration (read once until the next commit: every token request asks); ``version``
        as :meth:`ReadCache.get` takes it."""
        return self._integrations.get(client_id, lambda: self._load_integration(client_id), version=version)

    def _load_integration(self, client_id: str) -> IntegrationInfo | None:
        with self._database.transaction() as session:
            row = session.scalar(select(IntegrationRow).where(IntegrationRow.client_id == client_id))
            return None if row is None else integration_info(session, row)

    def create_entity(
        self,
        account_id: str,
        name: str,
        *,
        entity_id: int | None = None,
        entity_type: str = "EMPLOYEE",
    ) -> EntityInfo:
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            netsuite_id = _chosen_id(session, EntityRow, account, entity_id, FIRST_CUSTOM_ENTITY_ID)
            row = EntityRow(
                account_pk=account.pk, netsuite_id=netsuite_id, name=name, entity_type=entity_type
            )
            session.add(row)
            session.flush()
            return entity_info(row)

    def create_role(
        self,
        account_id: str,
        name: str,
        *,
        role_id: int | None = None,
        can_manage_certificates: bool = False,
    ) -> RoleInfo:
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            netsuite_id = _chosen_id(session, RoleRow, account, role_id, FIRST_CUSTOM_ROLE_ID)
            row = RoleRow(
                account_pk=account.pk,
                netsuite_id=netsuite_id,
                name=name,
                can_manage_certificates=can_manage_certificates,
            )
            session.add(row)
            session.flush()
            return role_info(row)

    def list_entities(self, account_id: str) -> list[EntityInfo]:
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            rows = session.scalars(
                select(EntityRow).where(EntityRow.account_pk == account.pk).order_by(EntityRow.netsuite_id)
            )
            return [entity_info(row) for row in rows]

    def list_roles(self, account_id: str) -> list[RoleInfo]:
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            rows = session.scalars(
                select(RoleRow).where(RoleRow.account_pk == account.pk).order_by(RoleRow.netsuite_id)
            )
            return [role_info(row) for row in rows]

    def find_entity(self, account_id: str, entity_id: int) -> EntityInfo | None:
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            row = entity_row(session, account.pk, entity_id)
            return None if row is None else entity_info(row)

    def find_role(self, account_id: str, role_id: int) -> RoleInfo | None:
        with self._database.transaction() as session:
            account = account_row(session, account_id)
            row = role_row(session, account.pk, role_id)
            return None if row is None else role_info(row)

    def map_m2m(self, client_id: str, entity_id: int, role_id: int) -> None:
        """Allow (entity, role) to use the client credentials flow on the integration."""
        with self._database.transaction() as session:
            integration, entity, role = party_rows(session, client_id, entity_id, role_id)
            if not is_mapped(session, integration.pk, entity.pk, role.pk):
                session.add(_MappingRow(integration_pk=integration.pk, entity_pk=entity.pk, role_pk=role.pk))

    def add_combinations(
        self,
        client_id: str,
        count: int,
        *,
        role_id: int | None = None,
        can_manage_certificates: bool = False,
    ) -> list[tuple[int, int]]:
        """``count`` new entities (and new roles unless ``role_id``), mapped for M2M, in one go."""
        with self._database.transaction() as session:
            integration = integration_row(session, client_id)
            account_pk = integration.account_pk
            shared_role = None
            if role_id is not None:
                shared_role = role_row(session, account_pk, role_id)
                if shared_role is None:
                    raise NotFoundError(
                        f"Role {role_id} does not exist in the emulator.", hint="create it first."
                    )
            next_entity = _next_id(session, EntityRow, account_pk, FIRST_CUSTOM_ENTITY_ID, count=count)
            next_role = _next_id(session, RoleRow, account_pk, FIRST_CUSTOM_ROLE_ID, count=count)
            pairs: list[tuple[int, int]] = []
            for offset in range(count):
                entity = EntityRow(
                    account_pk=account_pk,
                    netsuite_id=next_entity + offset,
                    name=f"M2M user {next_entity + offset}",
                    entity_type="EMPLOYEE",
                )
                role = shared_role or RoleRow(
                    account_pk=account_pk,
                    netsuite_id=next_role + offset,
                    name=f"M2M role {next_role + offset}",
                    can_manage_certificates=can_manage_certificates,
                )
                session.add_all([entity, role])
                session.flush()
                session.add(_MappingRow(integration_pk=integration.pk, entity_pk=entity.pk, role_pk=role.pk))
                pairs.append((entity.netsuite_id, role.netsuite_id))
            return pairs


def _next_id(
    session: Session, table: type[EntityRow] | type[RoleRow], account_pk: int, first: int, *, count: int = 1
) -> int:
    """The next free NetSuite ID of an entity or role in the account, custom ones from ``first``;
    ``count`` IDs from it must stay within ``MAX_INTERNAL_ID``."""
    highest = session.scalar(select(func.max(table.netsuite_id)).where(table.account_pk == account_pk))
    chosen = max(first, (highest or 0) + 1)
    if chosen + count - 1 > MAX_INTERNAL_ID:
        kind = "entity" if table is EntityRow else "role"
        raise InputError(
            f"No free {kind} ID is left above {highest} (the largest is {MAX_INTERNAL_ID}).",
            hint=f"give the {kind} ID explicitly.",
        )
    return chosen


def _chosen_id(
    session: Session,
    table: type[EntityRow] | type[RoleRow],
    account: AccountRow,
    requested: int | None,
    first: int,
) -> int:
    """The requested NetSuite ID of a new entity or role if free in the account, else the next one."""
    if requested is None:
        return _next_id(session, table, account.pk, first)
    if not internal_id_in_range(requested):
        raise InputError(
            f"The ID {requested} is out of range.",
            hint=f"give an ID from -{MAX_INTERNAL_ID + 1} to {MAX_INTERNAL_ID}.",
        )
    taken = session.scalar(
        select(table.pk).where(table.account_pk == account.pk, table.netsuite_id == requested)
    )
    if taken is not None:
        kind = "Entity" if table is EntityRow else "Role"
        raise AlreadyExistsError(
            f"{kind} {requested} already exists in account {account.account_id}.",
            hint=f"choose another {kind.lower()} ID or leave it out.",
        )
    return requested


# Row helpers for every part of the state (inside a transaction)


def account_row(session: Session, account_id: str) -> AccountRow:
    row = session.scalar(select(AccountRow).where(AccountRow.account_id == account_id))
    if row is None:
        raise NotFoundError(
            f"Emulator account {account_id} does not exist.",
            hint="create it first (certrotor emulator init creates a demo account).",
        )
    return row


def integration_row(session: Session, client_id: str, *, refusal: bool = False) -> IntegrationRow:
    """The integration; missing, a ``NotFoundError`` or (``refusal``) NetSuite's 404 refusal."""
    row = session.scalar(select(IntegrationRow).where(IntegrationRow.client_id == client_id))
    if row is None:
        if refusal:
            raise NetSuiteRefusalError(
                404, NONEXISTENT_ID, f"No integration record with client ID {client_id} exists."
            )
        raise NotFoundError(
            f"Emulator integration with client ID {client_id} does not exist.",
            hint="create it first.",
        )
    return row


def entity_row(session: Session, account_pk: int, entity_id: int) -> EntityRow | None:
    if not internal_id_in_range(entity_id):
        return None
    return session.scalar(
        select(EntityRow).where(EntityRow.account_pk == account_pk, EntityRow.netsuite_id == entity_id)
    )


def role_row(session: Session, account_pk: int, role_id: int) -> RoleRow | None:
    if not internal_id_in_range(role_id):
        return None
    return session.scalar(
        select(RoleRow).where(RoleRow.account_pk == account_pk, RoleRow.netsuite_id == role_id)
    )


def party_rows(
    session: Session, client_id: str, entity_id: int, role_id: int
) -> tuple[IntegrationRow, EntityRow, RoleRow]:
    """The integration and an entity and role of its account, by NetSuite IDs; all must exist."""
    integration = integration_row(session, client_id)
    entity = entity_row(session, integration.account_pk, entity_id)
    role = role_row(session, integration.account_pk, role_id)
    if entity is None or role is None:
        raise NotFoundError(
            f"Entity {entity_id} or role {role_id} does not exist in the emulator.",
            hint="create them first.",
        )
    return integration, entity, role


def is_mapped(session: Session, integration_pk: int, entity_pk: int, role_pk: int) -> bool:
    """Whether (entity, role) may use the client credentials flow on the integration."""
    return session.get(_MappingRow, (integration_pk, entity_pk, role_pk)) is not None


def account_info(row: AccountRow) -> AccountInfo:
    return AccountInfo(pk=row.pk, account_id=row.account_id, company_id=row.company_id)


def integration_info(session: Session, row: IntegrationRow) -> IntegrationInfo:
    return IntegrationInfo(
        pk=row.pk,
        internal_id=row.pk,
        client_id=row.client_id,
        application_id=row.application_id,
        name=row.name,
        account=account_info(session.get_one(AccountRow, row.account_pk)),
        redirect_uris=tuple(row.redirect_uris or ()),
        client_credentials_enabled=row.client_credentials_enabled,
        scopes=tuple(row.scopes),
    )


def entity_info(row: EntityRow) -> EntityInfo:
    return EntityInfo(pk=row.pk, id=row.netsuite_id, name=row.name, entity_type=row.entity_type)


def role_info(row: RoleRow) -> RoleInfo:
    return RoleInfo(
        pk=row.pk,
        id=row.netsuite_id,
        name=row.name,
        can_manage_certificates=row.can_manage_certificates,
    )


def party_info(
    session: Session, integration_pk: int, entity_pk: int, role_pk: int
) -> tuple[IntegrationInfo, EntityInfo, RoleInfo]:
    """The (integration, entity, role) a certificate, token or code belongs to, by primary keys."""
    return (
        integration_info(session, session.get_one(IntegrationRow, integration_pk)),
        entity_info(session.get_one(EntityRow, entity_pk)),
        role_info(session.get_one(RoleRow, role_pk)),
    )


__all__ = [
    "ADMINISTRATOR_ROLE_ID",
    "INTEGRATION_SCOPES",
    "AccountInfo",
    "EntityInfo",
    "IntegrationInfo",
    "RoleInfo",
    "Tenants",
    "check_integration_scopes",
    "new_client_id",
]
