"""ingest batches: uploader, read options, source facts and timing per batch; reason counts

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-27 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("uploader", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("source", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("elapsed_seconds", sa.Float(), nullable=True))
    op.create_table(
        "batch_reason_counts",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("chunk_line", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"]),
        sa.PrimaryKeyConstraint("batch_id", "chunk_line", "code"),
    )


def downgrade() -> None:
    op.drop_table("batch_reason_counts")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("elapsed_seconds")
        batch.drop_column("source")
        batch.drop_column("options")
        batch.drop_column("uploader")
