"""The transparency log: every sealing and status change is a leaf of an append-only Merkle
log (RFC 9162 hashing), and the registry signs checkpoints with its own log key (TEST ONLY).

One module per step::

    merkle.py      RFC 9162 hashes, roots, inclusion and consistency proofs (pure functions)
    models.py      tlog_leaves, tlog_tiles, tlog_checkpoints
    leaves.py      the leaf data of one event; append_leaves (called by record_events)
    keys.py        the log key and its certificate from the test root CA
    tree.py        the stored log as a tree: subtree hashes from cached tiles
    checkpoint.py  sequence pending leaves, sign and check checkpoints
    proof.py       inclusion proofs (proof.json) and consistency proofs from the store
    audit.py       recompute the whole log and check every checkpoint (licreg log verify)

Example::

    cp, created = make_checkpoint(session, ensure_log_key(ks, pw, now=now), now=now)
    proof = prove_identifier(session, identifier)
    leaf = check_inclusion(proof, CheckpointChecker([root_cert]))
"""

from registry.tlog.audit import LogFinding, LogScan, scan_log
from registry.tlog.checkpoint import (
    Checkpoint,
    CheckpointChecker,
    latest_checkpoint,
    load_checkpoints,
    make_checkpoint,
    sign_checkpoint,
)
from registry.tlog.keys import ensure_log_key, load_log_cert
from registry.tlog.proof import (
    ConsistencyProof,
    InclusionProof,
    check_inclusion,
    parse_proof,
    prove_consistency,
    prove_identifier,
)

__all__ = [
    "Checkpoint",
    "CheckpointChecker",
    "ConsistencyProof",
    "InclusionProof",
    "LogFinding",
    "LogScan",
    "check_inclusion",
    "ensure_log_key",
    "latest_checkpoint",
    "load_checkpoints",
    "load_log_cert",
    "make_checkpoint",
    "parse_proof",
    "prove_consistency",
    "prove_identifier",
    "scan_log",
    "sign_checkpoint",
]
