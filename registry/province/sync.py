"""Incremental sync (增量): push what the province has not acknowledged yet, the outbox.

A license change and its :class:`~registry.db.models.OutboxEvent` are written in one transaction
elsewhere (:mod:`registry.license.lifecycle`, :mod:`registry.license.issue`); this module reads
pending events
in id order (so each license's events go in the order they happened), builds each item from
the license version and its seal, pushes batches, and records the acks batch by batch.

Example::

    summary = push_pending(session, client, batch_size=500, concurrency=2, at=now)
    summary.sent, summary.accepted, summary.reasons   # (3, 2, {'HASH_FAILURE': 1})
    sync_report(session, at=now).to_dict()            # pending, in flight, dead, lag …

Exactly once in effect: delivery is at least once (a crash after the push and before the
commit resends that batch) and the platform is idempotent on identifier + version, so a
resend comes back DUPLICATE and nothing is stored twice. Every item carries its event number
(``eventSeq`` = the outbox id): the platform never lets an older event overwrite a newer one,
so batches that overtake each other (``concurrency`` > 1, or several workers) end in the same
state as in order.

Claims: on PostgreSQL each batch is claimed ``FOR UPDATE SKIP LOCKED`` in a transaction that
stays open until its acks are committed, so concurrent workers never push the same event, and
a crashed worker's claims are released with its connection. SQLite has one writer and no row
locks: there a second run refuses to start while one is alive (:mod:`.syncstate`).

Outcomes per event: ACCEPTED, DUPLICATE or HELD → ``acked_at``; REJECTED (or not buildable) →
``attempts + 1`` and ``last_error``, and after ``max_attempts`` a dead letter (``dead_at``)
that waits for ``licreg sync retry``; no clear answer (the platform answered partly or
dropped the connection) → left pending, not charged, sent again next run.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, Row, and_, bindparam, case, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from registry.db import table_of
from registry.db.models import License, OutboxEvent, Seal
from registry.errors import AggregationError, RegistryError
from registry.i18n import current_language, set_language
from registry.province.client import Delivery
from registry.province.syncstate import (
    SyncCheckpoint,
    SyncRun,
    finish_run,
    live_runs,
    set_in_flight,
    start_run,
)
from registry.province.wire import (
    CREATING_OPERATE_TYPES,
    Ack,
    AckResult,
    LicenseStatus,
    SignatureParts,
    blob_ref,
    build_item,
    cert_state_of,
)

__all__ = [
    "DEAD_AFTER",
    "LOCAL_BUILD_FAILURE",
    "PushSummary",
    "Pusher",
    "SealBlobs",
    "SealCache",
    "SyncStatus",
    "as_pusher",
    "event_status",
    "item_for",
    "push_pending",
    "retry_dead",
    "sync_report",
    "sync_status",
]

LOCAL_BUILD_FAILURE = "LOCAL_BUILD_FAILURE"
"""Reason code of an event whose item could not even be built (it is not sent)."""
DEAD_AFTER = 8
"""Default number of rejections after which an event becomes a dead letter."""

_ERROR_LIMIT = 1000
"""Longest ``last_error`` kept; platform messages are short, this guards the column."""

Step = Callable[[str], None]
"""A hook called at named points of a batch: ``claimed`` (built, not sent), ``sent`` (the
platform answered, nothing recorded), ``recording`` (half of the batch's outcomes written,
not committed), ``committed``. Tests use it to kill the process at each point."""


class Pusher(Protocol):
    """What the sync needs from a client: :class:`~.client.ProvinceClient` is one."""

    def deliver(
        self, items: Sequence[Mapping[str, Any]], *, blobs: Mapping[str, bytes] | None = None
    ) -> Delivery: ...


@dataclass(frozen=True)
class PushSummary:
    """What one :func:`push_pending` run did."""

    sent: int
    """Items sent to the platform."""
    accepted: int
    """Items the platform stored or applied (ACCEPTED)."""
    duplicates: int
    """Items the platform already held (DUPLICATE; delivered all the same)."""
    rejected: int
    """Events left pending: REJECTED by the platform, or not buildable locally."""
    batches: int
    """Batches pushed."""
    reasons: Mapping[str, int] = field(default_factory=dict)
    """Rejection code → count (e.g. ``HASH_FAILURE``, ``CONFLICT``, ``LOCAL_BUILD_FAILURE``)."""
    held: int = 0
    """Status events the platform holds until their license version arrives (delivered)."""
    dead: int = 0
    """Events that became dead letters in this run."""
    unsettled: int = 0
    """Items without a clear answer (left pending, not charged an attempt)."""
    requests: int = field(default=0, compare=False)
    """HTTP requests made, retries included (diagnostic: not part of equality)."""

    def drained(self, max_batches: int | None) -> bool:
        """Whether nothing deliverable is left after a run allowed ``max_batches`` batches: it
        pushed fewer, or delivered nothing (rejected events wait for a later run, or die)."""
        delivered = self.accepted + self.duplicates + self.held
        return max_batches is None or self.batches < max_batches or delivered == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "held": self.held,
            "rejected": self.rejected,
            "dead": self.dead,
            "unsettled": self.unsettled,
            "batches": self.batches,
            "requests": self.requests,
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True)
class SealBlobs:
    """A seal's constant parts, loaded once per run: they travel once per request."""

    seal_der: bytes
    cert_der: bytes
    seal_ref: str
    cert_ref: str


