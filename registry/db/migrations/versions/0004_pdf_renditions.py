"""pdf renditions: one signed PDF per license version

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27

A new table only; licenses sealed before it exist are "pending" until ``licreg pdf render``.
"""

import sqlalchemy as sa
from alembic import op

import registry.db.models

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pdf_renditions",
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("missing_glyphs", sa.Text(), nullable=True),
        sa.Column("rendered_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.id"]),
        sa.PrimaryKeyConstraint("license_id"),
    )


def downgrade() -> None:
    op.drop_table("pdf_renditions")
