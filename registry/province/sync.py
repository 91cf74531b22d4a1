"""Push what the province has not acknowledged yet: the outbox, drained in batches.

A license change and its :class:`~registry.models.OutboxEvent` are written in one transaction
elsewhere; this module reads pending events in id order, rebuilds each license's
SES_Signature from its seal, pushes a batch, and records the acks before it takes the next
batch. Delivery is at-least-once (a crash after the push and before the commit resends one
batch) and the platform's idempotency on identifier + version makes it exactly-once in effect.

Example::

    summary = push_pending(session, client, batch_size=500, at=now)
    summary.sent, summary.accepted, summary.reasons   # (3, 2, {'HASH_FAILURE': 1})
    sync_status(session)                              # {'pending': 1, 'acked': 2, 'failing': 1}

Bookkeeping is committed per batch in a session of its own on the caller's engine, so the
caller may pass any session, including one from ``session_scope``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from registry.errors import AggregationError, RegistryError
from registry.models import License, OutboxEvent, Seal
from registry.province.client import ProvinceClient
from registry.province.wire import Ack, AckResult, Item, build_item
from registry.seal.signature import assemble

__all__ = ["LOCAL_BUILD_FAILURE", "PushSummary", "push_pending", "sync_status"]

LOCAL_BUILD_FAILURE = "LOCAL_BUILD_FAILURE"
"""Reason code of an event whose item could not even be built (it is not sent)."""

_ERROR_LIMIT = 1000
"""Longest ``last_error`` kept; platform messages are short, this guards the column."""


@dataclass(frozen=True)
class PushSummary:
    """What one :func:`push_pending` run did."""

    sent: int
    """Items sent to the platform."""
    accepted: int
    """Items the platform stored (ACCEPTED)."""
    duplicates: int
    """Items the platform already held (DUPLICATE; delivered all the same)."""
    rejected: int
    """Events left pending: REJECTED by the platform, or not buildable locally."""
    batches: int
    """Requests made."""
    reasons: Mapping[str, int] = field(default_factory=dict)
    """Rejection code → count (e.g. ``HASH_FAILURE``, ``CONFLICT``, ``LOCAL_BUILD_FAILURE``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "batches": self.batches,
            "reasons": dict(self.reasons),
        }


_ACK = (
    update(OutboxEvent.__table__)
    .where(OutboxEvent.__table__.c.id == bindparam("b_id"))
    .values(acked_at=bindparam("b_at"))
)
_FAIL = (
    update(OutboxEvent.__table__)
    .where(OutboxEvent.__table__.c.id == bindparam("b_id"))
    .values(attempts=OutboxEvent.__table__.c.attempts + 1, last_error=bindparam("b_error"))
)


def _pending(after_id: int, limit: int, *, lock: bool) -> Any:
    stmt = (
        select(
            OutboxEvent.id,
            OutboxEvent.operate_type,
            License.identifier,
            License.version,
            License.predecessor,
            License.status,
            License.record,
            License.data_hash,
            License.signed_at,
            License.signature,
            Seal.seal_der,
            Seal.cert_der,
        )
        .join(License, License.id == OutboxEvent.license_id)
        .join(Seal, Seal.id == License.seal_id)
        .where(OutboxEvent.acked_at.is_(None), OutboxEvent.id > after_id)
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if lock:
        # Claim the events: a concurrent sync skips them instead of pushing them twice.
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxEvent.__table__)
    return stmt


def _item(row: Row[Any]) -> Item:
    signature_der = assemble(
        row.seal_der, row.cert_der, row.signed_at, row.data_hash, row.identifier, row.signature
    )
    return build_item(
        operate_type=row.operate_type,
        status=row.status,
        identifier=row.identifier,
        version=row.version,
        predecessor=row.predecessor,
        elements=json.loads(row.record),
        signature_der=signature_der,
    )


def push_pending(
    session: Session,
    client: ProvinceClient,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    at: dt.datetime,
) -> PushSummary:
    """Push pending outbox events in id order, ``batch_size`` per request, each event once.

    Per batch: (1) claim the next pending events (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
    a plain select on SQLite, whose single writer and the platform's idempotency make a
    concurrent double push harmless); (2) rebuild each item from the license and its seal;
    (3) push; (4) ACCEPTED/DUPLICATE → ``acked_at = at``, REJECTED → ``attempts + 1`` and
    ``last_error`` (the event stays pending for a later run); (5) commit.

    The work runs in a session of its own on ``session``'s engine (or connection), committed
    per batch, so the caller's transaction — e.g. one opened by ``session_scope`` — is left
    alone and may be a context-managed one; events must be committed before they are pushed.
    Events rejected in this run are not retried in the same run; ``max_batches`` stops after
    that many requests (a task's share of a long sync). An :class:`AggregationError` from the
    client (platform unreachable, credentials refused) rolls back the open batch and is
    raised; batches already committed stay recorded.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    bind = session.get_bind()
    lock = bind.dialect.name == "postgresql"
    after_id = 0
    sent = accepted = duplicates = rejected = batches = 0
    reasons: Counter[str] = Counter()
    with Session(bind, expire_on_commit=False) as own:
        while max_batches is None or batches < max_batches:
            # (1) claim
            rows = own.execute(_pending(after_id, batch_size, lock=lock)).all()
            if not rows:
                break
            after_id = rows[-1].id
            # (2) build; an event that cannot be built is recorded as failed, not sent
            items: list[Item] = []
            event_ids: list[int] = []
            failed: list[dict[str, Any]] = []
            for row in rows:
                try:
                    items.append(_item(row))
                    event_ids.append(row.id)
                except (RegistryError, ValueError) as exc:
                    failed.append({"b_id": row.id, "b_error": f"{LOCAL_BUILD_FAILURE}: {exc}"})
                    reasons[LOCAL_BUILD_FAILURE] += 1
            # (3) push
            acks: Sequence[Ack] = []
            if items:
                try:
                    acks = client.push(items)
                except AggregationError:
                    own.rollback()
                    raise
                batches += 1
                sent += len(items)
            # (4) record, one executemany per outcome
            acked: list[dict[str, Any]] = []
            for event_id, ack in zip(event_ids, acks, strict=True):
                if ack.result is AckResult.REJECTED:
                    error = f"{ack.code}: {ack.message}"[:_ERROR_LIMIT]
                    failed.append({"b_id": event_id, "b_error": error})
                    reasons[ack.code] += 1
                else:
                    acked.append({"b_id": event_id, "b_at": at})
                    if ack.result is AckResult.ACCEPTED:
                        accepted += 1
                    else:
                        duplicates += 1
            rejected += len(failed)
            if acked:
                own.execute(_ACK, acked)
            if failed:
                own.execute(_FAIL, failed)
            # (5) a crash from here on loses at most this batch's bookkeeping
            own.commit()
            if len(rows) < batch_size:
                break
    return PushSummary(
        sent=sent,
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
        batches=batches,
        reasons=dict(reasons),
    )


def sync_status(session: Session) -> dict[str, int]:
    """Outbox counts: ``pending`` (not acked), ``acked``, ``failing`` (pending, tried before)."""
    total, acked, failing = session.execute(
        select(
            func.count(),
            func.count(OutboxEvent.acked_at),
            func.coalesce(
                func.sum(
                    case((OutboxEvent.acked_at.is_(None) & (OutboxEvent.attempts > 0), 1), else_=0)
                ),
                0,
            ),
        )
    ).one()
    return {"pending": total - acked, "acked": acked, "failing": failing}