class SealCache:
    """Seal id → :class:`SealBlobs`, read on first use."""

    def __init__(self, bind: Engine | Connection) -> None:
        self._bind = bind
        self._found: dict[int, SealBlobs] = {}

    def get(self, seal_id: int) -> SealBlobs:
        found = self._found.get(seal_id)
        if found is None:
            with Session(self._bind) as s:
                seal = s.get_one(Seal, seal_id)
                found = SealBlobs(seal.seal_der, seal.cert_der, blob_ref(seal.seal_der),
                                  blob_ref(seal.cert_der))  # fmt: skip
            self._found[seal_id] = found
        return found


def item_for(
    *,
    operate_type: str,
    status: str,
    seq: int | None,
    identifier: str,
    version: str,
    predecessor: str | None,
    record: bytes,
    data_hash: bytes,
    signed_at: dt.datetime,
    signature: bytes,
    seal: SealBlobs,
) -> dict[str, Any]:
    """One wire item for a stored license version, its signature in compact form."""
    item: dict[str, Any] = dict(build_item(
        operate_type=operate_type, status=status, identifier=identifier, version=version,
        predecessor=predecessor, elements=json.loads(record), signature_der=b"-",
    ))  # fmt: skip
    del item["signature"]
    item["signatureParts"] = SignatureParts(
        seal.seal_ref, seal.cert_ref, signed_at, data_hash, identifier, signature
    ).to_dict()
    if seq is not None:
        item["eventSeq"] = seq
    return item


def event_status(operate_type: str, event_status: str | None, license_status: str) -> str:
    """The status an event carries: its own; for events written without one (ingest, or
    before the column existed) VALID for a new version (what it was when issued: its later
    events, or its successor's ``associatedZZBS``, carry what happened since) and the
    license's status now for other events. A status no table knows is passed on, so that
    building the item fails and the row is reported rather than pushed."""
    if event_status is not None:
        return event_status
    known = license_status == "SUPERSEDED" or license_status in LicenseStatus.__members__
    if operate_type in CREATING_OPERATE_TYPES and known:
        return "VALID"
    return license_status


