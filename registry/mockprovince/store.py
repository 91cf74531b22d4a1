"""The mock provincial platform's own database: licenses, held events, and its logs.

The platform is a separate system, so it has its own declarative base and its own SQLite file
(``<home>/province.db``, WAL mode); nothing here touches :mod:`registry.db.models`. A batch is
read with a few queries (:func:`lookup`, :func:`held_for`, :func:`successors_of`) and written
with executemany statements in one transaction (:func:`write_batch`), so a request of
thousands of items costs a handful of statements.

A license's SES_Signature is stored the way the registry stores it: its own fields, with the
SESeal and the signer certificate once per seal in ``blobs`` (a push of 100,000 licenses would
otherwise write the same 11 KB seal 100,000 times). :func:`get_license` reassembles the exact
DER.

>>> engine = open_store("sqlite://")
>>> with Session(engine) as session:
...     stats(session)["licenses"]
0
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Engine,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from registry.db import make_engine, table_of
from registry.db.models import UTCDateTime
from registry.license.codes import LICENSE_ROOT
from registry.province.wire import SignatureParts, WireItem, content_digest

__all__ = [
    "SUPERSEDED",
    "Blob",
    "HeldEvent",
    "ProvinceBase",
    "ReceivedLicense",
    "RefusedRequest",
    "RequestLog",
    "StatusUpdate",
    "StoredState",
    "UseLog",
    "UseLogItem",
    "content_digest",
    "digests",
    "get_license",
    "held_for",
    "lookup",
    "open_store",
    "stats",
    "storage_columns",
    "successors_of",
    "write_batch",
]

SUPERSEDED = "SUPERSEDED"
"""The platform's status of a version a later version (its ``associatedZZBS``) replaced."""


class ProvinceBase(DeclarativeBase):
    """The platform's tables (a separate metadata from the registry's)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        bytes: LargeBinary(),
    }


class ReceivedLicense(ProvinceBase):
    """One license version as the platform holds it (identifiers already include the version)."""

    __tablename__ = "received_licenses"
    __table_args__ = (
        Index("ix_received_holder", "holder_code", "type_code"),
        Index("ix_received_number", "type_code", "number"),
        Index("ix_received_predecessor", "predecessor"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(160), unique=True)
    """ZZBS."""
    version: Mapped[str] = mapped_column(String(3))
    predecessor: Mapped[str | None] = mapped_column(String(160))
    """associatedZZBS: the version this one replaces."""
    operate_type: Mapped[str] = mapped_column(String(2))
    """operateType of the last event applied."""
    cert_state: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    """Canonical status (VALID, SUSPENDED …) of ``cert_state``, or SUPERSEDED."""
    last_seq: Mapped[int | None] = mapped_column(Integer)
    """eventSeq of the last event applied: an older event is stale."""
    type_code: Mapped[str] = mapped_column(String(21))
    """ZZLXDM, for sharing queries."""
    number: Mapped[str] = mapped_column(String(100))
    """ZZBH, for face-data checks by type and number."""
    holder_code: Mapped[str] = mapped_column(String(40))
    """CZZTDM, for sharing queries by holder."""
    record: Mapped[bytes]
    """The signed bytes: RFC 8785 JSON of the elements."""
    seal_ref: Mapped[str | None] = mapped_column(String(64))
    cert_ref: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime | None]
    data_hash: Mapped[bytes | None]
    property_info: Mapped[str | None] = mapped_column(String(160))
    signature_value: Mapped[bytes | None]
    signature_der: Mapped[bytes | None]
    """The whole SES_Signature, kept only when it does not split into parts + blobs."""
    content_sha256: Mapped[str] = mapped_column(String(64))
    """:func:`content_digest` of the signed content: what "the same item" means."""
    access_id: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Blob(ProvinceBase):
    """A SESeal or certificate DER shared by many licenses, by SHA-256."""

    __tablename__ = "blobs"
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    der: Mapped[bytes]


class RequestLog(ProvinceBase):
    """One authenticated push request and what became of its items."""

    __tablename__ = "request_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    access_id: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime]
    items: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    detail: Mapped[list[Any] | None] = mapped_column(JSON)
    """One ``[ZZBS, version, eventSeq, operateType, result, code]`` per item, in order: who
    sent which event, and what became of it."""


class HeldEvent(ProvinceBase):
    """A status event for a version not received yet, applied when the version arrives."""

    __tablename__ = "held_events"
    __table_args__ = (Index("ix_held_identifier", "identifier", "resolved_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(160))
    seq: Mapped[int | None] = mapped_column(Integer)
    operate_type: Mapped[str] = mapped_column(String(2))
    cert_state: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    content_sha256: Mapped[str] = mapped_column(String(64))
    """Digest of the signed content the event came with: must equal the version's."""
    access_id: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    """APPLIED, STALE (a newer event was applied) or CONFLICT (other content)."""


