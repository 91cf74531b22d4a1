"""Recompute the log from its stored leaves and check every stored checkpoint against it.

``licreg log verify`` and ``licreg verify --registry`` both start here. The scan reads every
leaf once and, numbered as in :func:`scan_log`:

(1) checks leaf positions are 0..n-1 without gaps or repeats;
(2) rehashes every leaf's data and compares it with its stored leaf hash (a leaf edited after
    it was written);
(3) recomputes every stored tile from the stored leaf hashes (a leaf edited together with its
    hash: the tile written at checkpoint time no longer matches);
(4) recomputes the root at every checkpoint's size and checks each checkpoint's signature and
    key; a checkpoint whose root matches neither the leaves nor the stored tiles proves nothing;
(5) reports forks: two signed checkpoints of one size with different roots;
(6) works out, per license identifier, its events, the earliest valid checkpoint covering its
    sealing leaf (proof of existence) and, when there is none, why.

Example::

    scan = scan_log(session, checker=CheckpointChecker(anchors))
    for finding in scan.findings:
        print(finding.sub_indication, finding.subject, finding.detail)
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.clock import china_text
from registry.errors import VerificationError
from registry.i18n import _
from registry.tlog.checkpoint import Checkpoint, CheckpointChecker, load_checkpoints
from registry.tlog.leaves import LeafData, parse_leaf
from registry.tlog.merkle import range_hash, tree_root
from registry.tlog.models import LogLeaf, LogTile
from registry.tlog.tree import TILE_LEVELS

__all__ = ["IdentifierHistory", "LogFinding", "LogScan", "scan_log"]

_MISSING = b"\x00" * 32  # stands in for a lost leaf: every root over it then mismatches


@dataclass(frozen=True)
class LogFinding:
    """Something wrong with the log itself, or with one of its leaves."""

    sub_indication: str
    """LOG_INCLUSION_FAILURE (a leaf), LOG_CONSISTENCY_FAILURE (positions, tiles, a checkpoint
    that no longer matches), LOG_FORK, or a checkpoint signature problem (SIG_CRYPTO_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND, OUT_OF_BOUNDS_NO_POE, FORMAT_FAILURE)."""
    subject: str
    """What it is about: "log leaf 17", "log checkpoint #3 (size 120)" …"""
    identifier: str | None
    """The license the leaf is about, when there is one."""
    detail: str
    """A sentence for a person."""


class IdentifierHistory(NamedTuple):
    """What the log says about one license identifier (a NamedTuple: one per license, built
    in bulk)."""

    identifier: str
    sealing: LeafData | None
    """The first leaf (the sealing event), when it could be read."""
    sealing_seq: int | None
    """Its position, None while no checkpoint has sequenced it."""
    events: tuple[LeafData, ...]
    """Every readable leaf of the identifier, in the order they were written."""
    poe: dt.datetime | None
    """Time of the earliest valid checkpoint covering the sealing leaf."""
    poe_checkpoint: Checkpoint | None
    """That checkpoint."""
    problem: str | None
    """Why the log cannot vouch for this license (a changed leaf, no valid checkpoint …)."""

    @property
    def pending(self) -> bool:
        """The sealing leaf is written but no checkpoint covers it yet."""
        return self.sealing_seq is None and self.problem is None

    def status_at(self, when: dt.datetime) -> str | None:
        """The license status the log records at ``when`` (None: not issued yet)."""
        status = None
        for event in self.events:
            if event.time <= when:
                status = event.status
        return status


@dataclass(frozen=True)
class LogScan:
    """The result of :func:`scan_log`."""

    size: int
    """Leaves with a position (covered by some checkpoint)."""
    pending: int
    """Leaves written since the last checkpoint."""
    checkpoints: tuple[Checkpoint, ...]
    """Every stored checkpoint."""
    valid_checkpoints: int
    """Checkpoints that are signed by a trusted key and match the leaves."""
    findings: tuple[LogFinding, ...]
    histories: dict[str, IdentifierHistory]
    """Per license identifier."""


def _tile_range(level: int, number: int) -> str:
    return _("leaves {first}..{last}", first=number << level, last=((number + 1) << level) - 1)


class _Tiles:
    """Subtree hashes over the stored leaf hashes: recomputed tiles, memoised ranges."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        lowest = TILE_LEVELS[0]
        self.level: dict[int, list[bytes]] = {}
        below = leaves
        below_level = 0
        for level in TILE_LEVELS:
            step = 1 << (level - below_level)
            self.level[level] = [
                tree_root(below[i : i + step]) for i in range(0, len(below) - step + 1, step)
            ]
            below, below_level = self.level[level], level
        self._memo: dict[tuple[int, int], bytes] = {}
        self._lowest = lowest

    def subtree(self, lo: int, hi: int) -> bytes:
        key = (lo, hi)
        found = self._memo.get(key)
        if found is None:
            height = (hi - lo).bit_length() - 1
            found = None
            for level in reversed(TILE_LEVELS):
                if level <= height:
                    found = tree_root(self.level[level][lo >> level : hi >> level])
                    break
            if found is None:
                found = tree_root(self.leaves[lo:hi])
            self._memo[key] = found
        return found


