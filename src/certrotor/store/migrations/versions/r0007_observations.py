"""Observations of each credential's remote state, and the ``emergency`` rotation trigger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

The rotations table's CHECK constraint on ``trigger`` (migration 0001) lists the triggers of its
time; an emergency rotation (the current certificate revoked, missing or expired on NetSuite) needs
one more value, so the constraint is replaced (SQLite: the table is rebuilt by batch mode).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TRIGGERS_BEFORE = ("schedule", "manual", "recovery")
_TRIGGERS = (*_TRIGGERS_BEFORE, "emergency")
_REMOTE_STATES = ("active", "revoked", "missing", "refused", "unknown")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _replace_trigger_check(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("rotations", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_rotations_trigger"), type_="check")
        batch.create_check_constraint(op.f("ck_rotations_trigger"), _one_of('"trigger"', values))


def upgrade() -> None:
    _replace_trigger_check(_TRIGGERS)
    op.create_table(
        "observations",
        sa.Column("credential_fk", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_state", sa.String(16), nullable=False),
        sa.Column("certificate_id", sa.String(128), nullable=True),
        sa.Column("foreign_certificate_ids", sa.JSON(), nullable=False),
        sa.Column("placeholder", sa.Boolean(), nullable=False),
        sa.Column("probe_ok", sa.Boolean(), nullable=True),
        sa.Column("probe_error", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("management_fix", sa.Text(), nullable=True),
        sa.Column("observer", sa.String(128), nullable=False),
        sa.CheckConstraint(
            _one_of("remote_state", _REMOTE_STATES), name=op.f("ck_observations_remote_state")
        ),
        sa.ForeignKeyConstraint(
            ["credential_fk"], ["credentials.id"], name=op.f("fk_observations_credential_fk_credentials")
        ),
        sa.PrimaryKeyConstraint("credential_fk", name=op.f("pk_observations")),
    )


def downgrade() -> None:
    op.drop_table("observations")
    op.execute("UPDATE rotations SET \"trigger\" = 'manual' WHERE \"trigger\" = 'emergency'")
    _replace_trigger_check(_TRIGGERS_BEFORE)