class UseLog(ProvinceBase):
    """Every use of the sharing side (用证): caller, cause, time, what was asked, the answer."""

    __tablename__ = "use_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    access_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    """``query`` (by holder) or ``check`` (核验 face data)."""
    cause: Mapped[str] = mapped_column(String(200))
    """用证事由, as the caller stated it."""
    subject: Mapped[str] = mapped_column(String(200))
    """The holder code or identifier asked about."""
    result: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime]


class UseLogItem(ProvinceBase):
    """What one use delivered: each license a query returned or a 核验 compared, or, when it
    found none, the one row saying what was named (registry.mockprovince.uselog reads them)."""

    __tablename__ = "use_log_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    use_id: Mapped[int] = mapped_column(Integer, index=True)
    """The use (``use_log.id``)."""
    identifier: Mapped[str | None] = mapped_column(String(160))
    """ZZBS of the license served or compared; None when nothing was found."""
    type_code: Mapped[str | None] = mapped_column(String(21))
    """The license type: the license's, else the one the caller named."""
    department: Mapped[str | None] = mapped_column(String(18))
    """The issuing department's USCC (the issuer part of the identifier), when known."""
    outcome: Mapped[str] = mapped_column(String(20))
    """SERVED (a query returned it), EMPTY (a query returned nothing), MATCH, MISMATCH or
    NOT_FOUND (a 核验)."""


class RefusedRequest(ProvinceBase):
    """A request refused for missing or unknown credentials (HTTP 401)."""

    __tablename__ = "refused_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
    remote: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(200))
    access_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))


@dataclass(frozen=True)
class StoredState:
    """What the platform needs to know about a stored identifier to judge a new item."""

    content_sha256: str
    """Digest of the stored signed content."""
    status: str
    """Its current status."""
    cert_state: str = "01"
    operate_type: str = "01"
    last_seq: int | None = None
    """eventSeq of the last event applied."""


@dataclass(frozen=True)
class StatusUpdate:
    """The new status of a stored license version."""

    identifier: str
    """ZZBS of the stored version."""
    operate_type: str
    """operateType of the event that changed it."""
    cert_state: str
    status: str
    """Canonical status of ``cert_state``, or SUPERSEDED."""
    last_seq: int | None = None


def open_store(db_url: str) -> Engine:
    """An engine on the platform's database, tables created.

    ``create_all`` and no Alembic: this is a mock platform whose database is disposable.
    """
    engine = make_engine(db_url)
    ProvinceBase.metadata.create_all(engine)
    return engine


def _chunks(values: Sequence[str], size: int = 5000) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def lookup(session: Session, identifiers: Collection[str]) -> dict[str, StoredState]:
    """The stored state of those ``identifiers`` that are stored."""
    t = ReceivedLicense
    found: dict[str, StoredState] = {}
    for part in _chunks(sorted(set(identifiers))):
        rows = session.execute(
            select(
                t.identifier, t.content_sha256, t.status, t.cert_state, t.operate_type, t.last_seq
            ).where(t.identifier.in_(part))
        )
        for ident, digest, status, state, op, seq in rows:
            found[ident] = StoredState(digest, status, state, op, seq)
    return found


def successors_of(session: Session, identifiers: Collection[str]) -> dict[str, int | None]:
    """For those ``identifiers`` a stored version names as predecessor: the successor's
    last_seq (a version that arrives after its successor is stored as SUPERSEDED)."""
    t = ReceivedLicense
    found: dict[str, int | None] = {}
    for part in _chunks(sorted(set(identifiers))):
        for pred, seq in session.execute(
            select(t.predecessor, t.last_seq).where(t.predecessor.in_(part))
        ):
            found[str(pred)] = seq
    return found


