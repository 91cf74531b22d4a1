"""batch attempts: the read options are part of what identifies a batch

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 19:00:00

A batch was found by its file's bytes, department and type alone, so a file that failed for
want of a ``--mapping`` (or with the wrong ``--sheet`` / ``--header-row``) failed again however
it was run. Now the digest of the batch's read options is part of its key: the same bytes read
another way are a new batch (an attempt), while the same bytes read the same way still find
their batch (done: already ingested; failed or interrupted: resumed).
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

_OLD = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # names the unnamed key of 0001 on SQLite


def _digest(options: object) -> str:
    """As registry.batch.run.options_digest was when this migration was written."""
    text = json.dumps(options or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    conn = op.get_bind()
    old = ("batches_file_sha256_department_id_type_code_key"
           if conn.dialect.name == "postgresql" else "uq_batches_file_sha256")
    with op.batch_alter_table("batches", naming_convention=_OLD) as batch:
        batch.add_column(sa.Column("options_sha256", sa.String(length=64), nullable=True))
        batch.drop_constraint(old, type_="unique")
    batches = sa.table("batches", sa.column("id", sa.Integer), sa.column("options", sa.JSON),
                       sa.column("options_sha256", sa.String))
    for batch_id, options in conn.execute(sa.select(batches.c.id, batches.c.options)).all():
        conn.execute(sa.update(batches).where(batches.c.id == batch_id)
                     .values(options_sha256=_digest(options)))
    with op.batch_alter_table("batches") as batch:
        batch.create_unique_constraint("uq_batches_attempt", ["file_sha256", "department_id",
                                                              "type_code", "options_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_constraint("uq_batches_attempt", type_="unique")
        batch.drop_column("options_sha256")
        batch.create_unique_constraint("batches_file_sha256_department_id_type_code_key",
                                       ["file_sha256", "department_id", "type_code"])
