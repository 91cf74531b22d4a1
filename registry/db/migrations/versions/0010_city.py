"""the city a registry serves: its row, department short names, each type's whole document

Revision ID: 0010
Revises: 0001
Create Date: 2026-12-03 10:30:00

A registry now keeps each license type's document (face fields, validity rules, PDF text
patterns, default layout) in ``license_types.schema`` instead of reading it from files beside
the code, so a city can register types of its own. Rows registered before get their type's
document from the shipped catalogue (``schemas/catalogue/``, which now also holds the layouts
and, for 营业执照, the validity and PDF rules that lived in ``schemas/ingest/``); templates that
pinned the old document's hash are re-pinned to the new one, which says the same.
"""

import sqlalchemy as sa
from alembic import op

from registry.license.types import catalogue

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        "cities",
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("division_code"),
    )
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("short_name", sa.String(length=50), nullable=True))
    with op.batch_alter_table("license_types") as batch:
        batch.add_column(sa.Column("schema", sa.JSON(), nullable=True))
    conn = op.get_bind()
    types = sa.table("license_types", sa.column("code", sa.String), sa.column("schema", sa.JSON),
                     sa.column("schema_sha256", sa.String))
    templates = sa.table("templates", sa.column("type_code", sa.String),
                         sa.column("schema_sha256", sa.String))
    shipped = catalogue()
    for code, old_sha in conn.execute(sa.select(types.c.code, types.c.schema_sha256)).all():
        if code not in shipped:
            continue
        doc, sha = shipped[code].schema, shipped[code].sha256
        conn.execute(sa.update(types).where(types.c.code == code)
                     .values(schema=doc, schema_sha256=sha))
        conn.execute(sa.update(templates).where(templates.c.type_code == code,
                                                templates.c.schema_sha256 == old_sha)
                     .values(schema_sha256=sha))


def downgrade() -> None:
    with op.batch_alter_table("license_types") as batch:
        batch.drop_column("schema")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("short_name")
    op.drop_table("cities")
