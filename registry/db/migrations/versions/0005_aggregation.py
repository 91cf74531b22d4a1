"""aggregation: event status and dead letters, sync runs and checkpoints, license history

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-27

Outbox events gain the status they carry (a 05 event says which of 撤销 / 注销 / 吊销 / 转出 it
was) and a dead-letter time; earlier events have neither, and the sync falls back to the
license's status for them. New tables only otherwise.
"""

import sqlalchemy as sa
from alembic import op

import registry.db.models

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch:
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=True))
        batch.add_column(
            sa.Column("dead_at", registry.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_outbox_license", ["license_id", "id"], unique=False)
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", registry.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_runs_open", "sync_runs", ["finished_at", "kind"], unique=False)
    op.create_table(
        "sync_checkpoints",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("started_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", registry.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "license_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("operate_type", sa.String(length=2), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("related", sa.String(length=160), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_license_changes_license", "license_changes", ["license_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_license_changes_license", table_name="license_changes")
    op.drop_table("license_changes")
    op.drop_table("sync_checkpoints")
    op.drop_index("ix_sync_runs_open", table_name="sync_runs")
    op.drop_table("sync_runs")
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_index("ix_outbox_license")
        batch.drop_column("dead_at")
        batch.drop_column("status")
