"""The web console's own tables: its users (Argon2 hashes only) and onboardings with their share links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ROLES = ("viewer", "operator")
_ONBOARDING_OUTCOMES = ("connected", "failed")


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_users")),
        sa.UniqueConstraint("name", name=op.f("uq_web_users_name")),
        _one_of("role", _ROLES, op.f("ck_web_users_role")),
    )
    op.create_table(
        "web_onboardings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credential_name", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("base_url", sa.String(512), nullable=True),
        sa.Column("manager_credential", sa.String(64), nullable=True),
        sa.Column("redirect_uri", sa.String(1024), nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("secrets_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("share_token_hash", sa.String(64), nullable=False),
        sa.Column("share_used_at", _when(), nullable=True),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.Column("finished_at", _when(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_onboardings")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_web_onboardings_state_hash")),
        sa.UniqueConstraint("share_token_hash", name=op.f("uq_web_onboardings_share_token_hash")),
        _one_of("outcome", _ONBOARDING_OUTCOMES, op.f("ck_web_onboardings_outcome")),
    )


def downgrade() -> None:
    op.drop_table("web_onboardings")
    op.drop_table("web_users")
