"""What the registry remembers about its syncs with the province: runs and checkpoints.

Two tables on :class:`registry.db.models.Base` (migration 0005):

- ``sync_runs``: one row per sync run (incremental, full, reconcile), with its worker, a
  heartbeat and how many events it holds in flight right now; ``licreg sync status`` reads
  them, and on SQLite a second run refuses to start while a live one exists;
- ``sync_checkpoints``: how far a full sync got (the last license id pushed), so that an
  interrupted one resumes where it stopped.

>>> run_worker()  # doctest: +SKIP
'build-host:4242'
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy import Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.clock import china_text
from registry.db.models import Base
from registry.errors import AggregationError
from registry.i18n import _

__all__ = [
    "SyncCheckpoint",
    "SyncRun",
    "finish_run",
    "live_runs",
    "run_worker",
    "set_in_flight",
    "start_run",
]

STALE_AFTER = dt.timedelta(minutes=5)
"""A run whose heartbeat is older than this is taken for dead (its host may be another)."""


class SyncRun(Base):
    """One run of a sync, from start to finish (or to its last heartbeat, if it died)."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_open", "finished_at", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    """incremental / full / reconcile."""
    host: Mapped[str] = mapped_column(String(100))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    """Events claimed and not yet recorded, right now."""
    state: Mapped[str] = mapped_column(String(20))
    """running / done / refused (done, with items refused or dead letters) / failed."""
    summary: Mapped[dict[str, Any] | None]
    """What the run did (its summary's ``to_dict()``)."""
    error: Mapped[str | None] = mapped_column(Text)


class SyncCheckpoint(Base):
    """How far a resumable sync (the full sync) got."""

    __tablename__ = "sync_checkpoints"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    """The last license id whose push is recorded."""
    total: Mapped[int] = mapped_column(Integer, default=0)
    """Licenses in scope when the pass started."""
    pushed: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    """Pushed and stored, already held, or updated (ACCEPTED, DUPLICATE, HELD)."""
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


def run_worker() -> str:
    """This process as a sync worker: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(run: SyncRun, at: dt.datetime) -> bool:
    if run.host == socket.gethostname():
        # Same host: the process table knows (a killed sync is dead at once, no waiting).
        try:
            os.kill(run.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's live process
            return True
        return True
    return at - run.heartbeat_at < STALE_AFTER


def live_runs(session: Session, *, at: dt.datetime, kind: str | None = None) -> list[SyncRun]:
    """Unfinished runs whose process is alive (same host) or whose heartbeat is recent."""
    query = select(SyncRun).where(SyncRun.finished_at.is_(None))
    if kind is not None:
        query = query.where(SyncRun.kind == kind)
    return [r for r in session.scalars(query) if _alive(r, at)]


def start_run(session: Session, *, kind: str, at: dt.datetime, exclusive: bool) -> int:
    """Register a run (committed at once, so other processes see it); returns its id.

    ``exclusive`` refuses to start while another live run of the same kind exists (SQLite,
    which has no row locks to keep two syncs apart). Unfinished runs of dead processes on this
    host are closed as ``failed`` on the way.
    """
    open_runs = list(session.scalars(select(SyncRun).where(SyncRun.finished_at.is_(None))))
    for run in open_runs:
        if not _alive(run, at):
            run.state, run.finished_at = "failed", at
            run.error = run.error or _("the process ended without finishing the run")
            run.in_flight = 0
    if exclusive:
        others = [r for r in open_runs if r.finished_at is None and r.kind == kind]
        if others:
            r = others[0]
            raise AggregationError(_(
                "another {kind} sync is running (run {run}, {host} pid {pid}, heartbeat "
                "{heartbeat}); on SQLite one sync runs at a time", kind=kind, run=r.id,
                host=r.host, pid=r.pid, heartbeat=china_text(r.heartbeat_at, seconds=True)))
    host, pid = run_worker().rsplit(":", 1)
    run = SyncRun(kind=kind, host=host, pid=int(pid), started_at=at, heartbeat_at=at,
                  finished_at=None, in_flight=0, state="running")  # fmt: skip
    session.add(run)
    session.commit()
    return run.id


def set_in_flight(session: Session, run_id: int, in_flight: int, *, at: dt.datetime) -> None:
    """Heartbeat: how many events the run holds right now (committed at once)."""
    session.execute(
        update(SyncRun).where(SyncRun.id == run_id).values(in_flight=in_flight, heartbeat_at=at)
    )
    session.commit()


def finish_run(
    session: Session,
    run_id: int,
    *,
    at: dt.datetime,
    summary: dict[str, Any] | None,
    error: str | None = None,
) -> None:
    """Close a run as ``done``; ``refused`` when the platform refused items or some became
    dead letters (the run finished, but not everything it sent got in); with an ``error``,
    ``failed`` (committed at once)."""
    refused = bool(summary and (summary.get("rejected") or summary.get("dead")))
    state = "failed" if error else "refused" if refused else "done"
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(finished_at=at, heartbeat_at=at, in_flight=0, summary=summary, state=state,
                error=error)
    )
    session.commit()
