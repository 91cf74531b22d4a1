"""The platform's judgement of one pushed batch against what it holds: acks and the writes.

Pure bookkeeping over the stored state of the batch's identifiers (looked up once); the caller
verifies signatures beforehand, owns the transaction and writes :attr:`Batch.writes`.

Rules, per item in request order (``s`` its eventSeq, ``last`` the stored version's):

1. a creating event (新发/延续/转入/变更) for a new identifier: stored when its verdict passed,
   else REJECTED with the sub-indication. Its predecessor, if held, becomes SUPERSEDED; if a
   stored version already names it as predecessor, it is stored as SUPERSEDED itself. Events
   held for it are then applied in arrival order.
2. any event whose signed content differs from the stored version's: REJECTED ``CONFLICT``,
   unless it is a reconciliation's repair that verifies: then it replaces the stored content.
3. an event older than the last applied (``s < last``): DUPLICATE (stale, success), unless it
   is a repair.
4. a creating event for a stored identifier: DUPLICATE, unless it is numbered and carries
   another status (a full sync's current state): then the status is applied. Either way its
   predecessor, if stored and not yet SUPERSEDED, becomes so.
5. a status event for a stored identifier: applied when the status differs, else DUPLICATE.
6. a status event for an identifier never received: HELD (``UNKNOWN_BASE``) until the version
   arrives, or REJECTED ``UNKNOWN_BASE`` when the platform does not hold events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registry.mockprovince.store import (
    SUPERSEDED,
    HeldEvent,
    StatusUpdate,
    StoredState,
    storage_columns,
)
from registry.mockprovince.verifypool import Verdict
from registry.province.wire import (
    CODE_CONFLICT,
    CODE_OK,
    CODE_UNKNOWN_BASE,
    CREATING_OPERATE_TYPES,
    Ack,
    AckResult,
    WireItem,
)

__all__ = ["Batch", "Checked", "Writes"]


@dataclass(frozen=True)
class Checked:
    """An item that passed the shape checks, with its signed bytes."""

    item: WireItem
    record: bytes
    """RFC 8785 bytes of the elements: what the SES_Signature's dataHash covers."""
    digest: str
    """:func:`~registry.province.wire.content_digest` of the item."""


