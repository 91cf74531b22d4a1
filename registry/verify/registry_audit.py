"""``verify --registry``: every license in the database, checked against the log, in bulk.

For an auditor, (1) the transparency log is recomputed and every checkpoint checked
(:func:`registry.tlog.audit.scan_log`); (2) every license row is reconciled with the log — its
sealing leaf must exist, be covered by a valid checkpoint and carry the license's dataHash, and
its status must be the one the log's last event gives; (3) every license is verified like a
bundle, with the log's checkpoint as proof of existence and the log's status at the validation
time (a version superseded by then is history: PASSED, "valid when issued; superseded by …",
:attr:`~registry.verify.report.VerificationReport.history`); (4) leaves whose license row is
gone are reported as RECORD_MISSING, and the log's own findings (changed leaves, checkpoints
that no longer match, forks) as reports of their own.

Speed: the database is read in chunks with plain Core selects; seals and certificates are
parsed once per seal; with ``workers`` the signature checks (one ECDSA verification each, the
bulk of the cost) run in that many processes while this one reads the next chunk.

Example::

    audit = audit_registry(engine, anchors=[root], at=now, crls=crls)
    failed = [r for r in audit.reports if r.indication is not Indication.PASSED]
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, Engine, String, func, select, type_coerce
from sqlalchemy.orm import Session

from registry.clock import china_text
from registry.db.models import License, Seal
from registry.i18n import _, current_language, set_language
from registry.tlog.audit import IdentifierHistory, LogFinding, LogScan, scan_log
from registry.tlog.checkpoint import CheckpointChecker
from registry.verify.core import Verifier
from registry.verify.evidence import LogEvidence
from registry.verify.report import (
    LOG_INCLUSION_FAILURE,
    LOG_NOT_CHECKPOINTED,
    NO_CERTIFICATE_CHAIN_FOUND,
    OUT_OF_BOUNDS_NO_POE,
    RECORD_MISSING,
    CheckStatus,
    Supersession,
    VerificationReport,
    license_status_text,
)

__all__ = ["PARALLEL_FROM", "RegistryAudit", "audit_registry"]

PARALLEL_FROM = 20_000
"""With ``workers=None``, registries this large are verified in worker processes."""
CHUNK = 2_500
"""Licenses per database read and per worker task."""

_UNDECIDED = frozenset({NO_CERTIFICATE_CHAIN_FOUND, OUT_OF_BOUNDS_NO_POE})
_FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)

Job = tuple[str, bytes, bytes, dt.datetime, bytes, int, str | None, "LogEvidence | int",
            "Supersession | None"]
"""(identifier, record, data hash, signed at, signature, seal id, status, log evidence,
supersession), the evidence of a license its log vouches for sent as just the checkpoint id
(see :func:`_chunk`), the supersession set for a version superseded at the validation time."""
Chunk = tuple[list[Job], dict[int, tuple[dt.datetime, str]]]
"""Jobs, and per checkpoint id: its time and the log_inclusion detail."""


@dataclass(frozen=True)
class RegistryAudit:
    """Everything ``verify --registry`` found."""

    reports: tuple[VerificationReport, ...]
    """One per license row (in id order), then one per license missing from the database,
    then one per finding about the log itself."""
    licenses: int
    """License rows verified."""
    log_size: int
    """Leaves covered by checkpoints."""
    log_pending: int
    """Leaves written since the last checkpoint."""
    checkpoints: int
    """Stored checkpoints (valid or not)."""
    valid_checkpoints: int
    """Checkpoints signed by a trusted log key whose root matches the leaves."""


# -- worker side ---------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _when(at: dt.datetime) -> str:
    return china_text(at, seconds=True)


def _state(
    anchor_ders: Sequence[bytes],
    crl_ders: Sequence[bytes],
    at: dt.datetime,
    seals: dict[int, tuple[bytes, bytes]],
) -> dict[str, Any]:
    verifier = Verifier(
        anchors=[x509.load_der_x509_certificate(d) for d in anchor_ders],
        at=at,
        crls=[x509.load_der_x509_crl(d) for d in crl_ders],
    )
    return {"verifier": verifier, "seals": seals}


def _init_worker(
    anchor_ders: Sequence[bytes],
    crl_ders: Sequence[bytes],
    at: dt.datetime,
    seals: dict[int, tuple[bytes, bytes]],
    lang: str,
) -> None:
    set_language(lang)  # a worker writes its reports in the auditor's language
    _STATE.update(_state(anchor_ders, crl_ders, at, seals))


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One connection reading one consistent snapshot: the log and the license rows must be
    seen as of the same moment, or a license sealed during the audit would look added outside
    the product."""
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with conn, conn.begin():
            yield conn
        return
    with engine.connect() as conn:
        # SQLite: pysqlite opens no transaction for reads; an explicit one pins the WAL
        # snapshot at its first read.
        conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


def _verify_jobs(chunk: Chunk) -> list[VerificationReport]:
    """(3) one chunk, in a worker process (its state set by :func:`_init_worker`)."""
    return _verify_with(_STATE, chunk)


