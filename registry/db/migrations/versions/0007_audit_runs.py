"""bulletin: registry audit runs and their verdicts per department

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-27

``licreg verify --registry`` records each run, so the weekly bulletin can rank departments on
the pass rate of the last audit. New tables only. Branches off 0001 (like 0002-0006) because
audit_run_departments refers to departments.
"""

import sqlalchemy as sa
from alembic import op

import registry.db.models

revision = "0007"
down_revision = "0001"
branch_labels = ("bulletin",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("licenses", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("indeterminate", sa.Integer(), nullable=False),
        sa.Column("not_in_force", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_run_departments",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("indeterminate", sa.Integer(), nullable=False),
        sa.Column("not_in_force", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["audit_runs.id"]),
        sa.PrimaryKeyConstraint("run_id", "department_id"),
    )


def downgrade() -> None:
    op.drop_table("audit_run_departments")
    op.drop_table("audit_runs")