@dataclass
class Writes:
    """What one batch writes, in the shapes :func:`~registry.mockprovince.store.write_batch`
    takes."""

    inserts: dict[str, dict[str, Any]] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)
    """Identifiers whose stored row is deleted first (repairs of other content)."""
    updates: dict[str, StatusUpdate] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[tuple[int, str]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _Held:
    """A held event, stored or held earlier in this batch."""

    id: int | None
    seq: int | None
    operate_type: str
    cert_state: str
    status: str
    digest: str


def _newer(seq: int | None, last: int | None) -> int | None:
    if seq is None:
        return last
    return seq if last is None else max(seq, last)


class Batch:
    """Judges one batch item by item; read :attr:`writes` when done."""

    def __init__(
        self,
        *,
        known: dict[str, StoredState],
        held: Mapping[str, list[HeldEvent]],
        successors: Mapping[str, int | None],
        verdict_of: Callable[[Checked], Verdict],
        hold_unknown: bool,
        access_id: str,
        request_id: str,
        at: dt.datetime,
    ) -> None:
        self.known = known
        self._held: dict[str, list[_Held]] = {
            ident: [_Held(h.id, h.seq, h.operate_type, h.cert_state, h.status, h.content_sha256)
                    for h in rows]
            for ident, rows in held.items()
        }  # fmt: skip
        self._successors: dict[str, int | None] = dict(successors)
        self._verdict_of = verdict_of
        self._hold = hold_unknown
        self._access_id = access_id
        self._request_id = request_id
        self._at = at
        self.writes = Writes()

    # -- state -----------------------------------------------------------------------------

    def _set(self, ident: str, state: StoredState) -> None:
        self.known[ident] = state
        row = self.writes.inserts.get(ident)
        if row is not None:
            row.update(
                operate_type=state.operate_type,
                cert_state=state.cert_state,
                status=state.status,
                last_seq=state.last_seq,
            )
        else:
            self.writes.updates[ident] = StatusUpdate(
                ident, state.operate_type, state.cert_state, state.status, state.last_seq
            )

    def _apply(self, ident: str, stored: StoredState, op: str, cert: str, status: str,
               seq: int | None) -> None:  # fmt: skip
        self._set(ident, replace(stored, status=status, cert_state=cert, operate_type=op,
                                 last_seq=_newer(seq, stored.last_seq)))  # fmt: skip

    # -- judging ---------------------------------------------------------------------------

    def judge(self, c: Checked) -> Ack:
        item = c.item
        ident, version, seq = item.identifier, item.version, item.seq
        status = item.status.value

        def ack(result: AckResult, code: str, message: str) -> Ack:
            return Ack(ident, version, result, code, message, seq)

        stored = self.known.get(ident)
        creating = item.operate_type in CREATING_OPERATE_TYPES
        if stored is None:
            if creating:
                return self._store_new(c, ack)
            if not self._hold:
                return ack(AckResult.REJECTED, CODE_UNKNOWN_BASE,
                           f"no license version {ident} was received; push it first")  # fmt: skip
            self._held.setdefault(ident, []).append(
                _Held(None, seq, item.operate_type, item.cert_state, status, c.digest)
            )
            self.writes.held.append({
                "identifier": ident, "seq": seq, "operate_type": item.operate_type,
                "cert_state": item.cert_state, "status": status, "content_sha256": c.digest,
                "access_id": self._access_id, "request_id": self._request_id,
                "received_at": self._at, "resolved_at": None, "outcome": None,
            })  # fmt: skip
            return ack(AckResult.HELD, CODE_UNKNOWN_BASE,
                       f"held until license version {ident} arrives")  # fmt: skip
        if stored.content_sha256 != c.digest:
            if item.repair and creating:
                return self._store_new(c, ack, replacing=True)
            return ack(AckResult.REJECTED, CODE_CONFLICT,
                       "this identifier is stored with other signed content; a changed license "
                       "needs a new version")  # fmt: skip
        if creating:
            self._supersede(item.predecessor, seq)
        stale = seq is not None and stored.last_seq is not None and seq < stored.last_seq
        if stale and not item.repair:
            return ack(AckResult.DUPLICATE, CODE_OK,
                       f"stale: event {stored.last_seq} of this license is already applied")
        if stored.status == status or (creating and seq is None and not item.repair):
            # A replayed 新发 without a number never reverts a later status.
            if seq is not None and seq != stored.last_seq and not stale:
                self._set(ident, replace(stored, last_seq=_newer(seq, stored.last_seq)))
            return ack(AckResult.DUPLICATE, CODE_OK, "already stored")
        self._apply(ident, stored, item.operate_type, item.cert_state, status, seq)
        return ack(AckResult.ACCEPTED, CODE_OK, f"status changed from {stored.status} to {status}")

    def _supersede(self, pred: str | None, seq: int | None) -> None:
        if pred is None:
            return
        before = self.known.get(pred)
        if before is not None and before.status != SUPERSEDED:
            self._set(pred, replace(before, status=SUPERSEDED,
                                    last_seq=_newer(seq, before.last_seq)))  # fmt: skip

    def _store_new(
        self, c: Checked, ack: Callable[[AckResult, str, str], Ack], *, replacing: bool = False
    ) -> Ack:
        item = c.item
        ident = item.identifier
        verdict = self._verdict_of(c)
        if not verdict.ok:
            return ack(AckResult.REJECTED, verdict.code, verdict.message)
        if replacing:
            self.writes.replaced.add(ident)
            self.writes.updates.pop(ident, None)
        status, cert, seq = item.status.value, item.cert_state, item.seq
        if ident in self._successors:  # a later version arrived first
            status, seq = SUPERSEDED, _newer(seq, self._successors[ident])
        columns = storage_columns(item, c.record)
        self.writes.blobs.update(item.blobs)
        elements = item.elements
        self.writes.inserts[ident] = {
            **columns,
            "identifier": ident,
            "version": item.version,
            "predecessor": item.predecessor,
            "operate_type": item.operate_type,
            "cert_state": cert,
            "status": status,
            "last_seq": seq,
            "type_code": str(elements.get("ZZLXDM", ""))[:21],
            "number": str(elements.get("ZZBH", ""))[:100],
            "holder_code": str(elements.get("CZZTDM", ""))[:40],
            "content_sha256": c.digest,
            "access_id": self._access_id,
            "request_id": self._request_id,
            "received_at": self._at,
            "updated_at": self._at,
        }
        state = StoredState(c.digest, status, cert, item.operate_type, seq)
        self.known[ident] = state
        if item.predecessor is not None:
            self._successors[item.predecessor] = seq
            self._supersede(item.predecessor, seq)
        self._release_held(ident)
        message = "verified; replaced other stored content" if replacing else "verified and stored"
        return ack(AckResult.ACCEPTED, CODE_OK, message)

    def _release_held(self, ident: str) -> None:
        """Apply the events held for a version that just arrived, in arrival order."""
        for event in self._held.pop(ident, []):
            stored = self.known[ident]
            if event.digest != stored.content_sha256:
                outcome = "CONFLICT"
            elif event.seq is not None and stored.last_seq is not None and (
                event.seq < stored.last_seq
            ):
                outcome = "STALE"
            else:
                outcome = "APPLIED"
                self._apply(ident, stored, event.operate_type, event.cert_state, event.status,
                            event.seq)  # fmt: skip
            if event.id is not None:
                self.writes.resolved.append((event.id, outcome))
            else:  # held earlier in this same batch: written resolved
                for row in self.writes.held:
                    if row["identifier"] == ident and row["resolved_at"] is None:
                        row.update(resolved_at=self._at, outcome=outcome)
                        break
