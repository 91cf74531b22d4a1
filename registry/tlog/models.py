"""The transparency log's tables: leaves, cached subtree hashes (tiles) and signed checkpoints.

A leaf is written (``seq`` NULL) in the transaction of the event it records; a checkpoint gives
the pending leaves their positions (``seq``), in leaf-id order, then signs the new tree head.
Positions are assigned only then, under a lock, so concurrent sealing transactions never leave
gaps or reorder a checkpointed prefix::

    tlog_leaves       id, seq (position, NULL until checkpointed), identifier, data, leaf_hash
    tlog_tiles        (level, number) → MTH of leaves [number·2^level, (number+1)·2^level)
    tlog_checkpoints  origin, tree_size, root_hash, created_at, certificate, signature

Example::

    session.scalars(select(LogLeaf).where(LogLeaf.identifier == ident,
                                          LogLeaf.seq.is_not(None))).all()
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db.models import Base

__all__ = ["LogCheckpoint", "LogLeaf", "LogTile"]


_SEQUENCED = text("seq IS NOT NULL")


class LogLeaf(Base):
    """One license event as a leaf of the log."""

    __tablename__ = "tlog_leaves"
    __table_args__ = (
        # Only sequenced leaves are looked up by identifier (a proof needs a position), so a
        # leaf enters this index when a checkpoint sequences it, with the rest of its
        # checkpoint, instead of one random B-tree insert per sealing: migration 0009.
        Index("ix_tlog_leaves_sequenced", "identifier", sqlite_where=_SEQUENCED,
              postgresql_where=_SEQUENCED),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    """Position in the log (0-based), assigned by the checkpoint that first covers the leaf."""
    identifier: Mapped[str] = mapped_column(String(160))
    """The license identifier the event is about (also inside ``data``)."""
    data: Mapped[bytes]
    """The leaf data: RFC 8785 JSON of {dataHash, identifier, operateType, status, time}."""
    leaf_hash: Mapped[bytes]
    """SHA-256(0x00 ‖ data), RFC 9162."""


class LogTile(Base):
    """The hash of a complete, aligned subtree, cached so proofs need not rehash the log."""

    __tablename__ = "tlog_tiles"
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    """log2 of the number of leaves the tile covers (8 or 16)."""
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Which tile: it covers leaves [number·2^level, (number+1)·2^level)."""
    hash: Mapped[bytes]
    """MTH of those leaves."""


class LogCheckpoint(Base):
    """A signed tree head: origin, size, root hash and time, signed with the log key."""

    __tablename__ = "tlog_checkpoints"
    __table_args__ = (Index("ix_tlog_checkpoints_size", "tree_size"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(200))
    """Names the log (first line of the signed body)."""
    tree_size: Mapped[int] = mapped_column(Integer)
    root_hash: Mapped[bytes]
    created_at: Mapped[dt.datetime]
    """The checkpoint time, signed: proof that every leaf below ``tree_size`` existed then."""
    certificate: Mapped[bytes]
    """The log certificate (DER) whose key made ``signature``."""
    signature: Mapped[bytes]
    """DER ECDSA P-256/SHA-256 signature over the checkpoint body."""