def _verify_with(state: dict[str, Any], chunk: Chunk) -> list[VerificationReport]:
    """(3) one chunk: every license verified as its bundle would be."""
    jobs, checkpoints = chunk
    verify = state["verifier"].verify_parts
    seals: dict[int, tuple[bytes, bytes]] = state["seals"]
    reports = []
    for identifier, record, data_hash, signed_at, signature, seal_id, status, log, sup in jobs:
        seal_der, cert_der = seals[seal_id]
        if isinstance(log, int):  # main checked the leaf is this license's: rebuild cheaply
            poe, detail = checkpoints[log]
            log = LogEvidence.included(
                identifier=identifier, data_hash=data_hash, poe=poe, detail=detail
            )
        reports.append(verify(
            record, seal_der=seal_der, cert_der=cert_der, signed_at=signed_at,
            data_hash=data_hash, identifier=identifier, signature=signature,
            subject=identifier, status=status, log=log, superseded=sup,
        ))
    return reports


# -- reconciliation ------------------------------------------------------------------------


def _status_at(history: IdentifierHistory, when: dt.datetime,
               superseded_at: dt.datetime | None) -> str | None:
    status = history.status_at(when)
    if status == "VALID" and superseded_at is not None and superseded_at <= when:
        return "SUPERSEDED"  # a new version was sealed: the product marks the old one so
    return status


def _evidence(
    db_status: str,
    data_hash: bytes,
    history: IdentifierHistory | None,
    superseded_at: dt.datetime | None,
) -> LogEvidence | int:
    """(2) reconcile one license row with the log: a LogEvidence when the log objects or
    cannot say, else the id of the checkpoint that proves it (the worker builds the
    evidence from it)."""
    if history is None:
        return LogEvidence.failed(
            LOG_INCLUSION_FAILURE,
            _("no log leaf records this license: it was added to the database outside the "
              "product"),
        )
    if history.problem is not None:
        return LogEvidence.failed(LOG_INCLUSION_FAILURE, _("the log cannot vouch for it: {problem}",
                                                           problem=history.problem))
    sealing = history.sealing
    assert sealing is not None  # a readable, unchanged sealing leaf (else: a problem)
    if sealing.data_hash != data_hash:
        return LogEvidence.failed(
            LOG_INCLUSION_FAILURE,
            _("the log recorded dataHash {logged} when the license was sealed; the database "
              "holds {stored}: the license was changed outside the product",
              logged=sealing.data_hash.hex(), stored=data_hash.hex()),
        )
    logged = _status_at(history, _FAR_FUTURE, superseded_at)
    if logged != db_status:
        return LogEvidence.failed(
            LOG_INCLUSION_FAILURE,
            _("the database says {stored} but the log's events say {logged}: the status was "
              "changed outside the product", stored=license_status_text(db_status),
              logged=license_status_text(logged) if logged else _("none")),
        )
    if history.sealing_seq is None:
        return LogEvidence.undecided(
            LOG_NOT_CHECKPOINTED,
            _("its sealing leaf is in the log but no checkpoint covers it yet (run `licreg log "
              "checkpoint`)"),
        )
    cp = history.poe_checkpoint
    assert cp is not None  # no problem and sequenced: a valid checkpoint covers it
    assert cp.id is not None  # a stored checkpoint
    return cp.id


def _finding_report(finding: LogFinding, at: dt.datetime) -> VerificationReport:
    status = (CheckStatus.INDETERMINATE if finding.sub_indication in _UNDECIDED
              else CheckStatus.INVALID)
    return VerificationReport.finding(
        subject=finding.subject,
        identifier=finding.identifier,
        check="log_inclusion",
        status=status,
        reason=finding.sub_indication,
        detail=finding.detail,
        validation_time=at,
    )


def _missing_report(history: IdentifierHistory, at: dt.datetime) -> VerificationReport:
    where = (_("log leaf {seq}", seq=history.sealing_seq) if history.sealing_seq is not None
             else _("a pending log leaf"))
    return VerificationReport.finding(
        subject=history.identifier,
        identifier=history.identifier,
        check="integrity",
        status=CheckStatus.INVALID,
        reason=RECORD_MISSING,
        detail=(_("{where} records this license as sealed, but the database has no license "
                  "row for it: it was deleted outside the product", where=where)
                if history.sealing is None else
                _("{where} records this license as sealed on {time}, but the database has no "
                  "license row for it: it was deleted outside the product", where=where,
                  time=_when(history.sealing.time))),
        validation_time=at,
    )


# -- the audit -----------------------------------------------------------------------------


