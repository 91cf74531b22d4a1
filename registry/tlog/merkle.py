"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs, over leaf hashes.

Everything works on *leaf hashes* (``leaf_hash(data)``), never on raw leaf data, so a caller
decides where hashes come from: a list in memory, or stored leaves and cached subtree hashes
(:mod:`registry.tlog.store`). Hashing is RFC 9162 §2.1.1 (identical to RFC 6962 §2.1)::

    leaf = SHA-256(0x00 ‖ data)          node = SHA-256(0x01 ‖ left ‖ right)
    MTH({}) = SHA-256("")                MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])),
                                         k the largest power of two smaller than n

Example::

    hashes = [leaf_hash(d) for d in (b"a", b"b", b"c")]
    root = tree_root(hashes)
    path = inclusion_path(1, len(hashes), ListHashes(hashes).subtree)
    assert verify_inclusion(hashes[1], 1, 3, path, root)

Proof generation takes ``subtree(lo, hi)``, a function returning MTH(D[lo:hi]) for a *complete
aligned* range (hi - lo a power of two, lo a multiple of it); the proofs below only ever ask for
such ranges plus ranges they split themselves, which is what lets a store answer from cached
subtree hashes instead of rehashing the whole log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "ListHashes",
    "RootAccumulator",
    "consistency_proof",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256

EMPTY_ROOT = _sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

SubtreeHash = Callable[[int, int], bytes]
"""``subtree(lo, hi)`` → MTH(D[lo:hi]) for a complete aligned range."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class RootAccumulator:
    """Roots of every prefix of a leaf sequence in one pass (a compact range / frontier).

    ``append`` costs amortised one node hash; ``root()`` folds at most log2(n) stacked
    subtrees. Used to recompute the log and check every stored checkpoint in O(n).
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash) of complete subtrees
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        height, h = 0, leaf
        stack = self._stack
        while stack and stack[-1][0] == height:
            h = node_hash(stack.pop()[1], h)
            height += 1
        stack.append((height, h))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        it = reversed(self._stack)
        h = next(it)[1]
        for _, left in it:
            h = node_hash(left, h)
        return h


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of a list of leaf hashes."""
    acc = RootAccumulator()
    acc.extend(leaves)
    return acc.root()


def range_hash(lo: int, hi: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[lo:hi]) for ``lo`` aligned to the range (as every range of the recursion is)."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if _is_pow2(n):
        return subtree(lo, hi)
    k = _split(n)
    return node_hash(subtree(lo, lo + k), range_hash(lo + k, hi, subtree))


class ListHashes:
    """A :data:`SubtreeHash` over leaf hashes held in memory (memoised)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def subtree(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self.leaves[lo]
        key = (lo, hi)
        found = self._memo.get(key)
        if found is None:
            mid = lo + (hi - lo) // 2
            found = node_hash(self.subtree(lo, mid), self.subtree(mid, hi))
            self._memo[key] = found
        return found


def inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf ``index`` in a tree of size n."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    # Walk down from the root; siblings are collected top-down and returned bottom-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(range_hash(lo + k, hi, subtree))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 between tree sizes ``first`` ≤ ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                proof.append(subtree(lo, hi))
            break
        k = _split(n)
        if m <= k:
            proof.append(range_hash(lo + k, hi, subtree))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``index`` under ``root``?"""
    # (1) the index must lie inside the tree.
    if not 0 <= index < size:
        return False
    # (2), (3)
    fn, sn, r = index, size - 1, leaf
    # (4)
    for p in path:
        if sn == 0:  # (4a)
            return False
        if fn & 1 or fn == sn:  # (4b)
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # (4c)
        sn >>= 1
    # (5)
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show tree ``first`` is a prefix of tree ``second``?"""
    if first > second or first < 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    # (1)
    if not proof:
        return False
    # (2)
    path = [first_root, *proof] if _is_pow2(first) else list(proof)
    # (3), (4)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # (5)
    fr = sr = path[0]
    # (6)
    for c in path[1:]:
        if sn == 0:  # (6a)
            return False
        if fn & 1 or fn == sn:  # (6b)
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # (6c)
        sn >>= 1
    # (7)
    return fr == first_root and sr == second_root and sn == 0