def _pending_query(after_id: int, limit: int, *, lock: bool) -> Any:
    stmt = (
        select(
            OutboxEvent.id,
            OutboxEvent.operate_type,
            OutboxEvent.status.label("event_status"),
            License.identifier,
            License.version,
            License.predecessor,
            License.status,
            License.record,
            License.data_hash,
            License.signed_at,
            License.signature,
            License.seal_id,
        )
        .join(License, License.id == OutboxEvent.license_id)
        .where(
            OutboxEvent.acked_at.is_(None),
            OutboxEvent.dead_at.is_(None),
            OutboxEvent.id > after_id,
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if lock:
        # Claim the events: a concurrent sync skips them instead of pushing them twice.
        stmt = stmt.with_for_update(skip_locked=True, of=table_of(OutboxEvent))
    return stmt


@dataclass
class _Claim:
    """One batch of claimed events, from claim to commit."""

    session: Session | None
    """PostgreSQL: the transaction holding the claims; SQLite: None."""
    last_id: int
    count: int
    items: list[dict[str, Any]]
    event_ids: list[int]
    blobs: dict[str, bytes]
    failed: list[dict[str, Any]]
    future: Future[Delivery] | None = None


def _claim(
    bind: Engine | Connection, *, lock: bool, after_id: int, limit: int, seals: SealCache
) -> _Claim | None:
    session = Session(bind)
    rows: Sequence[Row[Any]] = session.execute(_pending_query(after_id, limit, lock=lock)).all()
    if not rows:
        session.close()
        return None
    if not lock:
        session.close()  # SQLite: end the read transaction; the acks are written later
    claim = _Claim(session if lock else None, rows[-1].id, len(rows), [], [], {}, [])
    for row in rows:
        try:
            seal = seals.get(row.seal_id)
            status = event_status(row.operate_type, row.event_status, row.status)
            cert_state_of(status)  # an unknown status is a local failure, not a wire error
            claim.items.append(item_for(
                operate_type=row.operate_type, status=status, seq=row.id,
                identifier=row.identifier, version=row.version, predecessor=row.predecessor,
                record=row.record, data_hash=row.data_hash, signed_at=row.signed_at,
                signature=row.signature, seal=seal,
            ))  # fmt: skip
            claim.blobs[seal.seal_ref] = seal.seal_der
            claim.blobs[seal.cert_ref] = seal.cert_der
            claim.event_ids.append(row.id)
        except (RegistryError, ValueError) as exc:
            claim.failed.append({"b_id": row.id, "b_error": f"{LOCAL_BUILD_FAILURE}: {exc}"})
    return claim


def _ack(session: Session, event_ids: Sequence[int], at: dt.datetime) -> None:
    # One statement per few thousand ids, not one per event: the ack time is the same.
    for start in range(0, len(event_ids), 5000):
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(event_ids[start : start + 5000]))
            .values(acked_at=at)
            .execution_options(synchronize_session=False)
        )


def _fail_statement(max_attempts: int) -> Any:
    c = table_of(OutboxEvent).c
    return (
        update(table_of(OutboxEvent))
        .where(c.id == bindparam("b_id"))
        .values(
            attempts=c.attempts + 1,
            last_error=bindparam("b_error"),
            dead_at=case((c.attempts + 1 >= max_attempts, bindparam("b_at")), else_=None),
        )
    )