def _utc(value: dt.datetime | str, cache: dict[str, dt.datetime]) -> dt.datetime:
    """A stored time as an aware UTC datetime. Read as text (SQLite) it is parsed once per
    distinct value: the licenses of a chunk were sealed at one time."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    found = cache.get(value)
    if found is None:
        parsed = dt.datetime.fromisoformat(value)
        found = parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        cache[value] = found
    return found


def _chunks(
    conn: Connection,
    scan: LogScan,
    successors: dict[str, str],
    at: dt.datetime,
) -> Iterator[Chunk]:
    """(2) license rows in id order, chunk by chunk, each with its status and log evidence."""
    histories = scan.histories
    details = {
        cp.id: (cp.time, _("sealing leaf in checkpoint #{id} (size {size}, signed {signed})",
                           id=cp.id, size=cp.tree_size, signed=_when(cp.time)))
        for cp in scan.checkpoints
        if cp.id is not None
    }
    times: dict[str, dt.datetime] = {}
    columns = (
        License.id, License.identifier, License.record, License.data_hash,
        type_coerce(License.signed_at, String),  # text on SQLite: parsed once per value
        License.signature, License.seal_id, License.status,
    )
    last_id = 0
    while True:
        rows = conn.execute(
            select(*columns).where(License.id > last_id).order_by(License.id).limit(CHUNK)
        ).all()
        if not rows:
            return
        last_id = rows[-1][0]
        jobs: list[Job] = []
        used: dict[int, tuple[dt.datetime, str]] = {}
        for _row_id, identifier, record, data_hash, signed, signature, seal_id, status in rows:
            history = histories.get(identifier)
            superseded_at = None
            successor = successors.get(identifier)
            if successor is not None:
                succ = histories.get(successor)
                if succ is not None and succ.sealing is not None:
                    superseded_at = succ.sealing.time
            evidence = _evidence(status, data_hash, history, superseded_at)
            if isinstance(evidence, int):
                used[evidence] = details[evidence]
            if history is None or history.problem is not None:
                at_status: str | None = status  # the log cannot say: the database's word
            elif len(history.events) == 1 and superseded_at is None:
                first = history.events[0]
                at_status = first.status if first.time <= at else "NOT_ISSUED"
            else:
                at_status = _status_at(history, at, superseded_at) or "NOT_ISSUED"
            sup = (Supersession(successor, superseded_at)
                   if at_status == "SUPERSEDED" and successor and superseded_at else None)
            jobs.append((identifier, record, data_hash, _utc(signed, times), signature,
                         seal_id, at_status, evidence, sup))
        yield jobs, used


def audit_registry(
    engine: Engine,
    *,
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RegistryAudit:
    """Verify every license in the registry and reconcile the database with the log.

    ``workers``: processes for the signature checks (0: this process; None: one per CPU for
    registries of :data:`PARALLEL_FROM` licenses or more). ``progress(done, total)`` is told
    after each chunk of licenses verified.
    """
    tell = progress or (lambda _done, _total: None)
    if at.tzinfo is None:
        raise ValueError("the validation time must be an aware datetime")
    anchor_ders = [a.public_bytes(Encoding.DER) for a in anchors]
    crl_ders = [c.public_bytes(Encoding.DER) for c in crls]
    reports: list[VerificationReport] = []
    with _snapshot(engine) as conn:
        seals = {
            sid: (seal_der, cert_der)
            for sid, seal_der, cert_der in conn.execute(
                select(Seal.id, Seal.seal_der, Seal.cert_der))
        }
        successors: dict[str, str] = {
            str(pred): ident for ident, pred in conn.execute(
                select(License.identifier, License.predecessor)
                .where(License.predecessor.is_not(None)))
        }
        total = conn.execute(select(func.count()).select_from(License)).scalar() or 0
        if workers is None:
            workers = (os.cpu_count() or 1) if total >= PARALLEL_FROM else 0
        pool = None
        if workers > 0:
            # Started first: the workers import and build their Verifier while (1) runs here.
            pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(anchor_ders, crl_ders, at, seals, current_language()),
            )
        try:
            # (1) the log.
            with Session(bind=conn) as session:
                scan = scan_log(session, checker=CheckpointChecker(anchors))
            # (2), (3) reconcile and verify, a few chunks in flight so no worker waits.
            if pool is None:
                state = _state(anchor_ders, crl_ders, at, seals)
                for chunk in _chunks(conn, scan, successors, at):
                    reports.extend(_verify_with(state, chunk))
                    tell(len(reports), total)
            else:
                pending: deque[Future[list[VerificationReport]]] = deque()
                for chunk in _chunks(conn, scan, successors, at):
                    pending.append(pool.submit(_verify_jobs, chunk))
                    while len(pending) > 2 * workers:
                        reports.extend(pending.popleft().result())
                        tell(len(reports), total)
                while pending:
                    reports.extend(pending.popleft().result())
                    tell(len(reports), total)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    licenses = len(reports)
    # (4) licenses the log knows and the database lost, then the log's own findings.
    present = {r.subject for r in reports}
    for identifier, history in scan.histories.items():
        if identifier not in present:
            reports.append(_missing_report(history, at))
    reports.extend(_finding_report(f, at) for f in scan.findings)
    return RegistryAudit(
        reports=tuple(reports),
        licenses=licenses,
        log_size=scan.size,
        log_pending=scan.pending,
        checkpoints=len(scan.checkpoints),
        valid_checkpoints=scan.valid_checkpoints,
    )
