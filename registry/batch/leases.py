"""Batch leases: one run at a time works on a batch, whichever machine it runs on.

Several Prefect workers (or a clerk's ``licreg ingest`` next to a scheduled inbox run) may be
handed the same file at once. Rows could never be stored twice — a chunk's rows, licenses and
events commit together and their keys are unique — but the second run would redo the work and
fail on the first conflict. So a run first *claims* the batch: a conditional UPDATE that only
succeeds when nobody else holds an unexpired lease. The run renews the lease as it goes and
releases it when the batch is done or failed. A run that dies without releasing (a killed
machine) blocks the batch until its lease runs out; then any run may resume it.

Leases use the wall clock of the machines (they are about processes being alive), never the
``at`` a batch is stamped with.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from registry.clock import utc_now
from registry.db.models import Batch
from registry.errors import BatchBusyError
from registry.i18n import _

__all__ = [
    "LEASE",
    "claim_batch",
    "release_batch",
    "renew_batch",
    "runner_name",
]

LEASE = dt.timedelta(minutes=5)
"""How long a claim holds without renewal (a run renews it at every chunk it plans)."""


def runner_name() -> str:
    """This process, as other runs see it in a busy message: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_batch(session: Session, batch_id: int, runner: str, *,
                at: dt.datetime | None = None) -> None:
    """Take the batch for ``runner`` (or extend its own claim); raise :class:`BatchBusyError`
    when another runner holds an unexpired lease. Takes effect when the caller commits."""
    at = at or utc_now()
    claimed = cast(CursorResult[Any], session.execute(
        update(Batch)
        .where(Batch.id == batch_id,
               or_(Batch.leased_by.is_(None), Batch.leased_by == runner, Batch.lease_until < at))
        .values(leased_by=runner, lease_until=at + LEASE)
        .execution_options(synchronize_session=False)
    )).rowcount
    if not claimed:
        holder, until = session.execute(
            select(Batch.leased_by, Batch.lease_until).where(Batch.id == batch_id)).one()
        raise BatchBusyError(batch_id, holder or _("another run"), until or at)


def renew_batch(session: Session, batch: Batch, *, at: dt.datetime | None = None) -> None:
    """Push the lease out again once half of it is spent (one small write every few minutes,
    not one per chunk)."""
    at = at or utc_now()
    if batch.leased_by is not None and batch.lease_until is not None \
            and batch.lease_until - at < LEASE / 2:
        batch.lease_until = at + LEASE


def release_batch(session: Session, batch_id: int) -> None:
    """Give the batch up (done, failed or interrupted): another run may take it at once."""
    session.execute(update(Batch).where(Batch.id == batch_id)
                    .values(leased_by=None, lease_until=None)
                    .execution_options(synchronize_session=False))
