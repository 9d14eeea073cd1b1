"""The token broker's application keys: SHA-256 hashes only, the credentials each key may reach.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broker_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_broker_keys_key_sha256")),
    )
    op.create_index(
        "uq_broker_keys_live_app",
        "broker_keys",
        ["app"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_broker_keys_live_app", table_name="broker_keys")
    op.drop_table("broker_keys")
