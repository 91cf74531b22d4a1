"""transparency log: index leaves by identifier only once a checkpoint sequences them

Revision ID: 0009
Revises: 0003
Create Date: 2026-11-27 22:00:00

Leaf identifiers are random keys: indexing each leaf as it is written dirtied a new page of
that index for almost every license sealed, and a million-row batch spent a fifth of its time
on it. A proof needs a sequenced leaf anyway, so the index now holds sequenced leaves only
(a partial index) and a leaf enters it with its whole checkpoint.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0003"
branch_labels = None
depends_on = None

_SEQUENCED = sa.text("seq IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_tlog_leaves_identifier", table_name="tlog_leaves")
    op.create_index("ix_tlog_leaves_sequenced", "tlog_leaves", ["identifier"],
                    sqlite_where=_SEQUENCED, postgresql_where=_SEQUENCED)


def downgrade() -> None:
    op.drop_index("ix_tlog_leaves_sequenced", table_name="tlog_leaves")
    op.create_index("ix_tlog_leaves_identifier", "tlog_leaves", ["identifier"])