def held_for(session: Session, identifiers: Collection[str]) -> dict[str, list[HeldEvent]]:
    """Unresolved held events of ``identifiers``, each list in arrival order."""
    found: dict[str, list[HeldEvent]] = {}
    for part in _chunks(sorted(set(identifiers))):
        rows = session.scalars(
            select(HeldEvent)
            .where(HeldEvent.identifier.in_(part), HeldEvent.resolved_at.is_(None))
            .order_by(HeldEvent.id)
        )
        for row in rows:
            found.setdefault(row.identifier, []).append(row)
    return found


_update_status = (
    update(table_of(ReceivedLicense))
    .where(table_of(ReceivedLicense).c.identifier == bindparam("b_identifier"))
    .values(
        operate_type=bindparam("b_operate_type"),
        cert_state=bindparam("b_cert_state"),
        status=bindparam("b_status"),
        last_seq=bindparam("b_last_seq"),
        updated_at=bindparam("b_at"),
    )
)
_resolve_held = (
    update(table_of(HeldEvent))
    .where(table_of(HeldEvent).c.id == bindparam("b_id"))
    .values(resolved_at=bindparam("b_at"), outcome=bindparam("b_outcome"))
)


def write_batch(
    session: Session,
    *,
    inserts: Sequence[Mapping[str, Any]],
    updates: Sequence[StatusUpdate],
    log: Mapping[str, Any],
    at: dt.datetime,
    blobs: Mapping[str, bytes] | None = None,
    held: Sequence[Mapping[str, Any]] = (),
    resolved: Sequence[tuple[int, str]] = (),
    replaced: Collection[str] = (),
) -> None:
    """Write one request's outcome: new versions, status changes, held events, the logs.

    ``inserts`` are column → value mappings of :class:`ReceivedLicense`, ``held`` of
    :class:`HeldEvent`, ``log`` of :class:`RequestLog`; ``resolved`` are (held event id,
    outcome); ``replaced`` identifiers are deleted before the inserts (repairs). Each kind is
    one executemany statement. The caller owns the transaction (one per
    request).
    """
    if blobs:
        known = set(session.scalars(select(Blob.ref).where(Blob.ref.in_(list(blobs)))))
        fresh = [{"ref": r, "der": d} for r, d in blobs.items() if r not in known]
        if fresh:
            session.execute(insert(table_of(Blob)), fresh)
    if replaced:  # a reconciliation's repair: the verified content replaces the stored one
        session.execute(
            delete(ReceivedLicense).where(ReceivedLicense.identifier.in_(list(replaced)))
        )
    if inserts:
        _insert_licenses(session, inserts)
    if updates:
        session.execute(
            _update_status,
            [
                {
                    "b_identifier": u.identifier,
                    "b_operate_type": u.operate_type,
                    "b_cert_state": u.cert_state,
                    "b_status": u.status,
                    "b_last_seq": u.last_seq,
                    "b_at": at,
                }
                for u in updates
            ],
        )
    if held:
        session.execute(insert(table_of(HeldEvent)), list(held))
    if resolved:
        session.execute(
            _resolve_held, [{"b_id": i, "b_at": at, "b_outcome": o} for i, o in resolved]
        )
    session.execute(insert(table_of(RequestLog)), [dict(log)])


_LICENSE_COLUMNS = tuple(c.name for c in table_of(ReceivedLicense).columns if c.name != "id")
_SQLITE_INSERT = str(
    insert(table_of(ReceivedLicense))
    .values({c: bindparam(c) for c in _LICENSE_COLUMNS})
    .compile(dialect=sqlite.dialect())
)
"""The insert as SQLite's driver takes it: ``?`` placeholders in ``_LICENSE_COLUMNS`` order."""


