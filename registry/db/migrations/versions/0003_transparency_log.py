"""transparency log: leaves, tiles, signed checkpoints

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27

New tables only. A registry that already holds licenses gets one leaf per license (its sealing
event, at the license's creation time, in license-id order), so the log starts out vouching
for everything sealed before it existed; the next ``licreg log checkpoint`` signs them.
"""

import datetime as dt
import hashlib

import sqlalchemy as sa
from alembic import op

import registry.db.models
from registry.license.canonical import canonical_bytes

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def _time(when: dt.datetime | str) -> str:
    if isinstance(when, str):  # SQLite hands back text
        when = dt.datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    utc = when.astimezone(dt.UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def upgrade() -> None:
    leaves = op.create_table(
        "tlog_leaves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("identifier", sa.String(length=160), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    with op.batch_alter_table("tlog_leaves", schema=None) as batch_op:
        batch_op.create_index("ix_tlog_leaves_identifier", ["identifier"], unique=False)
    op.create_table(
        "tlog_tiles",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "number"),
    )
    op.create_table(
        "tlog_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", registry.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tlog_checkpoints", schema=None) as batch_op:
        batch_op.create_index("ix_tlog_checkpoints_size", ["tree_size"], unique=False)

    # Licenses sealed before the log existed: one sealing leaf each.
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT identifier, data_hash, predecessor, status, created_at FROM licenses ORDER BY id"
    )).all()
    batch = []
    for identifier, data_hash, predecessor, status, created_at in rows:
        data = canonical_bytes({
            "dataHash": bytes(data_hash).hex(),
            "identifier": identifier,
            "operateType": "09" if predecessor else "01",
            "status": "VALID" if status in ("VALID", "SUPERSEDED") else status,
            "time": _time(created_at),
        })
        batch.append({"identifier": identifier, "data": data, "seq": None,
                      "leaf_hash": hashlib.sha256(b"\x00" + data).digest()})
    if batch:
        op.bulk_insert(leaves, batch)


def downgrade() -> None:
    with op.batch_alter_table("tlog_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_tlog_checkpoints_size")
    op.drop_table("tlog_checkpoints")
    op.drop_table("tlog_tiles")
    with op.batch_alter_table("tlog_leaves", schema=None) as batch_op:
        batch_op.drop_index("ix_tlog_leaves_identifier")
    op.drop_table("tlog_leaves")