class _StrictAdapter:
    """Wraps anything with a strict ``push(items) -> list[Ack]`` (one ack per item, in order)
    as a :class:`Pusher`: compact signatures are expanded to whole DER first."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def deliver(
        self, items: Sequence[Mapping[str, Any]], *, blobs: Mapping[str, bytes] | None = None
    ) -> Delivery:
        expanded = []
        for item in items:
            full = dict(item)
            parts = full.pop("signatureParts", None)
            if parts is not None:
                der = SignatureParts.from_dict(parts).der(blobs or {})
                full["signature"] = base64.b64encode(der).decode("ascii")
            expanded.append(full)
        acks: list[Ack] = self._client.push(expanded)
        return Delivery(acks=dict(enumerate(acks)), requests=1)


def as_pusher(client: Any) -> Pusher:
    """``client`` itself when it can :meth:`~Pusher.deliver`, else wrapped as one."""
    return client if hasattr(client, "deliver") else _StrictAdapter(client)


@dataclass
class _Totals:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    held: int = 0
    rejected: int = 0
    dead: int = 0
    unsettled: int = 0
    batches: int = 0
    requests: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def summary(self) -> PushSummary:
        return PushSummary(
            sent=self.sent, accepted=self.accepted, duplicates=self.duplicates,
            rejected=self.rejected, batches=self.batches, reasons=dict(self.reasons),
            held=self.held, dead=self.dead, unsettled=self.unsettled, requests=self.requests,
        )  # fmt: skip


def _record(
    bind: Engine | Connection,
    claim: _Claim,
    delivery: Delivery,
    totals: _Totals,
    *,
    at: dt.datetime,
    max_attempts: int,
    step: Step,
) -> None:
    """Write a batch's outcomes and commit (which releases PostgreSQL claims)."""
    acked: list[int] = []
    failed = list(claim.failed)
    for i, event_id in enumerate(claim.event_ids):
        ack = delivery.acks.get(i)
        if ack is None:
            totals.unsettled += 1
        elif ack.result is AckResult.REJECTED:
            error = f"{ack.code}: {ack.message}"[:_ERROR_LIMIT]
            failed.append({"b_id": event_id, "b_error": error})
            totals.reasons[ack.code] += 1
        else:
            acked.append(event_id)
            if ack.result is AckResult.ACCEPTED:
                totals.accepted += 1
            elif ack.result is AckResult.HELD:
                totals.held += 1
            else:
                totals.duplicates += 1
    if claim.failed:
        totals.reasons[LOCAL_BUILD_FAILURE] += len(claim.failed)
    totals.rejected += len(failed)
    for f in failed:
        f["b_at"] = at
    session = claim.session or Session(bind)
    claim.session = None  # from here on the batch's transaction ends below
    try:
        half = len(acked) // 2
        _ack(session, acked[:half], at)
        step("recording")  # mid-batch: some outcomes written, nothing committed
        _ack(session, acked[half:], at)
        if failed:
            session.execute(_fail_statement(max_attempts), failed)
        if failed:
            ids = [f["b_id"] for f in failed]
            totals.dead += session.scalar(
                select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.id.in_(ids), OutboxEvent.dead_at.is_not(None))
            ) or 0  # fmt: skip
        session.commit()
    finally:
        session.close()
    step("committed")


