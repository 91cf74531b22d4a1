"""Full sync (全量全要素汇聚): every current license, with every element, paged and resumable.

The incremental sync pushes events as they happen; a full sync pushes what the registry holds
*now*: each current version (not SUPERSEDED) in id order, with its current status, its
creating operate type, its predecessor and its latest event number, so the platform applies a
status only if it is not older than what it has. Pages go out ``batch_size`` at a time (up to
``concurrency`` in flight); after each page is acknowledged the checkpoint (``sync_checkpoints``
row ``full``) records the last license id, so a full sync that was interrupted resumes after
the last recorded page. A finished pass is started afresh by the next call.

Example::

    summary = full_sync(session, client, batch_size=1000, at=now)
    summary.pushed, summary.position, summary.finished     # (100000, 100000, True)
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from registry.db.models import License, OutboxEvent
from registry.errors import AggregationError, RegistryError
from registry.i18n import current_language, set_language
from registry.province.client import Delivery
from registry.province.sync import Pusher, SealCache, as_pusher, item_for
from registry.province.syncstate import SyncCheckpoint, finish_run, set_in_flight, start_run
from registry.province.wire import AckResult, cert_state_of

__all__ = ["CHECKPOINT", "FullSyncSummary", "full_sync", "latest_events"]

CHECKPOINT = "full"
"""The ``sync_checkpoints`` row of the full sync."""
SUPERSEDED = "SUPERSEDED"


@dataclass(frozen=True)
class FullSyncSummary:
    """What one :func:`full_sync` call did."""

    pushed: int
    """Licenses sent in this call."""
    accepted: int
    """Stored or updated by the platform (ACCEPTED)."""
    duplicates: int
    """Already held as they are (DUPLICATE)."""
    rejected: int
    """Refused by the platform or not buildable (see ``reasons``)."""
    unsettled: int
    """Without a clear answer after every retry (reconciliation will find them)."""
    batches: int
    position: int
    """The checkpoint: the last license id whose page is recorded."""
    total: int
    """Current licenses when this pass started."""
    finished: bool
    """True when the pass reached the last license."""
    resumed_from: int
    """The checkpoint this call started from (0 for a fresh pass)."""
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def latest_events(
    session: Session | Connection, license_ids: Sequence[int]
) -> dict[int, tuple[int, str]]:
    """License id → (its latest event id, its first event's operate type)."""
    found: dict[int, tuple[int, str]] = {}
    for start in range(0, len(license_ids), 5000):
        part = license_ids[start : start + 5000]
        first = (
            select(OutboxEvent.license_id, func.min(OutboxEvent.id).label("first"),
                   func.max(OutboxEvent.id).label("last"))
            .where(OutboxEvent.license_id.in_(part))
            .group_by(OutboxEvent.license_id)
            .subquery()
        )  # fmt: skip
        rows = session.execute(
            select(first.c.license_id, first.c.last, OutboxEvent.operate_type).join(
                OutboxEvent, OutboxEvent.id == first.c.first
            )
        )
        for license_id, last, op in rows:
            found[license_id] = (last, op)
    return found


def _creating_op(first_op: str | None, predecessor: str | None) -> str:
    if first_op in ("01", "02", "08", "09"):
        return first_op
    return "01" if predecessor is None else "09"


@dataclass
class _Page:
    last_id: int
    count: int
    items: list[dict[str, Any]]
    blobs: dict[str, bytes]
    failed: int
    future: Future[Delivery] | None = None


def _page(bind: Engine | Connection, after: int, limit: int, seals: SealCache) -> _Page | None:
    with Session(bind) as session:
        rows = session.execute(
            select(License.id, License.identifier, License.version, License.predecessor,
                   License.status, License.record, License.data_hash, License.signed_at,
                   License.signature, License.seal_id)
            .where(License.id > after, License.status != SUPERSEDED)
            .order_by(License.id)
            .limit(limit)
        ).all()  # fmt: skip
        if not rows:
            return None
        events = latest_events(session, [r.id for r in rows])
    page = _Page(rows[-1].id, len(rows), [], {}, 0)
    for row in rows:
        last, first_op = events.get(row.id, (None, None))
        try:
            cert_state_of(row.status)
            seal = seals.get(row.seal_id)
            page.items.append(item_for(
                operate_type=_creating_op(first_op, row.predecessor), status=row.status,
                seq=last, identifier=row.identifier, version=row.version,
                predecessor=row.predecessor, record=row.record, data_hash=row.data_hash,
                signed_at=row.signed_at, signature=row.signature, seal=seal,
            ))  # fmt: skip
            page.blobs[seal.seal_ref] = seal.seal_der
            page.blobs[seal.cert_ref] = seal.cert_der
        except (RegistryError, ValueError):
            page.failed += 1
    return page


def _checkpoint(session: Session, *, restart: bool, at: dt.datetime) -> SyncCheckpoint:
    cp = session.get(SyncCheckpoint, CHECKPOINT)
    if cp is None:
        cp = SyncCheckpoint(name=CHECKPOINT, started_at=at, updated_at=at)
        session.add(cp)
    if restart or cp.finished_at is not None or cp.position is None:
        total = session.scalar(
            select(func.count()).select_from(License).where(License.status != SUPERSEDED)
        )
        cp.position, cp.total, cp.pushed, cp.accepted, cp.rejected = 0, total or 0, 0, 0, 0
        cp.started_at, cp.updated_at, cp.finished_at = at, at, None
    session.commit()
    return cp


def full_sync(
    session: Session,
    client: Pusher | Any,
    *,
    batch_size: int = 1000,
    concurrency: int = 2,
    max_batches: int | None = None,
    restart: bool = False,
    at: dt.datetime,
    clock: Callable[[], dt.datetime] | None = None,
    on_step: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FullSyncSummary:
    """Push every current license from the checkpoint on; see the module docstring.

    ``max_batches`` stops after that many pages (the checkpoint keeps the place); ``restart``
    starts a fresh pass even when one is half done. Work runs in sessions of its own on
    ``session``'s engine. An :class:`AggregationError` stops the pass after the pages in
    flight are recorded; the checkpoint keeps what was recorded. ``progress(done, total)`` is
    told after each page is recorded (licenses of the pass pushed, of its total).
    """
    if batch_size < 1 or concurrency < 1:
        raise ValueError("batch_size and concurrency must be at least 1")
    now = clock or (lambda: at)
    step = on_step or (lambda _name: None)
    bind = session.get_bind()
    seals = SealCache(bind)
    pusher = as_pusher(client)
    meta = Session(bind, expire_on_commit=False)
    run_id = start_run(meta, kind="full", at=now(), exclusive=True)
    cp = _checkpoint(meta, restart=restart, at=now())
    resumed_from = cp.position
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    error: AggregationError | None = None
    finished = False
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="full",
                                initializer=set_language, initargs=(current_language(),)) as pool:
            in_flight: deque[_Page] = deque()
            cursor, pages = cp.position, 0
            exhausted = False
            while True:
                while (not exhausted and error is None and len(in_flight) < concurrency
                       and (max_batches is None or pages < max_batches)):  # fmt: skip
                    page = _page(bind, cursor, batch_size, seals)
                    if page is None:
                        exhausted = True
                        break
                    cursor, pages = page.last_id, pages + 1
                    exhausted = page.count < batch_size
                    if page.items:
                        page.future = pool.submit(pusher.deliver, page.items, blobs=page.blobs)
                    in_flight.append(page)
                    set_in_flight(meta, run_id, sum(p.count for p in in_flight), at=now())
                if not in_flight:
                    finished = exhausted and error is None
                    break
                page = in_flight.popleft()
                delivery = Delivery(acks={})
                if page.future is not None:
                    try:
                        delivery = page.future.result()
                    except AggregationError as exc:
                        error = error or exc
                        in_flight.clear()  # later pages must not move the checkpoint past it
                        continue
                step("sent")
                accepted = sum(a.result is not AckResult.REJECTED for a in delivery.acks.values())
                rejected = page.failed + sum(
                    a.result is AckResult.REJECTED for a in delivery.acks.values()
                )
                for ack in delivery.acks.values():
                    counts[ack.result.value] += 1
                    if ack.result is AckResult.REJECTED:
                        reasons[ack.code] += 1
                if page.failed:
                    reasons["LOCAL_BUILD_FAILURE"] += page.failed
                counts["unsettled"] += len(page.items) - len(delivery.acks)
                counts["pushed"] += len(page.items)
                counts["batches"] += 1
                cp.position = page.last_id
                cp.pushed += len(page.items)
                cp.accepted += accepted
                cp.rejected += rejected
                cp.updated_at = now()
                meta.commit()
                step("committed")
                if progress:
                    progress(cp.pushed, cp.total)
                set_in_flight(meta, run_id, sum(p.count for p in in_flight), at=now())
        if finished:
            cp.finished_at = now()
            meta.commit()
        if error is not None:
            raise error
    except BaseException as exc:
        meta.rollback()
        finish_run(meta, run_id, at=now(), summary=dict(counts),
                   error=f"{type(exc).__name__}: {exc}"[:1000])  # fmt: skip
        meta.close()
        raise
    summary = FullSyncSummary(
        pushed=counts["pushed"],
        accepted=counts["ACCEPTED"],
        duplicates=counts["DUPLICATE"] + counts["HELD"],
        rejected=sum(reasons.values()),
        unsettled=counts["unsettled"],
        batches=counts["batches"],
        position=cp.position,
        total=cp.total,
        finished=finished,
        resumed_from=resumed_from,
        reasons=dict(reasons),
    )
    finish_run(meta, run_id, at=now(), summary=summary.to_dict())
    meta.close()
    return summary
