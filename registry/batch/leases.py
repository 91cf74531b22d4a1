"""Batch leases: one run at a time works on a batch, whichever machine it runs on.

Several Prefect workers (or a clerk's ``licreg ingest`` next to a scheduled inbox run) may be
handed the same file at once. Rows could never be stored twice — a chunk's rows, licenses and
events commit together and their keys are unique — but the second run would redo the work and
fail on the first conflict. So a run first *claims* the batch: a conditional UPDATE that only
succeeds when nobody else holds an unexpired lease. The run renews the lease as it goes and
releases it when the batch is done or failed. A run that dies without releasing is taken over
at once when it ran on this host (its holder names ``host:pid`` and that process is gone, or a
zombie); a run of another machine (or a flow run, named otherwise) blocks the batch until its
lease runs out; then any run may resume it.

Leases use the wall clock of the machines (they are about processes being alive), never the
``at`` a batch is stamped with.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from pathlib import Path
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
    "holder_dead",
    "process_alive",
    "release_batch",
    "renew_batch",
    "runner_name",
]

LEASE = dt.timedelta(minutes=5)
"""How long a claim holds without renewal (a run renews it at every chunk it plans)."""


def runner_name() -> str:
    """This process, as other runs see it in a busy message: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, killed and not yet reaped, does
    not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux), or gone since
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


_HOLDER = re.compile(r"([^\s:]+):(\d+)(?:\s|$)")
"""A holder's leading ``host:pid`` (a flow run's holder goes on with ``(flow run <id>)``)."""


def holder_dead(holder: str | None) -> bool:
    """Whether a lease holder named ``host:pid …`` ran on this host and is gone."""
    m = _HOLDER.match(holder or "")
    return (m is not None and m.group(1) == socket.gethostname()
            and not process_alive(int(m.group(2))))


def _take(session: Session, batch_id: int, runner: str, at: dt.datetime, *when: Any) -> bool:
    return bool(cast(CursorResult[Any], session.execute(
        update(Batch).where(Batch.id == batch_id, *when)
        .values(leased_by=runner, lease_until=at + LEASE)
        .execution_options(synchronize_session=False))).rowcount)


def claim_batch(session: Session, batch_id: int, runner: str, *,
                at: dt.datetime | None = None) -> None:
    """Take the batch for ``runner`` (or extend its own claim); raise :class:`BatchBusyError`
    when another runner holds an unexpired lease and is not known dead (:func:`holder_dead`).
    Takes effect when the caller commits."""
    at = at or utc_now()
    if _take(session, batch_id, runner, at, or_(Batch.leased_by.is_(None),
                                                Batch.leased_by == runner,
                                                Batch.lease_until < at)):
        return
    holder, until = session.execute(
        select(Batch.leased_by, Batch.lease_until).where(Batch.id == batch_id)).one()
    # Taken over only from that very holder: two runs finding it dead at once, one wins.
    if holder_dead(holder) and _take(session, batch_id, runner, at, Batch.leased_by == holder):
        return
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
