"""Record credentials gain a mode (rotate or monitor) and their RESTlet's script and deploy IDs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09

Record credentials that exist already were rotated by certrotor through deployment 1: they keep
doing so (``rotate``, deploy ``1``); new ones get the defaults of ``record add``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("record_mode", sa.String(16), nullable=True))
        batch.add_column(sa.Column("restlet_script_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("restlet_deploy_id", sa.String(128), nullable=True))
        batch.create_check_constraint(
            op.f("ck_credentials_record_mode"), "record_mode IS NULL OR record_mode IN ('rotate', 'monitor')"
        )
    op.execute(
        "UPDATE credentials SET record_mode = 'rotate', "
        "restlet_script_id = 'customscript_certrotor_certificates', restlet_deploy_id = '1' "
        "WHERE kind = 'record'"
    )


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_constraint(op.f("ck_credentials_record_mode"), type_="check")
        batch.drop_column("restlet_deploy_id")
        batch.drop_column("restlet_script_id")
        batch.drop_column("record_mode")
