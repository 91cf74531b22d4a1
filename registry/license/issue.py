"""Issue: structure, seal and store judged rows as license versions, in one transaction.

For each accepted :class:`~registry.license.model.JudgedRow` (step numbers match DESIGN.md
"the path of one license"):

1. structure — elements from the row, issuer and type (:func:`build_elements`);
2. compare with the registry — a row whose type + 证照编号 is already registered is a no-op when
   its elements are identical and a new version (predecessor linked, 变更) when they differ.
   A chunk may be compared (in a worker) before another batch of the type stores the same
   numbers: :func:`store_judged` compares it again under the type's lock
   (:func:`lock_type`) and judges the rows whose registered version changed meanwhile anew,
   so concurrent batches end as if one had run after the other;
3. identify — GB/T 36904 identifier for the version (:func:`with_identifier`; its serial is
   :func:`serial_for` the type and 证照编号, so a new version differs only in its version);
4. seal — RFC 8785 bytes, SHA-256, SES_Signature over them
   (:class:`~registry.seal.signature.SealingContext`): a :class:`SealedLicense`;
5. store — licenses, their outbox events and log leaves and every source row, each table with
   one driver executemany (:func:`registry.db.bulk_insert`).

Who issues and with what is worked out once, by :func:`issuing`: the department's published
template for the type and the active seal bound to it.

>>> issuer, seal = issuing(session, department=dept, license_type=lt, at=now)  # doctest: +SKIP
>>> context = sealing_context(SealMaterial.of(seal, keystore=ks, passphrase=pw))  # doctest: +SKIP
>>> issue_rows(session, judged_rows, issuer, context, at=now).issued  # doctest: +SKIP
30

The caller owns the transaction: one commit per chunk, so one bad chunk never rolls back the
ones before it and a crash resumes after the last committed line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db import bulk_insert, json_text, lock_key, table_of, transaction_lock
from registry.db.models import Department, License, Seal, SourceRow
from registry.ingest.messages import NOTES, reason, text
from registry.license.canonical import canonical_bytes
from registry.license.codes import HOLDER_TYPE_NAMES, license_identifier
from registry.license.events import OP_CHANGE, OP_NEW, LicenseEvent, record_events
from registry.license.model import JudgedRow, Reason, RowResult, SealedLicense
from registry.license.types import LicenseType
from registry.seal.queries import SealMaterial, active_seal_for, sealing_context
from registry.seal.signature import SealingContext
from registry.template.lifecycle import published_template

__all__ = [
    "IDENTITY_FREE",
    "LICENSE_COLUMNS",
    "ChunkResult",
    "IssueTarget",
    "Issuer",
    "PreparedChunk",
    "build_elements",
    "current_versions",
    "issue_rows",
    "issue_version",
    "issuing",
    "lock_type",
    "next_version",
    "prepare_rows",
    "rejudged",
    "seal_license",
    "serial_for",
    "store_judged",
    "store_prepared",
    "with_identifier",
]


# -- 1 and 3: structure and identify --------------------------------------------------------------

IDENTITY_FREE = ("ZZBS",)
"""Elements that differ between versions of the same license by construction."""


@dataclass(frozen=True)
class Issuer:
    """The issuing department as it appears in a license."""

    name: str
    """证照颁发机构 (ZZBFJG)."""
    uscc: str
    """证照颁发机构代码 (ZZBFJGDM), also the issuer part of the identifier."""


def serial_for(type_code: str, number: str) -> str:
    """The identifier's 流水号: 20 uppercase hex characters of SHA-256(type code, 证照编号).

    Deterministic, so the same license number of the same type always maps to the same serial
    and a re-issue differs only in its version (STANDARDS.md §1.2 lets the issuer choose).
    """
    digest = hashlib.sha256(f"{type_code}\x1f{number}".encode()).hexdigest()
    return digest[:20].upper()


def next_version(version: str) -> str:
    """``001`` → ``002``."""
    return f"{int(version) + 1:03d}"


def build_elements(row: Mapping[str, Any], lt: LicenseType, issuer: Issuer) -> dict[str, str]:
    """The license's elements (without ZZBS) from a normalized, accepted row.

    ``row`` holds element codes → normalized strings (dates as yyyyMMdd) and ``CZZTDMLXDM``.
    Empty optional elements are left out; derived elements come from the type and the issuer.
    """
    holder_type = str(row["CZZTDMLXDM"])
    elements: dict[str, str] = {
        "ZZMC": str(row.get("ZZMC") or lt.name),
        "ZZLXDM": lt.code,
        "ZZBFJG": issuer.name,
        "ZZBFJGDM": issuer.uscc,
        "CZZTDMLX": HOLDER_TYPE_NAMES[holder_type],
        "CZZTDMLXDM": holder_type,
    }
    for e in lt.elements:
        if e.derived or e.code == "ZZMC":
            continue
        value = row.get(e.code)
        if value is not None and value != "":
            elements[e.code] = str(value)
    return elements


def with_identifier(elements: Mapping[str, str], version: str = "001") -> dict[str, str]:
    """``elements`` plus ZZBS for ``version``."""
    identifier = license_identifier(
        elements["ZZLXDM"],
        elements["ZZBFJGDM"],
        serial_for(elements["ZZLXDM"], elements["ZZBH"]),
        version,
    )
    return {**elements, "ZZBS": identifier}


# -- who issues ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueTarget:
    """What every license of a chunk shares: who issues it, which type, template and seal."""

    license_type: LicenseType
    issuer: Issuer
    department_id: int
    template_id: int
    seal_id: int
    batch_id: int | None


def issuing(
    session: Session, *, department: Department, license_type: LicenseType, at: dt.datetime,
    batch_id: int | None = None,
) -> tuple[IssueTarget, Seal]:
    """Who issues ``license_type`` for ``department`` at ``at``, and the seal that stamps it:
    the department's newest published template and its bound seal, checked usable for the
    type at that time (raises naming what is missing)."""
    template = published_template(session, type_code=license_type.code,
                                  department_id=department.id)
    assert template.seal_id is not None  # published_template guarantees a bound seal
    seal = active_seal_for(session, template.seal_id, license_type.code, at=at)
    target = IssueTarget(license_type=license_type, issuer=Issuer(department.name, department.uscc),
                         department_id=department.id, template_id=template.id, seal_id=seal.id,
                         batch_id=batch_id)
    return target, seal


@dataclass(frozen=True)
class ChunkResult:
    """Counts for one chunk, plus one :class:`RowResult` per row."""

    accepted: int
    filtered: int
    rejected: int
    issued: int
    """New licenses and new versions sealed (accepted minus unchanged re-submissions)."""
    rows: tuple[RowResult, ...]


Registered = tuple[str, str, bytes]
"""(identifier, version, record) of a license's newest registered version."""