def _sqlite_time(value: dt.datetime) -> str:
    # The text SQLAlchemy's SQLite DATETIME writes and reads back (UTCDateTime adds the UTC).
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _insert_licenses(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """One executemany of new versions. On SQLite straight through the driver: SQLAlchemy's
    per-row type processing cost more than the insert itself at thousands of rows a batch."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table_of(ReceivedLicense)), list(rows))
        return
    times: dict[dt.datetime, str] = {}

    def value(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            text = times.get(v)
            if text is None:
                text = times[v] = _sqlite_time(v)
            return text
        return v

    conn.exec_driver_sql(
        _SQLITE_INSERT, [tuple(value(row[c]) for c in _LICENSE_COLUMNS) for row in rows]
    )


def storage_columns(item: WireItem, record: bytes) -> dict[str, Any]:
    """How one item's signature is stored: its parts (the blobs apart), or the whole DER when
    it does not split."""
    parts = item.parts
    if parts is None:
        return {"record": record, "seal_ref": None, "cert_ref": None, "signed_at": None,
                "data_hash": None, "property_info": None, "signature_value": None,
                "signature_der": item.signature}  # fmt: skip
    return {"record": record, "seal_ref": parts.seal_ref, "cert_ref": parts.cert_ref,
            "signed_at": parts.signed_at, "data_hash": parts.data_hash,
            "property_info": parts.property_info, "signature_value": parts.value,
            "signature_der": None}  # fmt: skip


def _signature_der(session: Session, row: ReceivedLicense) -> bytes:
    if row.signature_der is not None:
        return row.signature_der
    seal, cert, signed_at = row.seal_ref, row.cert_ref, row.signed_at
    data_hash, prop, value = row.data_hash, row.property_info, row.signature_value
    if seal is None or cert is None or signed_at is None or data_hash is None or prop is None \
            or value is None:  # fmt: skip
        raise ValueError(f"stored license {row.identifier} has neither a DER nor its parts")
    refs = (seal, cert)
    blobs = {b.ref: b.der for b in session.scalars(select(Blob).where(Blob.ref.in_(refs)))}
    parts = SignatureParts(seal, cert, signed_at, data_hash, prop, value)
    return parts.der(blobs)


def stats(session: Session, *, detail: bool = False) -> dict[str, Any]:
    """Counts for ``GET /stats``: license versions stored, by status, requests, rejected items.

    ``detail`` adds held events, uses of the sharing side and refused requests.
    """
    by_status: dict[str, int] = {
        status: n
        for status, n in session.execute(
            select(ReceivedLicense.status, func.count()).group_by(ReceivedLicense.status)
        )
    }
    requests, rejected = session.execute(
        select(func.count(), func.coalesce(func.sum(RequestLog.rejected), 0))
    ).one()
    out: dict[str, Any] = {
        "licenses": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "requests": requests,
        "rejected_items": rejected,
    }
    if detail:
        out["held"] = session.scalar(
            select(func.count()).select_from(HeldEvent).where(HeldEvent.resolved_at.is_(None))
        )
        out["items_received"] = session.scalar(select(func.coalesce(func.sum(RequestLog.items),
                                                                     0)))  # fmt: skip
        out["uses"] = session.scalar(select(func.count()).select_from(UseLog))
        out["refused_requests"] = session.scalar(select(func.count()).select_from(RefusedRequest))
    return out


def get_license(session: Session, identifier: str) -> dict[str, Any] | None:
    """The stored item in wire form (plus status and times), or None."""
    row = session.scalars(
        select(ReceivedLicense).where(ReceivedLicense.identifier == identifier)
    ).one_or_none()
    if row is None:
        return None
    return {
        "operateType": row.operate_type,
        "certState": row.cert_state,
        "ZZBS": row.identifier,
        "version": row.version,
        "associatedZZBS": row.predecessor,
        "elements": json.loads(row.record),
        "signature": base64.b64encode(_signature_der(session, row)).decode("ascii"),
        "status": row.status,
        "eventSeq": row.last_seq,
        "receivedAt": row.received_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }


def digests(
    session: Session,
    *,
    after: str = "",
    limit: int = 5000,
    departments: Collection[str] | None = None,
    division_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """A page of (identifier, version, status, digest, eventSeq), in identifier order.

    With ``departments`` (USCCs) or ``division_prefix`` (of their USCC, ``""`` every one),
    only the licenses those departments issued, as their identifiers name them.
    """
    t = ReceivedLicense
    query = select(t.identifier, t.version, t.status, t.content_sha256, t.last_seq)
    if division_prefix != "":
        # GB/T 36904: the issuer's USCC follows the root and the 21-character type code
        at = len(LICENSE_ROOT) + 1 + 21 + 1 + 1  # 1-based
        issuer = func.substr(t.identifier, at, 18)
        region = func.substr(t.identifier, at + 2, len(division_prefix or ""))
        query = query.where(or_(
            issuer.in_(sorted(departments or ())) if departments else false(),
            region == division_prefix if division_prefix is not None else false(),
        ))  # fmt: skip
    rows = session.execute(
        query.where(t.identifier > after).order_by(t.identifier).limit(limit)
    )
    return [
        {"ZZBS": i, "version": v, "status": s, "digest": d, "eventSeq": q}
        for i, v, s, d, q in rows
    ]