def scan_log(session: Session, *, checker: CheckpointChecker) -> LogScan:
    """Recompute and check the whole log (see the module docstring for the steps)."""
    findings: list[LogFinding] = []
    # (id, seq, identifier, data, stored leaf hash), in the order the leaves were written.
    rows = session.execute(
        select(LogLeaf.id, LogLeaf.seq, LogLeaf.identifier, LogLeaf.data, LogLeaf.leaf_hash)
        .order_by(LogLeaf.id)
    ).all()

    # (1) positions 0..n-1.
    size = 1 + max((r[1] for r in rows if r[1] is not None), default=-1)
    stored: list[bytes] = [_MISSING] * size
    filled = 0
    for r in rows:
        if r[1] is not None:
            stored[r[1]] = r[4]
            filled += 1
    pending = len(rows) - filled
    if filled != size:
        first = next(i for i, h in enumerate(stored) if h is _MISSING)
        findings.append(LogFinding(
            "LOG_CONSISTENCY_FAILURE", _("log leaf {seq}", seq=first), None,
            _("{n} leaf position(s) below {size} have no leaf (first: {first}): leaves were "
              "deleted from the log", n=size - filled, size=size, first=first)))

    # (2) every leaf's data against its stored hash; read it.
    sha256 = hashlib.sha256
    parsed: list[LeafData | None] = []
    changed: set[int] = set()  # leaf ids
    def place(leaf_id: int, seq: int | None) -> str:
        return (_("log leaf {seq}", seq=seq) if seq is not None
                else _("pending log leaf id {id}", id=leaf_id))

    for leaf_id, seq, identifier, data, stored_hash in rows:
        if sha256(b"\x00" + data).digest() != stored_hash:
            where = place(leaf_id, seq)
            changed.add(leaf_id)
            findings.append(LogFinding(
                "LOG_INCLUSION_FAILURE", where, identifier,
                _("the data of {where} ({identifier}) no longer hashes to its stored leaf hash: "
                  "it was changed after it was written", where=where, identifier=identifier)))
        try:
            leaf = parse_leaf(data)
        except VerificationError as exc:
            changed.add(leaf_id)
            findings.append(LogFinding(
                "LOG_INCLUSION_FAILURE", place(leaf_id, seq), identifier, str(exc)))
            parsed.append(None)
            continue
        if leaf.identifier != identifier:
            where = place(leaf_id, seq)
            changed.add(leaf_id)
            findings.append(LogFinding(
                "LOG_INCLUSION_FAILURE", where, identifier,
                _("{where} is filed under {identifier} but its data names {named}", where=where,
                  identifier=identifier, named=leaf.identifier)))
        parsed.append(leaf)

    # (3) stored tiles against tiles recomputed from the stored leaf hashes.
    recomputed = _Tiles(stored)
    tiles: dict[tuple[int, int], bytes] = {
        (level, number): h for level, number, h in session.execute(
            select(LogTile.level, LogTile.number, LogTile.hash))
    }
    lowest = TILE_LEVELS[0]
    damaged: set[int] = set()  # level-8 tile numbers whose leaves changed under them
    for (level, number), h in sorted(tiles.items()):
        expected = recomputed.level.get(level, [])
        if number >= len(expected):
            findings.append(LogFinding(
                "LOG_CONSISTENCY_FAILURE", _("log tile {level}/{number}", level=level,
                                             number=number), None,
                _("a tile covers {range} but the log has {size} leaves",
                  range=_tile_range(level, number), size=size)))
        elif expected[number] != h:
            damaged.update(range((number << level) >> lowest, ((number + 1) << level) >> lowest))
            findings.append(LogFinding(
                "LOG_CONSISTENCY_FAILURE", _("log tile {level}/{number}", level=level,
                                             number=number), None,
                _("{range} no longer hash to the tile recorded when they were checkpointed: a "
                  "leaf in that range was changed together with its hash",
                  range=_tile_range(level, number))))

    def from_stored_tiles(lo: int, hi: int) -> bytes:
        height = (hi - lo).bit_length() - 1
        for level in reversed(TILE_LEVELS):
            if level <= height:
                parts = [tiles.get((level, n)) for n in range(lo >> level, hi >> level)]
                if all(part is not None for part in parts):
                    return tree_root([part for part in parts if part is not None])
        return recomputed.subtree(lo, hi)

    # (4) every checkpoint: signature and key, then its root against the leaves.
    checkpoints = tuple(load_checkpoints(session))
    full: list[Checkpoint] = []  # signed, trusted, root matches every leaf
    partial: list[Checkpoint] = []  # root matches the stored tiles: leaves outside damaged ones
    for cp in checkpoints:
        subject = _("log checkpoint #{id} (size {size}, {time})", id=cp.id, size=cp.tree_size,
                    time=china_text(cp.time, seconds=True))
        try:
            checker.check(cp)
        except VerificationError as exc:
            findings.append(LogFinding(exc.sub_indication, subject, None, str(exc)))
            continue
        if cp.tree_size > size:
            findings.append(LogFinding(
                "LOG_CONSISTENCY_FAILURE", subject, None,
                _("the checkpoint covers {covered} leaves but the log holds {size}: leaves were "
                  "removed", covered=cp.tree_size, size=size)))
            continue
        root = range_hash(0, cp.tree_size, recomputed.subtree)
        if root == cp.root_hash:
            full.append(cp)
        elif range_hash(0, cp.tree_size, from_stored_tiles) == cp.root_hash:
            partial.append(cp)
        else:
            findings.append(LogFinding(
                "LOG_CONSISTENCY_FAILURE", subject, None,
                _("its root {root} is not the root of the log's first {size} leaves "
                  "({computed}): the log was changed after it was signed, or the checkpoint is "
                  "from another log", root=cp.root_hash.hex(), size=cp.tree_size,
                  computed=root.hex())))

    # (5) forks.
    by_size: dict[tuple[str, int], dict[bytes, list[Checkpoint]]] = defaultdict(dict)
    for cp in checkpoints:
        by_size[(cp.origin, cp.tree_size)].setdefault(cp.root_hash, []).append(cp)
    for (origin, tree_size), variants in sorted(by_size.items()):
        if len(variants) > 1:
            ids = ", ".join(f"#{c.id}" for group in variants.values() for c in group)
            findings.append(LogFinding(
                "LOG_FORK", _("log checkpoints {ids} (size {size})", ids=ids, size=tree_size),
                None,
                _("{origin} signed {n} different roots for size {size}: the log presented "
                  "different histories", origin=origin, n=len(variants), size=tree_size)))

    # (6) per identifier: events, proof of existence, problems.
    def earliest(cps: Sequence[Checkpoint]) -> tuple[list[int], list[Checkpoint | None]]:
        ordered = sorted(cps, key=lambda c: c.tree_size)
        best: list[Checkpoint | None] = [None] * (len(ordered) + 1)
        for i in range(len(ordered) - 1, -1, -1):
            nxt = best[i + 1]
            best[i] = ordered[i] if nxt is None or ordered[i].time <= nxt.time else nxt
        return [c.tree_size for c in ordered], best

    full_sizes, full_best = earliest(full)
    part_sizes, part_best = earliest(partial)
    poe_cache: dict[tuple[int, int], Checkpoint | None] = {}

    def poe_of(seq: int) -> Checkpoint | None:
        # The earliest full checkpoint above seq, or a partial one when seq's tile is intact.
        i = bisect.bisect_right(full_sizes, seq)
        j = (bisect.bisect_right(part_sizes, seq)
             if part_sizes and seq >> lowest not in damaged else len(part_sizes))
        key = (i, j)
        if key not in poe_cache:
            found = [c for c in (full_best[i], part_best[j]) if c is not None]
            poe_cache[key] = min(found, key=lambda c: c.time) if found else None
        return poe_cache[key]

    grouped: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        group = grouped.get(row[2])
        if group is None:
            grouped[row[2]] = [index]
        else:
            group.append(index)
    histories: dict[str, IdentifierHistory] = {}
    for identifier, indexes in grouped.items():
        head = rows[indexes[0]]
        first_id, first_seq = head[0], head[1]
        problem = None
        poe: Checkpoint | None = None
        if changed and first_id in changed:
            problem = _("its sealing leaf (log leaf {seq}) was changed after it was written",
                        seq=first_seq)
        elif changed and any(rows[i][0] in changed for i in indexes):
            bad = next(rows[i][1] for i in indexes if rows[i][0] in changed)
            problem = _("its status event (log leaf {seq}) was changed after it was written",
                        seq=bad)
        elif first_seq is not None:
            poe = poe_of(first_seq)
            if poe is None:
                if first_seq >> lowest in damaged:
                    problem = _("its sealing leaf {seq} lies in {range}, changed since they were "
                                "checkpointed", seq=first_seq,
                                range=_tile_range(lowest, first_seq >> lowest))
                else:
                    problem = _("no valid checkpoint covers its sealing leaf {seq}",
                                seq=first_seq)
        sealing = parsed[indexes[0]]
        if len(indexes) == 1:
            events: tuple[LeafData, ...] = () if sealing is None else (sealing,)
        else:
            events = tuple(leaf for leaf in (parsed[i] for i in indexes) if leaf is not None)
        histories[identifier] = IdentifierHistory(
            identifier, sealing, first_seq, events, None if poe is None else poe.time, poe, problem
        )
    return LogScan(
        size=size,
        pending=pending,
        checkpoints=checkpoints,
        valid_checkpoints=len(full) + len(partial),
        findings=tuple(findings),
        histories=histories,
    )