def push_pending(
    session: Session,
    client: Pusher | Any,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    concurrency: int = 2,
    max_attempts: int = DEAD_AFTER,
    at: dt.datetime,
    clock: Callable[[], dt.datetime] | None = None,
    on_step: Step | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PushSummary:
    """Push pending outbox events in id order, ``batch_size`` per request, each event once.

    Per batch: (1) claim the next pending events (``FOR UPDATE SKIP LOCKED`` on PostgreSQL);
    (2) build each item from the license version and its seal (compact signature form);
    (3) push, with up to ``concurrency`` batches in flight (two by default: one is built and
    recorded here while the platform verifies the other); (4) record the outcomes (see the
    module docstring); (5) commit. The work runs in sessions of its own on ``session``'s
    engine, committed per batch, so the caller's transaction is left alone; events must be
    committed before they are pushed. ``max_batches`` stops after that many batches (a task's
    share of a long sync). ``clock`` (default: always ``at``) timestamps acks and heartbeats.
    ``progress(done, total)`` is told after each batch is recorded (events, of those pending
    when the run began).

    An :class:`AggregationError` (platform unreachable after the client's retries, credentials
    refused) stops claiming; batches in flight are still recorded, then it is raised. Batches
    already committed stay recorded.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    now = clock or (lambda: at)
    step: Step = on_step or (lambda _name: None)
    bind = session.get_bind()
    lock = bind.dialect.name == "postgresql"
    pusher = as_pusher(client)
    seals = SealCache(bind)
    totals = _Totals()
    meta = Session(bind)
    run_id = start_run(meta, kind="incremental", at=now(), exclusive=not lock)
    total = sync_status(meta)["pending"] if progress else 0
    error: AggregationError | None = None
    open_claims: list[_Claim] = []
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="push",
                                initializer=set_language, initargs=(current_language(),)) as pool:
            in_flight: deque[_Claim] = deque()
            cursor, exhausted, claimed, done = 0, False, 0, 0
            while True:
                # (1)–(3): keep up to `concurrency` batches in flight
                while (not exhausted and error is None and len(in_flight) < concurrency
                       and (max_batches is None or claimed < max_batches)):  # fmt: skip
                    claim = _claim(bind, lock=lock, after_id=cursor, limit=batch_size,
                                   seals=seals)  # fmt: skip
                    if claim is None:
                        exhausted = True
                        break
                    open_claims.append(claim)
                    cursor = claim.last_id
                    exhausted = claim.count < batch_size
                    claimed += 1
                    step("claimed")
                    if claim.items:
                        claim.future = pool.submit(pusher.deliver, claim.items, blobs=claim.blobs)
                    in_flight.append(claim)
                    set_in_flight(meta, run_id, sum(c.count for c in in_flight), at=now())
                if not in_flight:
                    break
                # (4)–(5): record the oldest batch first, so commits follow claim order
                claim = in_flight.popleft()
                delivery = Delivery(acks={})
                if claim.future is not None:
                    try:
                        delivery = claim.future.result()
                    except AggregationError as exc:
                        error = error or exc
                        _release(claim)
                        open_claims.remove(claim)
                        continue
                    totals.batches += 1
                    totals.sent += len(claim.items)
                    totals.requests += delivery.requests
                step("sent")
                _record(bind, claim, delivery, totals, at=now(), max_attempts=max_attempts,
                        step=step)  # fmt: skip
                open_claims.remove(claim)  # recorded: its items can go
                done += claim.count
                if progress:
                    progress(done, total)
                set_in_flight(meta, run_id, sum(c.count for c in in_flight), at=now())
        if error is not None:
            raise error
    except BaseException as exc:
        for claim in open_claims:  # PostgreSQL: let go of the claims of unrecorded batches
            _release(claim)
        finish_run(meta, run_id, at=now(), summary=totals.summary().to_dict(),
                   error=f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT])  # fmt: skip
        meta.close()
        raise
    finish_run(meta, run_id, at=now(), summary=totals.summary().to_dict())
    meta.close()
    return totals.summary()


def _release(claim: _Claim) -> None:
    if claim.session is not None:
        claim.session.rollback()
        claim.session.close()
        claim.session = None


def retry_dead(
    session: Session, *, at: dt.datetime, event_ids: Sequence[int] | None = None
) -> int:
    """Give dead letters (all, or those of ``event_ids``) a new set of attempts.

    They become pending again (their ``last_error`` is kept until they succeed) and go out
    with the next sync. Returns how many were revived. The caller commits.
    """
    stmt = update(OutboxEvent).where(OutboxEvent.dead_at.is_not(None))
    if event_ids is not None:
        stmt = stmt.where(OutboxEvent.id.in_(list(event_ids)))
    result = session.execute(
        stmt.values(dead_at=None, attempts=0).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def sync_status(session: Session) -> dict[str, int]:
    """Outbox counts: ``pending`` (not acked, not dead), ``acked``, ``failing`` (pending,
    tried before). :func:`sync_report` has the whole picture."""
    pending_now = and_(OutboxEvent.acked_at.is_(None), OutboxEvent.dead_at.is_(None))
    pending, acked, failing = session.execute(
        select(
            func.coalesce(func.sum(case((pending_now, 1), else_=0)), 0),
            func.count(OutboxEvent.acked_at),
            func.coalesce(
                func.sum(case((pending_now & (OutboxEvent.attempts > 0), 1), else_=0)), 0
            ),
        )
    ).one()
    return {"pending": int(pending), "acked": int(acked), "failing": int(failing)}


@dataclass(frozen=True)
class SyncStatus:
    """Where the sync to the province stands (``licreg sync status``)."""

    pending: int
    """Events not acknowledged and not dead: they go out with the next run."""
    in_flight: int
    """Events claimed by a running sync right now."""
    dead: int
    """Dead letters: rejected ``max_attempts`` times; ``licreg sync retry`` revives them."""
    acked: int
    """Events the province acknowledged."""
    failing: int
    """Pending events rejected at least once."""
    lag_seconds: float
    """Age of the oldest pending event (0 when nothing is pending)."""
    oldest_pending_at: dt.datetime | None
    last_acked_at: dt.datetime | None
    running: tuple[dict[str, Any], ...]
    """Live runs: id, kind, worker, since, in flight, heartbeat."""
    last_run: dict[str, Any] | None
    """The latest finished run: kind, state, when, summary or error."""
    dead_reasons: Mapping[str, int] = field(default_factory=dict)
    """Reason code → dead letters."""
    full_sync: dict[str, Any] | None = None
    """The full sync's checkpoint, if one ever ran."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "in_flight": self.in_flight,
            "dead": self.dead,
            "acked": self.acked,
            "failing": self.failing,
            "lag_seconds": round(self.lag_seconds, 1),
            "oldest_pending_at": _iso(self.oldest_pending_at),
            "last_acked_at": _iso(self.last_acked_at),
            "dead_reasons": dict(self.dead_reasons),
            "running": list(self.running),
            "last_run": self.last_run,
            "full_sync": self.full_sync,
        }


