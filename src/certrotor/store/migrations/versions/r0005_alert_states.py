"""Alert state per credential: the last status alerted and when, so alerts go out on transitions only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("credential_fk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotation_failure_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('OK', 'WARN', 'CRIT')", name=op.f("ck_alert_states_status")),
        sa.ForeignKeyConstraint(
            ["credential_fk"], ["credentials.id"], name=op.f("fk_alert_states_credential_fk_credentials")
        ),
        sa.PrimaryKeyConstraint("credential_fk", name=op.f("pk_alert_states")),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
