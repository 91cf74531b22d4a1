"""RFC 9162 hashing and proofs (registry.tlog.merkle): roots, inclusion and consistency proofs,
the prefix-root accumulator.

The Merkle vectors are the RFC 6962 reference tree of certificate-transparency's test data
(eight leaves "", 00, 10, 2021, 3031, 40414243, 50…57, 60…6f), which RFC 9162 hashing keeps.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from registry.tlog.merkle import (
    EMPTY_ROOT,
    ListHashes,
    RootAccumulator,
    consistency_proof,
    inclusion_path,
    leaf_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

H = bytes.fromhex
CT_LEAVES = [H(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                            "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (leaf index, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_HASHES = [leaf_hash(d) for d in CT_LEAVES]


def test_roots_match_the_reference_tree() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for n in range(9):
        assert tree_root(CT_HASHES[:n]).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, path: list[str]) -> None:
    made = inclusion_path(index, size, ListHashes(CT_HASHES).subtree)
    assert [p.hex() for p in made] == path
    root = H(CT_ROOTS[size])
    assert verify_inclusion(CT_HASHES[index], index, size, made, root)
    assert not verify_inclusion(CT_HASHES[index], index, size, made, H(CT_ROOTS[size - 1]))
    assert not verify_inclusion(CT_HASHES[index], index + size, size, made, root)


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_reference(first: int, second: int, proof: list[str]) -> None:
    made = consistency_proof(first, second, ListHashes(CT_HASHES).subtree)
    assert [p.hex() for p in made] == proof
    assert verify_consistency(first, second, H(CT_ROOTS[first]), H(CT_ROOTS[second]), made)
    if first != second:
        assert not verify_consistency(first, second, H(CT_ROOTS[first - 1]),
                                      H(CT_ROOTS[second]), made)


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


@hsettings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), data=st.data())
def test_every_proof_verifies_and_any_change_breaks_it(n: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = ListHashes(hashes)
    root = tree_root(hashes)
    i = data.draw(st.integers(0, n - 1))
    path = inclusion_path(i, n, tree.subtree)
    assert verify_inclusion(hashes[i], i, n, path, root)
    assert not verify_inclusion(_flip(hashes[i]), i, n, path, root)
    if path:
        k = data.draw(st.integers(0, len(path) - 1))
        assert not verify_inclusion(hashes[i], i, n, [*path[:k], _flip(path[k]), *path[k + 1:]],
                                    root)
    m = data.draw(st.integers(0, n))
    proof = consistency_proof(m, n, tree.subtree)
    old = tree_root(hashes[:m])
    assert verify_consistency(m, n, old, root, proof)
    if 0 < m < n:
        assert not verify_consistency(m, n, _flip(old), root, proof)
        assert not verify_consistency(m, n, old, _flip(root), proof)
        assert not verify_consistency(m, n, old, root, proof[:-1])


def test_accumulator_gives_every_prefix_root() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(40)]
    acc = RootAccumulator()
    for i, h in enumerate(hashes):
        assert acc.root() == tree_root(hashes[:i])
        acc.append(h)
    assert acc.size == 40


def test_proofs_refuse_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_path(3, 3, ListHashes(CT_HASHES).subtree)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(5, 3, ListHashes(CT_HASHES).subtree)
    assert not verify_consistency(5, 3, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(2, 5, H(CT_ROOTS[2]), H(CT_ROOTS[5]), [])