def sync_report(session: Session, *, at: dt.datetime) -> SyncStatus:
    """Pending, in flight, dead letters, lag, running and last runs, full-sync progress."""
    counts = sync_status(session)
    pending_now = and_(OutboxEvent.acked_at.is_(None), OutboxEvent.dead_at.is_(None))
    dead = session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dead_at.is_not(None))
    ) or 0
    oldest = session.scalar(select(func.min(OutboxEvent.created_at)).where(pending_now))
    last_acked = session.scalar(select(func.max(OutboxEvent.acked_at)))
    reasons: Counter[str] = Counter()
    for (error,) in session.execute(
        select(OutboxEvent.last_error).where(OutboxEvent.dead_at.is_not(None))
    ):
        reasons[(error or "?").split(":", 1)[0]] += 1
    running = live_runs(session, at=at)
    last = session.scalars(
        select(SyncRun).where(SyncRun.finished_at.is_not(None)).order_by(SyncRun.id.desc())
    ).first()
    checkpoint = session.get(SyncCheckpoint, "full")
    return SyncStatus(
        pending=counts["pending"],
        in_flight=sum(r.in_flight for r in running),
        dead=int(dead),
        acked=counts["acked"],
        failing=counts["failing"],
        lag_seconds=max(0.0, (at - oldest).total_seconds()) if oldest is not None else 0.0,
        oldest_pending_at=oldest,
        last_acked_at=last_acked,
        running=tuple(_running(r) for r in running),
        last_run=None if last is None else _finished(last),
        dead_reasons=dict(reasons),
        full_sync=None if checkpoint is None else _progress(checkpoint),
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _running(run: SyncRun) -> dict[str, Any]:
    return {"run": run.id, "kind": run.kind, "worker": f"{run.host}:{run.pid}",
            "since": _iso(run.started_at), "in_flight": run.in_flight,
            "heartbeat": _iso(run.heartbeat_at)}


def _finished(run: SyncRun) -> dict[str, Any]:
    return {"run": run.id, "kind": run.kind, "state": run.state,
            "finished_at": _iso(run.finished_at), "summary": run.summary, "error": run.error}


def _progress(cp: SyncCheckpoint) -> dict[str, Any]:
    return {"position": cp.position, "total": cp.total, "pushed": cp.pushed,
            "accepted": cp.accepted, "rejected": cp.rejected, "started_at": _iso(cp.started_at),
            "finished_at": _iso(cp.finished_at)}
