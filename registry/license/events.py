"""License events: every sealing and status change, recorded where it happens.

:func:`record_events` is the one place a license event is written: the outbox row the sync
pushes to the province (and, with the transparency log, its log leaf), in the caller's
transaction, so a change and its events commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy.orm import Session

from registry.db import bulk_insert, table_of
from registry.db.models import OutboxEvent
from registry.tlog.leaves import append_leaves

__all__ = ["OP_CHANGE", "OP_NEW", "LicenseEvent", "record_events"]

OP_NEW = "01"
"""operateType 新发 (STANDARDS.md §2.2)."""
OP_CHANGE = "09"
"""operateType 变更."""


class LicenseEvent(NamedTuple):
    """One event of one license version (a NamedTuple: a chunk makes one per license, and a
    frozen dataclass costs several times as much to build)."""

    license_id: int
    identifier: str
    operate_type: str
    """STANDARDS.md §2.2 operateType."""
    status: str
    """The license's status after the event (VALID, SUSPENDED …)."""
    data_hash: bytes
    """SHA-256 of the license's signed record."""
    pushed: bool = True
    """False for an event the province learns from another one (a version superseded by its
    successor, which names it): logged, but no outbox row."""


OUTBOX_COLUMNS = ("license_id", "operate_type", "status", "created_at", "attempts")
"""What :func:`record_events` writes to the outbox; the sync fills in the rest."""


def record_events(session: Session, events: Sequence[LicenseEvent], *, at: dt.datetime) -> None:
    """Write the outbox rows and log leaves for ``events`` in the caller's transaction."""
    if not events:
        return
    bulk_insert(session.connection(), table_of(OutboxEvent), OUTBOX_COLUMNS,
                [(e.license_id, e.operate_type, e.status, at, 0) for e in events if e.pushed])
    append_leaves(session, events, at=at)  # the log leaf of each event, same transaction
