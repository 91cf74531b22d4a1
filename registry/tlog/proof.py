"""Inclusion and consistency proofs from the stored log, and ``proof.json`` documents.

``proof.json`` (in an export bundle, or from ``licreg log prove``) lets an auditor check
offline that a license's sealing event is in the log and when the log first vouched for it::

    {"type": "licreg-tlog-inclusion-proof/1",
     "leaf": {"index": 17, "data": "<the leaf data, RFC 8785 JSON, as a string>"},
     "inclusion_path": ["<hex>", …],
     "checkpoint": {"origin", "tree_size", "root_hash", "time", "signature", "certificate"}}

The checkpoint is the *earliest* one covering the leaf, so its time is the best proof of
existence the log can give.

Example::

    proof = prove_identifier(session, identifier)
    leaf = check_inclusion(proof, CheckpointChecker(anchors))   # raises when it does not hold
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import NotInLog, VerificationError
from registry.i18n import _
from registry.tlog.checkpoint import Checkpoint, CheckpointChecker, latest_checkpoint
from registry.tlog.leaves import LeafData, parse_leaf
from registry.tlog.merkle import (
    consistency_proof,
    inclusion_path,
    leaf_hash,
    range_hash,
    verify_consistency,
    verify_inclusion,
)
from registry.tlog.models import LogCheckpoint, LogLeaf
from registry.tlog.tree import StoredTree

__all__ = [
    "PROOF_TYPE",
    "ConsistencyProof",
    "InclusionProof",
    "check_inclusion",
    "parse_proof",
    "prove_consistency",
    "prove_identifier",
]

PROOF_TYPE = "licreg-tlog-inclusion-proof/1"


@dataclass(frozen=True)
class InclusionProof:
    """A leaf, its audit path and the signed checkpoint it leads to."""

    leaf_index: int
    """The leaf's position in the log."""
    leaf_data: bytes
    """The leaf data (RFC 8785 JSON of the event)."""
    path: tuple[bytes, ...]
    """RFC 9162 inclusion path, bottom-up."""
    checkpoint: Checkpoint
    """The earliest checkpoint covering the leaf."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": PROOF_TYPE,
            "leaf": {"index": self.leaf_index, "data": self.leaf_data.decode("utf-8")},
            "inclusion_path": [p.hex() for p in self.path],
            "checkpoint": self.checkpoint.to_dict(),
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 consistency proof between two sizes of the stored log."""

    old_size: int
    new_size: int
    old_root: bytes
    """MTH of the first ``old_size`` leaves, recomputed from the store."""
    new_root: bytes
    path: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "consistency_path": [p.hex() for p in self.path],
        }


def parse_proof(raw: bytes) -> InclusionProof:
    """Read a ``proof.json``; anything malformed → VerificationError(LOG_INCLUSION_FAILURE)."""
    try:
        doc = json.loads(raw)
        if doc.get("type") != PROOF_TYPE:
            raise ValueError(f"type is {doc.get('type')!r}, expected {PROOF_TYPE!r}")
        index = doc["leaf"]["index"]
        if not isinstance(index, int):
            raise TypeError("leaf index must be an integer")
        return InclusionProof(
            leaf_index=index,
            leaf_data=str(doc["leaf"]["data"]).encode("utf-8"),
            path=tuple(bytes.fromhex(p) for p in doc["inclusion_path"]),
            checkpoint=Checkpoint.from_dict(doc["checkpoint"]),
        )
    except VerificationError as exc:
        raise VerificationError(
            _("proof.json: {problem}", problem=exc), sub_indication="LOG_INCLUSION_FAILURE"
        ) from exc
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise VerificationError(
            _("proof.json is not an inclusion proof: {error}", error=exc),
            sub_indication="LOG_INCLUSION_FAILURE",
        ) from exc


def check_inclusion(proof: InclusionProof, checker: CheckpointChecker) -> LeafData:
    """(1) the checkpoint is signed by a trusted log key, (2) the audit path leads from the leaf
    to its root; returns the leaf. Raises VerificationError with the sub-indication."""
    checker.check(proof.checkpoint)
    cp = proof.checkpoint
    if not verify_inclusion(
        leaf_hash(proof.leaf_data), proof.leaf_index, cp.tree_size, proof.path, cp.root_hash
    ):
        raise VerificationError(
            _("the inclusion path of leaf {index} does not lead to the root of the checkpoint "
              "of size {size}: the leaf or the path was changed", index=proof.leaf_index,
              size=cp.tree_size),
            sub_indication="LOG_INCLUSION_FAILURE",
        )
    return parse_leaf(proof.leaf_data)


def prove_identifier(session: Session, identifier: str) -> InclusionProof:
    """Inclusion proof of the license's first (sealing) leaf, against the earliest checkpoint
    that covers it. Raises :class:`NotInLog` when there is none yet."""
    # Leaves are sequenced in id order, so the first leaf is sequenced unless all of them are
    # pending; only sequenced leaves are indexed by identifier (models.LogLeaf).
    leaf = session.execute(
        select(LogLeaf.seq, LogLeaf.data)
        .where(LogLeaf.identifier == identifier, LogLeaf.seq.is_not(None))
        .order_by(LogLeaf.id)
        .limit(1)
    ).first()
    if leaf is None:
        pending = session.scalar(select(LogLeaf.id).where(
            LogLeaf.seq.is_(None), LogLeaf.identifier == identifier).limit(1))
        if pending is not None:
            raise NotInLog(_("the leaf of {identifier} is not in a checkpoint yet: run `licreg "
                             "log checkpoint`", identifier=identifier))
        raise NotInLog(_("the log has no leaf for {identifier}", identifier=identifier))
    seq, data = leaf
    assert seq is not None  # selected where seq is not null
    row = session.scalars(
        select(LogCheckpoint)
        .where(LogCheckpoint.tree_size > seq)
        .order_by(LogCheckpoint.created_at, LogCheckpoint.id)
        .limit(1)
    ).first()
    if row is None:
        raise NotInLog(_("no checkpoint covers leaf {seq} of {identifier}", seq=seq,
                         identifier=identifier))
    cp = Checkpoint.from_row(row)
    tree = StoredTree(session, cp.tree_size)
    path = inclusion_path(seq, cp.tree_size, tree.subtree)
    return InclusionProof(leaf_index=seq, leaf_data=data, path=tuple(path), checkpoint=cp)


def prove_consistency(session: Session, old_size: int, new_size: int) -> ConsistencyProof:
    """Consistency proof between two sizes no larger than the latest checkpoint's."""
    latest = latest_checkpoint(session)
    limit = 0 if latest is None else latest.tree_size
    if not 0 <= old_size <= new_size <= limit:
        raise NotInLog(
            _("sizes must satisfy 0 ≤ OLD ≤ NEW ≤ {limit} (the latest checkpoint's size); got "
              "{old} and {new}", limit=limit, old=old_size, new=new_size)
        )
    tree = StoredTree(session, new_size)
    path = tuple(consistency_proof(old_size, new_size, tree.subtree))
    old_root = range_hash(0, old_size, tree.subtree)  # the old tree's subtrees are shared
    new_root = tree.root()
    if not verify_consistency(old_size, new_size, old_root, new_root, path):
        raise VerificationError(  # the store is broken if its own proof fails
            _("the stored log's proof from {old} to {new} does not verify", old=old_size,
              new=new_size),
            sub_indication="LOG_CONSISTENCY_FAILURE",
        )
    return ConsistencyProof(old_size, new_size, old_root, new_root, path)
