"""Initial schema: accounts, credentials, certificate versions, rotation journal, append-only events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the enum values at this revision: later code may grow the enums, this may not.
_KINDS = ("m2m", "record")
_KEY_SPECS = ("ec-p256", "ec-p384", "ec-p521", "rsa-3072", "rsa-4096")
_STRATEGIES = ("auto", "overlap", "replace")
_AUTH_MODES = ("self", "credential", "token")
_VERSION_STATES = ("pending", "uploaded", "current", "previous", "revoked", "failed")
_TRIGGERS = ("schedule", "manual", "recovery")
_STEPS = ("prepare", "upload", "verify", "activate", "deliver", "retire", "done", "failed")
_OUTCOMES = ("ok", "error", "info")


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("base_url", sa.String(512), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("account_id", name=op.f("uq_accounts_account_id")),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_fk", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("key_spec", sa.String(16), nullable=False),
        sa.Column("validity_seconds", sa.Integer(), nullable=False),
        sa.Column("renew_before_min_seconds", sa.Integer(), nullable=False),
        sa.Column("renew_before_max_seconds", sa.Integer(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("resolved_strategy", sa.String(16), nullable=True),
        sa.Column("auth_mode", sa.String(16), nullable=False),
        sa.Column("auth_credential_fk", sa.Integer(), nullable=True),
        sa.Column("management_token_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("hook_command", sa.Text(), nullable=True),
        sa.Column("delivery_dir", sa.String(1024), nullable=True),
        sa.Column("record_script_id", sa.String(128), nullable=True),
        sa.Column("record_name", sa.String(256), nullable=True),
        sa.Column("next_rotation_at", _when(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_rotation_at", _when(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", _when(), nullable=True),
        sa.Column("removed_at", _when(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.ForeignKeyConstraint(
            ["account_fk"], ["accounts.id"], name=op.f("fk_credentials_account_fk_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["auth_credential_fk"],
            ["credentials.id"],
            name=op.f("fk_credentials_auth_credential_fk_credentials"),
        ),
        _one_of("kind", _KINDS, op.f("ck_credentials_kind")),
        _one_of("key_spec", _KEY_SPECS, op.f("ck_credentials_key_spec")),
        _one_of("strategy", _STRATEGIES, op.f("ck_credentials_strategy")),
        _one_of("resolved_strategy", _STRATEGIES[1:], op.f("ck_credentials_resolved_strategy")),
        _one_of("auth_mode", _AUTH_MODES, op.f("ck_credentials_auth_mode")),
        sa.CheckConstraint(
            "renew_before_min_seconds >= 0 AND renew_before_max_seconds >= renew_before_min_seconds"
            " AND grace_seconds >= 0 AND validity_seconds > 0 AND failed_attempts >= 0",
            name=op.f("ck_credentials_durations"),
        ),
    )
    op.create_index(
        "uq_credentials_live_name",
        "credentials",
        ["name"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    # Selecting due credentials among tens of thousands must not scan the table.
    op.create_index("ix_credentials_due", "credentials", ["next_rotation_at"])
    op.create_index(op.f("ix_credentials_account_fk"), "credentials", ["account_fk"])

    op.create_table(
        "certificate_versions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("credential_fk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("certificate_id", sa.String(128), nullable=True),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("not_before", _when(), nullable=False),
        sa.Column("not_after", _when(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("activated_at", _when(), nullable=True),
        sa.Column("revoked_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_versions")),
        sa.ForeignKeyConstraint(
            ["credential_fk"],
            ["credentials.id"],
            name=op.f("fk_certificate_versions_credential_fk_credentials"),
        ),
        sa.UniqueConstraint("fingerprint_sha256", name=op.f("uq_certificate_versions_fingerprint_sha256")),
        sa.UniqueConstraint(
            "credential_fk",
            "certificate_id",
            name=op.f("uq_certificate_versions_credential_fk_certificate_id"),
        ),
        _one_of("state", _VERSION_STATES, op.f("ck_certificate_versions_state")),
    )
    op.create_index(op.f("ix_certificate_versions_credential_fk"), "certificate_versions", ["credential_fk"])
    op.create_index(
        "uq_certificate_versions_one_current",
        "certificate_versions",
        ["credential_fk"],
        unique=True,
        sqlite_where=sa.text("state = 'current'"),
        postgresql_where=sa.text("state = 'current'"),
    )

    op.create_table(
        "rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credential_fk", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("new_version_fk", sa.String(36), nullable=True),
        sa.Column("old_version_fk", sa.String(36), nullable=True),
        sa.Column("retire_after", _when(), nullable=True),
        sa.Column("started_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("finished_at", _when(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotations")),
        sa.ForeignKeyConstraint(
            ["credential_fk"], ["credentials.id"], name=op.f("fk_rotations_credential_fk_credentials")
        ),
        sa.ForeignKeyConstraint(
            ["new_version_fk"],
            ["certificate_versions.id"],
            name=op.f("fk_rotations_new_version_fk_certificate_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["old_version_fk"],
            ["certificate_versions.id"],
            name=op.f("fk_rotations_old_version_fk_certificate_versions"),
        ),
        _one_of('"trigger"', _TRIGGERS, op.f("ck_rotations_trigger")),
        _one_of("strategy", _STRATEGIES[1:], op.f("ck_rotations_strategy")),
        _one_of("step", _STEPS, op.f("ck_rotations_step")),
    )
    op.create_index(op.f("ix_rotations_credential_fk"), "rotations", ["credential_fk"])
    op.create_index(
        "uq_rotations_one_open",
        "rotations",
        ["credential_fk"],
        unique=True,
        sqlite_where=sa.text("finished_at IS NULL"),
        postgresql_where=sa.text("finished_at IS NULL"),
    )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credential_fk", sa.Integer(), nullable=True),
        sa.Column("at", _when(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.ForeignKeyConstraint(
            ["credential_fk"], ["credentials.id"], name=op.f("fk_events_credential_fk_credentials")
        ),
        _one_of("outcome", _OUTCOMES, op.f("ck_events_outcome")),
    )
    op.create_index("ix_events_credential_fk_id", "events", ["credential_fk", "id"])
    _make_events_append_only()

    op.create_table(
        "store_meta",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_meta")),
    )


def _make_events_append_only() -> None:
    """The audit log refuses UPDATE and DELETE in the database itself, not only in our API."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION certrotor_events_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'events are append-only: % refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION certrotor_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION certrotor_events_append_only()"
        )
        return
    op.execute(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END"
    )


def downgrade() -> None:
    op.drop_table("store_meta")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS certrotor_events_append_only()")
    op.drop_table("events")
    op.drop_table("rotations")
    op.drop_table("certificate_versions")
    op.drop_table("credentials")
    op.drop_table("accounts")
