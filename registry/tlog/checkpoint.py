"""Signed checkpoints: the log's tree head (origin, size, root hash, time), signed by the log key.

The signed body follows the C2SP tlog-checkpoint layout, with the time as an extension line::

    licreg.test/tlog
    120
    <base64 root hash>
    time 2026-11-27T08:00:00Z

A checkpoint is proof of existence (POE): every leaf below its size existed at its time. So a
license sealed and checkpointed before its seal was revoked stays verifiable after.

Example::

    cp = make_checkpoint(session, ensure_log_key(keystore, passphrase, now=now), now=now)
    CheckpointChecker(anchors).check(cp)     # raises VerificationError when it is not good

:func:`make_checkpoint` (1) takes the log lock, (2) gives every pending leaf its position in
leaf-id order, (3) stores the tiles the new leaves complete, (4) computes the root from tiles,
(5) signs and stores the checkpoint — all in the caller's transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from registry.clock import china_text
from registry.errors import VerificationError
from registry.i18n import _, current_language
from registry.tlog.keys import LogSigner, ensure_log_key
from registry.tlog.leaves import format_time
from registry.tlog.models import LogCheckpoint, LogLeaf, LogTile
from registry.tlog.tree import StoredTree, new_tiles

__all__ = [
    "DEFAULT_ORIGIN",
    "Checkpoint",
    "CheckpointChecker",
    "checkpoint_body",
    "latest_checkpoint",
    "load_checkpoints",
    "make_checkpoint",
    "sign_checkpoint",
]

DEFAULT_ORIGIN = "licreg.test/tlog"
"""The log's name in every checkpoint (TEST ONLY log)."""

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PG_LOCK_KEY = 0x6C6963726567  # "licreg": the advisory lock that serialises checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head."""

    origin: str
    """The log's name."""
    tree_size: int
    """Number of leaves covered."""
    root_hash: bytes
    """MTH of those leaves (RFC 9162)."""
    time: dt.datetime
    """When it was signed: POE for every leaf it covers."""
    certificate_der: bytes
    """The log certificate whose key signed it."""
    signature: bytes
    """DER ECDSA P-256/SHA-256 over :meth:`body`."""
    id: int | None = None
    """Row id in the registry (None for a checkpoint read from a proof document)."""

    def body(self) -> bytes:
        return checkpoint_body(self.origin, self.tree_size, self.root_hash, self.time)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, as in ``proof.json``."""
        cert = x509.load_der_x509_certificate(self.certificate_der)
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "time": format_time(self.time),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "certificate": cert.public_bytes(Encoding.PEM).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Checkpoint:
        """Read :meth:`to_dict` output; anything malformed → VerificationError."""
        try:
            time = dt.datetime.fromisoformat(str(doc["time"]))
            if time.tzinfo is None:
                raise ValueError("checkpoint time has no time zone")
            size = doc["tree_size"]
            if not isinstance(size, int) or size < 0:
                raise ValueError("tree_size must be a non-negative integer")
            cert = x509.load_pem_x509_certificate(str(doc["certificate"]).encode("ascii"))
            return cls(
                origin=str(doc["origin"]),
                tree_size=size,
                root_hash=bytes.fromhex(str(doc["root_hash"])),
                time=time.astimezone(dt.UTC),
                certificate_der=cert.public_bytes(Encoding.DER),
                signature=base64.b64decode(str(doc["signature"]), validate=True),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise VerificationError(
                _("not a checkpoint: {error}", error=exc), sub_indication="FORMAT_FAILURE"
            ) from exc

    @classmethod
    def from_row(cls, row: LogCheckpoint) -> Checkpoint:
        return cls(
            origin=row.origin,
            tree_size=row.tree_size,
            root_hash=row.root_hash,
            time=row.created_at,
            certificate_der=row.certificate,
            signature=row.signature,
            id=row.id,
        )


def checkpoint_body(origin: str, tree_size: int, root_hash: bytes, time: dt.datetime) -> bytes:
    """The signed text of a checkpoint."""
    if "\n" in origin or not origin:
        raise ValueError("a checkpoint origin is one non-empty line")
    root = base64.b64encode(root_hash).decode("ascii")
    return f"{origin}\n{tree_size}\n{root}\ntime {format_time(time)}\n".encode()


class CheckpointChecker:
    """Checks checkpoint signatures against trust anchors; caches per certificate and body."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self._anchors = tuple(anchors)
        self._anchor_ders = frozenset(a.public_bytes(Encoding.DER) for a in anchors)
        # (certificate, language) → it, or the problem in the reader's language
        self._trusted: dict[tuple[bytes, str], x509.Certificate | VerificationError] = {}
        # (checkpoint, certificate, language) → the problem, in the reader's language
        self._checked: dict[tuple[bytes, bytes, str], VerificationError | None] = {}

    def _certificate(self, der: bytes) -> x509.Certificate:
        key = (der, current_language())
        found = self._trusted.get(key)
        if found is None:
            found = self._trust(der)
            self._trusted[key] = found
        if isinstance(found, VerificationError):
            raise found
        return found

    def _trust(self, der: bytes) -> x509.Certificate | VerificationError:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return VerificationError(
                _("the log certificate is not DER X.509"), sub_indication="FORMAT_FAILURE"
            )
        if der in self._anchor_ders:
            return cert
        for anchor in self._anchors:
            if anchor.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return cert
        return VerificationError(
            _("the log certificate {subject} is not issued by a trust anchor",
              subject=cert.subject.rfc4514_string()),
            sub_indication="NO_CERTIFICATE_CHAIN_FOUND",
        )

    def check(self, cp: Checkpoint) -> None:
        """Raise VerificationError unless ``cp`` is signed by a trusted log key valid at its
        time: SIG_CRYPTO_FAILURE (bad signature), NO_CERTIFICATE_CHAIN_FOUND (untrusted key),
        OUT_OF_BOUNDS_NO_POE (signed outside the certificate's validity), FORMAT_FAILURE."""
        body = cp.body()
        key = (body + cp.signature, cp.certificate_der, current_language())
        if key in self._checked:
            problem = self._checked[key]
        else:
            try:
                self._check(cp, body)
                problem = None
            except VerificationError as exc:
                problem = exc
            self._checked[key] = problem
        if problem is not None:
            raise problem

    def _check(self, cp: Checkpoint, body: bytes) -> None:
        cert = self._certificate(cp.certificate_der)
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise VerificationError(
                _("the log certificate has no EC key"), sub_indication="SIG_CRYPTO_FAILURE"
            )
        try:
            public_key.verify(cp.signature, body, _ECDSA_SHA256)
        except InvalidSignature as exc:
            raise VerificationError(
                _("the signature of checkpoint (size {size}, {time}) does not verify with the "
                  "log key", size=cp.tree_size, time=china_text(cp.time, seconds=True)),
                sub_indication="SIG_CRYPTO_FAILURE",
            ) from exc
        if not cert.not_valid_before_utc <= cp.time <= cert.not_valid_after_utc:
            raise VerificationError(
                _("checkpoint time {time} is outside the log certificate's validity",
                  time=china_text(cp.time, seconds=True)),
                sub_indication="OUT_OF_BOUNDS_NO_POE",
            )


