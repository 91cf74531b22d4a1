"""seal lifecycle: applications, makings, seal and template events, revocation, layouts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Only new tables and new nullable columns: on SQLite every change is a plain CREATE TABLE or
ALTER TABLE ADD COLUMN, so upgrading a registry that already holds seals and licenses never
recreates a table that licenses point at.
"""

import sqlalchemy as sa
from alembic import op

import registry.db.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seal_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("type_codes", sa.JSON(), nullable=False),
        sa.Column("valid_until", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applicant", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("applied_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "seal_makings",
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["seal_applications.id"]),
        sa.ForeignKeyConstraint(["replaces_id"], ["seals.id"]),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"]),
        sa.PrimaryKeyConstraint("seal_id"),
    )
    with op.batch_alter_table("seal_makings", schema=None) as batch_op:
        batch_op.create_index("ix_seal_makings_application", ["application_id"], unique=False)

    op.create_table(
        "seal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("seal_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["seal_applications.id"]),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("seal_events", schema=None) as batch_op:
        batch_op.create_index("ix_seal_events_application", ["application_id"], unique=False)
        batch_op.create_index("ix_seal_events_seal", ["seal_id"], unique=False)

    op.create_table(
        "template_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("template_events", schema=None) as batch_op:
        batch_op.create_index("ix_template_events_template", ["template_id"], unique=False)

    with op.batch_alter_table("seals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revoked_at", registry.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("revocation_reason", sa.String(length=40), nullable=True))

    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("layout", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("numbering", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("numbering")
        batch_op.drop_column("layout")
    with op.batch_alter_table("seals", schema=None) as batch_op:
        batch_op.drop_column("revocation_reason")
        batch_op.drop_column("revoked_at")
    with op.batch_alter_table("template_events", schema=None) as batch_op:
        batch_op.drop_index("ix_template_events_template")
    op.drop_table("template_events")
    with op.batch_alter_table("seal_events", schema=None) as batch_op:
        batch_op.drop_index("ix_seal_events_seal")
        batch_op.drop_index("ix_seal_events_application")
    op.drop_table("seal_events")
    with op.batch_alter_table("seal_makings", schema=None) as batch_op:
        batch_op.drop_index("ix_seal_makings_application")
    op.drop_table("seal_makings")
    op.drop_table("seal_applications")