def _without_identity(elements: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in elements.items() if k not in IDENTITY_FREE}


def current_versions(
    session: Session, type_code: str, numbers: Sequence[str]
) -> dict[str, Registered]:
    """证照编号 → (identifier, version, record) of the newest registered version."""
    found: dict[str, Registered] = {}
    wanted = sorted({n for n in numbers if n})
    for start in range(0, len(wanted), 900):  # stay under SQLite's bound-parameter limit
        rows = session.execute(
            select(License.number, License.identifier, License.version, License.record).where(
                License.type_code == type_code, License.number.in_(wanted[start : start + 900])
            )
        )
        for number, identifier, version, record in rows:
            if number not in found or version > found[number][1]:
                found[number] = (identifier, version, record)
    return found


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk structured and sealed, ready to store: steps 1–4, no database touched."""

    licenses: list[SealedLicense]
    operate_types: list[str]
    """The event of each license (新发 or 变更)."""
    rows: tuple[RowResult, ...]
    """What became of every row of the chunk (none for a license issued without a file)."""
    judged: Sequence[JudgedRow]
    """The rows themselves: their original cells and 证照编号 are stored with their results."""
    accepted: int
    existing: Mapping[str, Registered] = field(default_factory=dict)
    """What the rows were compared with (:func:`current_versions` when they were prepared)."""


def seal_license(
    elements: Mapping[str, str],
    version: str,
    predecessor: str | None,
    target: IssueTarget,
    sealing: SealingContext,
    *,
    signed_at: dt.datetime,
    at: dt.datetime,
) -> SealedLicense:
    """Steps 3–4 for one license version: its identifier, exact record, hash and signature."""
    elements = with_identifier(elements, version)
    record = canonical_bytes(elements)
    identifier = elements["ZZBS"]
    data_hash = hashlib.sha256(record).digest()
    return SealedLicense(
        identifier, target.license_type.code, target.department_id, elements["ZZBH"],
        elements["CZZTDM"], version, predecessor, "VALID", elements["ZZYXQJZRQ"], record,
        data_hash, target.seal_id, target.template_id, signed_at,
        sealing.sign(data_hash, signed_at, identifier), target.batch_id, at)


def prepare_rows(
    judged: Sequence[JudgedRow],
    target: IssueTarget,
    sealing: SealingContext,
    existing: Mapping[str, Registered],
    *,
    at: dt.datetime,
) -> PreparedChunk:
    """Steps 1–4 for one judged chunk. Pure CPU work, so it can run in a worker process.

    ``existing`` is :func:`current_versions` for the chunk's numbers.
    """
    signed_at = at.replace(microsecond=0)
    lt = target.license_type
    registered = dict(existing)
    licenses: list[SealedLicense] = []
    events: list[str] = []
    identifier_of: dict[int, str] = {}
    notes: dict[int, Reason] = {}
    accepted = 0
    for row in judged:
        if row.elements is None:
            continue
        accepted += 1
        elements = build_elements(row.elements, lt, target.issuer)
        version, predecessor, op = "001", None, OP_NEW
        prior = registered.get(elements["ZZBH"])
        if prior is not None:
            prior_id, prior_version, prior_record = prior
            if _without_identity(json.loads(prior_record)) == elements:
                identifier_of[row.line] = prior_id
                notes[row.line] = reason("UNCHANGED", None,
                                         text(NOTES["UNCHANGED"], identifier=prior_id))
                continue
            version, predecessor, op = next_version(prior_version), prior_id, OP_CHANGE
        lic = seal_license(elements, version, predecessor, target, sealing,
                           signed_at=signed_at, at=at)
        identifier_of[row.line] = lic.identifier
        if predecessor:
            notes[row.line] = reason("CHANGED", None,
                                     text(NOTES["CHANGED"], predecessor=predecessor))
        licenses.append(lic)
        events.append(op)
        registered[lic.number] = (lic.identifier, version, lic.record)

    results = tuple(
        RowResult(row.line, row.outcome,
                  row.reasons + ((notes[row.line],) if row.line in notes else ()),
                  identifier_of.get(row.line))
        for row in judged
    )
    return PreparedChunk(licenses=licenses, operate_types=events, rows=results, judged=judged,
                         accepted=accepted, existing=existing)


def lock_type(session: Session, type_code: str) -> None:
    """Wait for, then hold to the end of the transaction, the right to compare rows of
    ``type_code`` with the registry and store what came of them (step 2 and step 5 as one):
    a transaction-scoped advisory lock on PostgreSQL, the write lock on SQLite."""
    transaction_lock(session, lock_key(f"licenses\x1f{type_code}"), table_of(License))


def rejudged(
    session: Session,
    prepared: PreparedChunk,
    target: IssueTarget,
    sealing: Callable[[], SealingContext],
    *,
    at: dt.datetime,
) -> PreparedChunk:
    """``prepared`` compared again with the registry as it is now (call it under
    :func:`lock_type`): the rows whose 证照编号 got a new registered version since they were
    prepared (another batch stored it meanwhile) are structured and sealed again, as a run
    after that batch would; the others are kept as they are. ``sealing`` is called only then.
    """
    numbers = [row.number for row in prepared.judged if row.elements is not None and row.number]
    now = current_versions(session, target.license_type.code, numbers)
    stale = {n for n in numbers if now.get(n) != prepared.existing.get(n)}
    if not stale:
        return prepared
    again = prepare_rows([row for row in prepared.judged if row.number in stale], target,
                         sealing(), now, at=at)
    kept = [(lic, op) for lic, op in zip(prepared.licenses, prepared.operate_types, strict=True)
            if lic.number not in stale]
    redone = {r.line: r for r in again.rows}
    return PreparedChunk(
        licenses=[lic for lic, _op in kept] + again.licenses,
        operate_types=[op for _lic, op in kept] + again.operate_types,
        rows=tuple(redone.get(r.line, r) for r in prepared.rows), judged=prepared.judged,
        accepted=prepared.accepted, existing=now)


def store_judged(
    session: Session,
    prepared: PreparedChunk,
    target: IssueTarget,
    sealing: Callable[[], SealingContext],
    *,
    at: dt.datetime,
) -> ChunkResult:
    """Step 5 for rows judged against the registry earlier, maybe in another process: under
    the type's lock, :func:`rejudged`, then :func:`store_prepared`."""
    lock_type(session, target.license_type.code)
    return store_prepared(session, rejudged(session, prepared, target, sealing, at=at),
                          target, at=at)


