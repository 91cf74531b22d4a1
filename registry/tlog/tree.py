"""The stored log as a Merkle tree: subtree hashes from cached tiles, proofs without rehashing.

Tiles are hashes of complete aligned subtrees of 2^8 and 2^16 leaves, written by each
checkpoint for the tiles it completes. A subtree of 2^h leaves is then the MTH of at most
2^8 tile hashes (or of fewer than 2^8 leaf hashes), so an inclusion or consistency proof in a
log of millions of leaves reads a few hundred stored hashes. A missing tile is recomputed from
the level below; a missing leaf is an error (the log lost a leaf).

Example::

    tree = StoredTree(session, size=checkpoint.tree_size)
    path = inclusion_path(leaf_seq, tree.size, tree.subtree)
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import VerificationError
from registry.i18n import _
from registry.tlog.merkle import range_hash, tree_root
from registry.tlog.models import LogLeaf, LogTile

__all__ = ["TILE_LEVELS", "StoredTree", "new_tiles"]

TILE_LEVELS = (8, 16)
"""log2 of the leaves a tile covers, lowest first."""

_FETCH = 900  # rows per IN/range query, under SQLite's bound-parameter limit


class StoredTree:
    """Subtree hashes of the first ``size`` sequenced leaves, from tiles and leaves (memoised)."""

    def __init__(self, session: Session, size: int) -> None:
        self.session = session
        self.size = size
        self._leaves: dict[int, bytes] = {}
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._absent: set[tuple[int, int]] = set()
        self._memo: dict[tuple[int, int], bytes] = {}

    def seed_leaves(self, start: int, hashes: Iterable[bytes]) -> None:
        """Leaf hashes already in memory, from position ``start`` on."""
        for offset, h in enumerate(hashes):
            self._leaves[start + offset] = h

    def seed_tiles(self, level: int, tiles: dict[int, bytes]) -> None:
        for number, h in tiles.items():
            self._tiles[(level, number)] = h

    def root(self) -> bytes:
        """MTH of the whole tree."""
        return range_hash(0, self.size, self.subtree)

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a complete aligned range inside the tree."""
        if hi > self.size:
            raise ValueError(f"range {lo}..{hi} is beyond the tree size {self.size}")
        key = (lo, hi)
        found = self._memo.get(key)
        if found is None:
            found = self._complete(lo, hi, len(TILE_LEVELS))
            self._memo[key] = found
        return found

    def _complete(self, lo: int, hi: int, below: int) -> bytes:
        # Use the highest tile level (among the first ``below``) that fits in the range.
        height = (hi - lo).bit_length() - 1
        for i in range(below - 1, -1, -1):
            level = TILE_LEVELS[i]
            if level <= height:
                first, last = lo >> level, hi >> level
                self._fetch_tiles(level, range(first, last))
                hashes = []
                for number in range(first, last):
                    h = self._tiles.get((level, number))
                    if h is None:  # not cached: rebuild it from the level below
                        h = self._complete(number << level, (number + 1) << level, i)
                        self._tiles[(level, number)] = h
                    hashes.append(h)
                return tree_root(hashes)
        self._fetch_leaves(lo, hi)
        try:
            return tree_root([self._leaves[i] for i in range(lo, hi)])
        except KeyError as exc:
            raise VerificationError(
                _("log leaf {seq} is missing: the log lost a leaf", seq=exc.args[0]),
                sub_indication="LOG_CONSISTENCY_FAILURE",
            ) from exc

    def _fetch_tiles(self, level: int, numbers: range) -> None:
        wanted = [n for n in numbers if (level, n) not in self._tiles
                  and (level, n) not in self._absent]
        if not wanted:
            return
        rows = self.session.execute(
            select(LogTile.number, LogTile.hash).where(
                LogTile.level == level, LogTile.number >= wanted[0], LogTile.number <= wanted[-1]
            )
        )
        for number, h in rows:
            self._tiles[(level, number)] = h
        self._absent.update((level, n) for n in wanted if (level, n) not in self._tiles)

    def _fetch_leaves(self, lo: int, hi: int) -> None:
        if all(i in self._leaves for i in range(lo, hi)):
            return
        rows = self.session.execute(
            select(LogLeaf.seq, LogLeaf.leaf_hash).where(LogLeaf.seq >= lo, LogLeaf.seq < hi)
        )
        for seq, h in rows:
            assert seq is not None  # selected by a range of seq
            self._leaves[seq] = h


def new_tiles(tree: StoredTree, old_size: int) -> list[dict[str, object]]:
    """Rows for the tiles completed between ``old_size`` and ``tree.size`` (lowest level first,
    so each level is built from the one below, already in memory)."""
    rows: list[dict[str, object]] = []
    for i, level in enumerate(TILE_LEVELS):
        for number in range(old_size >> level, tree.size >> level):
            # Built from the level below (``below=i``): this tile is not stored yet.
            h = tree._complete(number << level, (number + 1) << level, i)
            tree.seed_tiles(level, {number: h})
            rows.append({"level": level, "number": number, "hash": h})
    return rows
