"""Reconciliation: compare the registry with the provincial platform and repair the drift.

Both sides are read in identifier order and merged: the registry's license versions (with the
same content digest the platform computes, :func:`registry.province.wire.content_digest`) and
the platform's digest pages (``GET /api/v1/digests``). Each difference is one :class:`Drift`:

- ``missing``: the platform lacks a version the registry holds;
- ``different``: the platform holds other signed content under the identifier;
- ``status``: same content, another status;
- ``unexpected``: the platform holds an identifier this registry never issued (reported only:
  it may come from another registry sharing the accessId).

With ``repair`` the versions behind the first three are pushed again as they are now, marked
as a repair (the platform replaces other content with the verified one and applies the status
whatever event number it has), and the report says what the push did.

>>> report = reconcile(session, client, repair=True, at=now)          # doctest: +SKIP
>>> report.counts                                                      # doctest: +SKIP
{'registry': 100000, 'platform': 99998, 'matched': 99997, 'missing': 2, 'status': 1, ...}
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import License
from registry.errors import AggregationError
from registry.i18n import _
from registry.province.client import ProvinceClient
from registry.province.fullsync import latest_events
from registry.province.sync import SealCache, item_for
from registry.province.syncstate import finish_run, start_run
from registry.province.wire import DIGESTS_PATH, AckResult, SignatureParts, content_digest

__all__ = ["Drift", "ReconcileReport", "reconcile", "registry_digests"]

SUPERSEDED = "SUPERSEDED"


@dataclass(frozen=True)
class Drift:
    """One difference between the registry and the platform."""

    identifier: str
    kind: str
    """missing / different / status / unexpected."""
    registry_status: str | None
    platform_status: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ReconcileReport:
    """What a reconciliation found and, with repair, did."""

    counts: Mapping[str, int]
    """registry, platform, matched, and one count per drift kind."""
    by_status: Mapping[str, Mapping[str, int]]
    """``registry`` and ``platform``: versions per status."""
    drift: tuple[Drift, ...]
    """The differences (at most ``sample`` of them; ``counts`` has them all)."""
    repaired: Mapping[str, int] = field(default_factory=dict)
    """With repair: ack result (ACCEPTED, DUPLICATE …) → items; ``unsettled``; reasons."""

    @property
    def in_sync(self) -> bool:
        """True when nothing differs (unexpected identifiers count as a difference)."""
        return all(self.counts.get(k, 0) == 0 for k in ("missing", "different", "status",
                                                        "unexpected"))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_sync": self.in_sync,
            "counts": dict(self.counts),
            "by_status": {k: dict(v) for k, v in self.by_status.items()},
            "drift": [d.to_dict() for d in self.drift],
            "repaired": dict(self.repaired),
        }


@dataclass(frozen=True)
class _Local:
    identifier: str
    license_id: int
    status: str
    digest: str


def registry_digests(session: Session, *, page: int = 5000) -> Iterator[_Local]:
    """Every license version with its content digest, in identifier order."""
    seals = SealCache(session.get_bind())
    after = ""
    while True:
        rows = session.execute(
            select(License.id, License.identifier, License.status, License.predecessor,
                   License.record, License.data_hash, License.signed_at, License.signature,
                   License.seal_id)
            .where(License.identifier > after)
            .order_by(License.identifier)
            .limit(page)
        ).all()  # fmt: skip
        if not rows:
            return
        for r in rows:
            seal = seals.get(r.seal_id)
            parts = SignatureParts(seal.seal_ref, seal.cert_ref, r.signed_at, r.data_hash,
                                   r.identifier, r.signature)  # fmt: skip
            yield _Local(r.identifier, r.id, r.status,
                         content_digest(r.record, parts, r.predecessor))  # fmt: skip
        after = rows[-1].identifier


def _platform_digests(client: ProvinceClient, page: int) -> Iterator[dict[str, Any]]:
    after = ""
    while True:
        answer = client.get_json(DIGESTS_PATH, params={"after": after, "limit": page})
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise AggregationError(_("the platform's digest page is not a list of items"))
        if not items:
            return
        yield from items
        after = str(items[-1]["ZZBS"])


def reconcile(
    session: Session,
    client: ProvinceClient,
    *,
    repair: bool = True,
    at: dt.datetime,
    page: int = 5000,
    batch_size: int = 1000,
    sample: int = 100,
) -> ReconcileReport:
    """Compare counts, statuses and content digests with the platform; repair with ``repair``.

    Reads the registry in ``session`` (its snapshot), the platform page by page.
    """
    meta = Session(session.get_bind())
    run_id = start_run(meta, kind="reconcile", at=at, exclusive=False)
    try:
        report = _reconcile(session, client, repair=repair, page=page, batch_size=batch_size,
                            sample=sample)  # fmt: skip
    except BaseException as exc:
        finish_run(meta, run_id, at=at, summary=None, error=f"{type(exc).__name__}: {exc}")
        meta.close()
        raise
    finish_run(meta, run_id, at=at, summary={"counts": dict(report.counts),
                                             "repaired": dict(report.repaired)})  # fmt: skip
    meta.close()
    return report


def _reconcile(
    session: Session,
    client: ProvinceClient,
    *,
    repair: bool,
    page: int,
    batch_size: int,
    sample: int,
) -> ReconcileReport:
    counts: Counter[str] = Counter()
    by_status: dict[str, Counter[str]] = {"registry": Counter(), "platform": Counter()}
    drift: list[Drift] = []
    to_push: list[int] = []

    def note(d: Drift, license_id: int | None) -> None:
        counts[d.kind] += 1
        if len(drift) < sample:
            drift.append(d)
        if license_id is not None and d.kind != "unexpected":
            to_push.append(license_id)

    ours, theirs = registry_digests(session, page=page), _platform_digests(client, page)
    mine, other = next(ours, None), next(theirs, None)
    while mine is not None or other is not None:
        if other is None or (mine is not None and mine.identifier < str(other["ZZBS"])):
            assert mine is not None
            counts["registry"] += 1
            by_status["registry"][mine.status] += 1
            note(Drift(mine.identifier, "missing", mine.status, None), mine.license_id)
            mine = next(ours, None)
            continue
        if mine is None or str(other["ZZBS"]) < mine.identifier:
            counts["platform"] += 1
            by_status["platform"][str(other["status"])] += 1
            note(Drift(str(other["ZZBS"]), "unexpected", None, str(other["status"])), None)
            other = next(theirs, None)
            continue
        counts["registry"] += 1
        counts["platform"] += 1
        by_status["registry"][mine.status] += 1
        by_status["platform"][str(other["status"])] += 1
        if other["digest"] != mine.digest:
            note(Drift(mine.identifier, "different", mine.status, str(other["status"])),
                 mine.license_id)  # fmt: skip
        elif other["status"] != mine.status:
            note(Drift(mine.identifier, "status", mine.status, str(other["status"])),
                 mine.license_id)  # fmt: skip
        else:
            counts["matched"] += 1
        mine, other = next(ours, None), next(theirs, None)
    for kind in ("registry", "platform", "matched", "missing", "different", "status",
                 "unexpected"):  # fmt: skip
        counts.setdefault(kind, 0)
    repaired: dict[str, int] = {}
    if repair and to_push:
        repaired = _repair(session, client, to_push, batch_size=batch_size)
    return ReconcileReport(
        counts=dict(counts),
        by_status={k: dict(sorted(v.items())) for k, v in by_status.items()},
        drift=tuple(drift),
        repaired=repaired,
    )


def _repair(
    session: Session, client: ProvinceClient, license_ids: Sequence[int], *, batch_size: int
) -> dict[str, int]:
    """Push the versions as they are now, marked as repairs, in id order (predecessors
    first). A superseded version goes out as the VALID version it was issued as; its
    successor, pushed with it or already held, supersedes it at the platform."""
    seals = SealCache(session.get_bind())
    outcome: Counter[str] = Counter()
    # A superseded version is superseded at the platform by its successor's arrival: push
    # that too (a DUPLICATE of it still marks the predecessor).
    successors: set[int] = set()
    for start in range(0, len(license_ids), 5000):
        superseded = list(session.scalars(select(License.identifier).where(
            License.id.in_(license_ids[start : start + 5000]), License.status == SUPERSEDED)))
        if superseded:
            successors.update(session.scalars(
                select(License.id).where(License.predecessor.in_(superseded))))
    ids = sorted(set(license_ids) | successors)
    for start in range(0, len(ids), batch_size):
        part = ids[start : start + batch_size]
        rows = session.execute(
            select(License).where(License.id.in_(part)).order_by(License.id)
        ).scalars().all()
        events = latest_events(session, part)
        items: list[dict[str, Any]] = []
        blobs: dict[str, bytes] = {}
        for lic in rows:
            seal = seals.get(lic.seal_id)
            last, first_op = events.get(lic.id, (None, None))
            op = first_op if first_op in ("01", "02", "08", "09") else (
                "01" if lic.predecessor is None else "09")  # fmt: skip
            status = "VALID" if lic.status == SUPERSEDED else lic.status
            item = item_for(operate_type=op, status=status, seq=last,
                            identifier=lic.identifier, version=lic.version,
                            predecessor=lic.predecessor, record=lic.record,
                            data_hash=lic.data_hash, signed_at=lic.signed_at,
                            signature=lic.signature, seal=seal)  # fmt: skip
            item["repair"] = True
            items.append(item)
            blobs[seal.seal_ref] = seal.seal_der
            blobs[seal.cert_ref] = seal.cert_der
        delivery = client.deliver(items, blobs=blobs)
        for ack in delivery.acks.values():
            outcome[ack.result.value] += 1
            if ack.result is AckResult.REJECTED:
                outcome[f"reason:{ack.code}"] += 1
        outcome["unsettled"] += len(delivery.missing)
    return dict(outcome)