LICENSE_COLUMNS = tuple(c.name for c in table_of(License).c if c.name != "id")
"""Every column of ``licenses`` but its key, in table order: a :class:`SealedLicense`'s
fields."""
if SealedLicense._fields != LICENSE_COLUMNS:  # pragma: no cover - caught by any import
    raise RuntimeError(f"SealedLicense fields {SealedLicense._fields} are not the columns of "
                       f"licenses {LICENSE_COLUMNS}")
SOURCE_COLUMNS = ("batch_id", "line", "raw", "outcome", "reasons", "identifier", "number")
_NO_REASONS = json_text({"reasons": []})  # most rows: encode it once


def store_prepared(
    session: Session, prepared: PreparedChunk, target: IssueTarget, *, at: dt.datetime
) -> ChunkResult:
    """Step 5: licenses, their events and every source row, one bulk insert per table."""
    licenses = prepared.licenses
    conn = session.connection()
    if licenses:
        bulk_insert(conn, table_of(License), LICENSE_COLUMNS, licenses)
        id_of = _license_ids(conn, [lic.identifier for lic in licenses])
        events = [
            LicenseEvent(id_of[lic.identifier], lic.identifier, op, "VALID", lic.data_hash)
            for op, lic in zip(prepared.operate_types, licenses, strict=True)
        ]
        superseded = [lic.predecessor for lic in licenses if lic.predecessor]
        if superseded:
            # The older version's status change is logged too; the province learns it from
            # the new version, which names its predecessor, so it is not pushed on its own.
            old = session.execute(select(License.id, License.identifier, License.data_hash)
                                  .where(License.identifier.in_(superseded))).all()
            session.execute(update(License).where(License.identifier.in_(superseded))
                            .values(status="SUPERSEDED"))
            events += [LicenseEvent(license_id=i, identifier=ident, operate_type=OP_CHANGE,
                                    status="SUPERSEDED", data_hash=h, pushed=False)
                       for i, ident, h in old]
        record_events(session, events, at=at)
    results = prepared.rows
    if target.batch_id is not None:
        bulk_insert(conn, table_of(SourceRow), SOURCE_COLUMNS, [
            (target.batch_id, r.line, json_text(row.raw), r.outcome,
             json_text({"reasons": r.reasons}) if r.reasons else _NO_REASONS, r.identifier,
             row.number)
            for r, row in zip(results, prepared.judged, strict=True)
        ])
    return ChunkResult(
        accepted=prepared.accepted,
        filtered=sum(r.outcome == "filtered" for r in results),
        rejected=sum(r.outcome == "rejected" for r in results),
        issued=len(licenses),
        rows=results,
    )