def _lock(session: Session) -> None:
    """(1) One checkpoint at a time; sealing transactions keep appending meanwhile."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # SQLite: a write statement takes the database's write lock for the transaction.
        session.execute(update(LogLeaf).where(LogLeaf.id < 0).values(seq=None))


def load_checkpoints(session: Session) -> list[Checkpoint]:
    """Every stored checkpoint, oldest first."""
    rows = session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.id))
    return [Checkpoint.from_row(r) for r in rows]


def latest_checkpoint(session: Session) -> Checkpoint | None:
    row = session.scalars(
        select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc(), LogCheckpoint.id.desc())
    ).first()
    return None if row is None else Checkpoint.from_row(row)


def make_checkpoint(
    session: Session, signer: LogSigner, *, now: dt.datetime, origin: str = DEFAULT_ORIGIN,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Checkpoint, bool]:
    """Sequence the pending leaves and sign a checkpoint of the whole log.

    Returns ``(checkpoint, created)``: with no pending leaf and a checkpoint of the current
    size already stored, that checkpoint is returned and nothing is written.
    ``progress(done, 3)`` is told after each stage: sequenced, tiles stored, signed.
    """
    tell = progress or (lambda _done, _total: None)
    if now.tzinfo is None:
        raise ValueError("the checkpoint time must be an aware datetime")
    _lock(session)
    last = session.scalar(select(func.max(LogLeaf.seq)))
    old_size = 0 if last is None else last + 1
    # (2) positions for the pending leaves, in one statement (the ids give the order).
    pending = (
        select(
            LogLeaf.id.label("leaf_id"),
            (func.row_number().over(order_by=LogLeaf.id) + (old_size - 1)).label("position"),
        )
        .where(LogLeaf.seq.is_(None))
        .subquery()
    )
    session.execute(
        update(LogLeaf)
        .where(LogLeaf.id == pending.c.leaf_id)
        .values(seq=pending.c.position)
        .execution_options(synchronize_session=False)
    )
    added = session.execute(
        select(LogLeaf.seq, LogLeaf.leaf_hash).where(LogLeaf.seq >= old_size).order_by(LogLeaf.seq)
    ).all()
    new_size = old_size + len(added)
    if added and added[-1][0] != new_size - 1:
        raise VerificationError(
            "log positions are not contiguous after sequencing",
            sub_indication="LOG_CONSISTENCY_FAILURE",
        )
    tell(1, 3)
    if not added:
        latest = latest_checkpoint(session)
        if latest is not None and latest.tree_size == new_size and latest.origin == origin:
            return latest, False
    # (3) tiles, (4) root.
    tree = StoredTree(session, new_size)
    tree.seed_leaves(old_size, (h for _, h in added))
    tiles = new_tiles(tree, old_size)
    if tiles:
        session.execute(insert(LogTile), tiles)
    root = tree.root()
    tell(2, 3)
    # (5) sign and store.
    time = now.astimezone(dt.UTC).replace(microsecond=0)
    signature = signer.sign(checkpoint_body(origin, new_size, root, time))
    row = LogCheckpoint(
        origin=origin,
        tree_size=new_size,
        root_hash=root,
        created_at=time,
        certificate=signer.certificate_der,
        signature=signature,
    )
    session.add(row)
    session.flush()
    tell(3, 3)
    return Checkpoint.from_row(row), True


def sign_checkpoint(
    session: Session,
    *,
    keystore: Path,
    passphrase: bytes,
    now: dt.datetime,
    origin: str = DEFAULT_ORIGIN,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Checkpoint, bool]:
    """:func:`make_checkpoint` with the keystore's log key (made on first use)."""
    signer = ensure_log_key(keystore, passphrase, now=now)
    return make_checkpoint(session, signer, now=now, origin=origin, progress=progress)
