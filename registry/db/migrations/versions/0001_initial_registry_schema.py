"""initial registry schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 14:49:36.984210
"""

import sqlalchemy as sa
from alembic import op

import registry.db.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uscc"),
    )
    op.create_table(
        "license_types",
        sa.Column("code", sa.String(length=21), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("authority_name", sa.String(length=200), nullable=False),
        sa.Column("authority_code", sa.String(length=18), nullable=False),
        sa.Column("schema_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "stored_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=500), nullable=False),
        sa.Column("uploader", sa.String(length=200), nullable=False),
        sa.Column("stored_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("filtered", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", registry.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["file_sha256"],
            ["stored_files.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["license_types.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_sha256", "department_id", "type_code"),
    )
    op.create_table(
        "department_types",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["license_types.code"],
        ),
        sa.PrimaryKeyConstraint("department_id", "type_code"),
    )
    op.create_table(
        "seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("es_id", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("key_file", sa.String(length=300), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=False),
        sa.Column("seal_der", sa.LargeBinary(), nullable=False),
        sa.Column("valid_start", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_end", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("es_id"),
    )
    op.create_table(
        "seal_authorizations",
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("valid_from", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["seal_id"],
            ["seals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["license_types.code"],
        ),
        sa.PrimaryKeyConstraint("seal_id", "type_code"),
    )
    op.create_table(
        "source_rows",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("identifier", sa.String(length=160), nullable=True),
        sa.Column("number", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
        ),
        sa.PrimaryKeyConstraint("batch_id", "line"),
    )
    with op.batch_alter_table("source_rows", schema=None) as batch_op:
        batch_op.create_index("ix_source_rows_number", ["batch_id", "number"], unique=False)

    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=True),
        sa.Column("schema_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["seal_id"],
            ["seals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["license_types.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("type_code", "department_id", "version"),
    )
    op.create_table(
        "licenses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=160), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("holder_code", sa.String(length=18), nullable=False),
        sa.Column("version", sa.String(length=3), nullable=False),
        sa.Column("predecessor", sa.String(length=160), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("valid_to", sa.String(length=8), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("data_hash", sa.LargeBinary(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("signed_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["seal_id"],
            ["seals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
        ),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["license_types.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identifier"),
    )
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.create_index("ix_licenses_holder", ["holder_code"], unique=False)
        batch_op.create_index("ix_licenses_type_number", ["type_code", "number"], unique=False)

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("operate_type", sa.String(length=2), nullable=False),
        sa.Column("created_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("acked_at", registry.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["license_id"],
            ["licenses.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["acked_at", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox_events")
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index("ix_licenses_type_number")
        batch_op.drop_index("ix_licenses_holder")

    op.drop_table("licenses")
    op.drop_table("templates")
    with op.batch_alter_table("source_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_source_rows_number")

    op.drop_table("source_rows")
    op.drop_table("seal_authorizations")
    op.drop_table("seals")
    op.drop_table("department_types")
    op.drop_table("batches")
    op.drop_table("stored_files")
    op.drop_table("license_types")
    op.drop_table("departments")