def _license_ids(conn: Connection, identifiers: Sequence[str]) -> dict[str, int]:
    """The ids the database gave the licenses just inserted, in insertion order (an
    executemany cannot return them: SQLite would run a RETURNING insert row by row)."""
    if conn.dialect.name == "sqlite":
        # SQLite gives an INTEGER PRIMARY KEY max(id) + 1, row after row, and this transaction
        # holds the write lock: the chunk's ids are the last ones. Looking each identifier up
        # instead read back a random page of its index per license.
        last = conn.execute(select(func.max(License.id))).scalar_one()
        return dict(zip(identifiers, range(last - len(identifiers) + 1, last + 1), strict=True))
    id_of: dict[str, int] = {}
    for start in range(0, len(identifiers), 900):  # SQLite's bound-parameter limit
        id_of.update(conn.execute(select(License.identifier, License.id).where(
            License.identifier.in_(identifiers[start : start + 900]))).all())
    return id_of


def issue_rows(
    session: Session,
    judged: Sequence[JudgedRow],
    target: IssueTarget,
    sealing: SealingContext,
    *,
    at: dt.datetime,
) -> ChunkResult:
    """Steps 1–5 for one judged chunk in the caller's transaction, under the type's lock;
    every row recorded."""
    lock_type(session, target.license_type.code)
    numbers = [row.number for row in judged if row.elements is not None and row.number]
    existing = current_versions(session, target.license_type.code, numbers)
    prepared = prepare_rows(judged, target, sealing, existing, at=at)
    return store_prepared(session, prepared, target, at=at)


def issue_version(
    session: Session,
    settings: Settings,
    elements: Mapping[str, str],
    *,
    department: Department,
    license_type: LicenseType,
    version: str,
    predecessor: str | None,
    operate_type: str,
    at: dt.datetime,
) -> SealedLicense:
    """Seal and store one version issued without a file (a change, a renewal, a transfer in)
    with the department's published template and seal, and its event; the lifecycle records
    its history."""
    target, seal = issuing(session, department=department, license_type=license_type, at=at)
    sealing = sealing_context(SealMaterial.of(seal, keystore=settings.keystore,
                                              passphrase=settings.require_passphrase()))
    lic = seal_license(elements, version, predecessor, target, sealing,
                       signed_at=at.replace(microsecond=0), at=at)
    prepared = PreparedChunk(licenses=[lic], operate_types=[operate_type], rows=(), judged=(),
                             accepted=1)
    store_prepared(session, prepared, target, at=at)
    return lic
