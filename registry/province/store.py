"""The mock provincial platform's own database: received licenses and a request log.

The platform is a separate system, so it has its own declarative base and its own SQLite file
(``<home>/province.db``, WAL mode); nothing here touches :mod:`registry.models`. A batch is
read with one query (:func:`lookup`) and written with executemany statements in one
transaction (:func:`write_batch`), so a request of thousands of items costs a handful of
statements.

>>> engine = open_store("sqlite://")
>>> with Session(engine) as session:
...     stats(session)["licenses"]
0
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Engine,
    Integer,
    LargeBinary,
    String,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from registry.db import make_engine
from registry.models import UTCDateTime

__all__ = [
    "ProvinceBase",
    "ReceivedLicense",
    "RequestLog",
    "StatusUpdate",
    "StoredState",
    "content_digest",
    "get_license",
    "lookup",
    "open_store",
    "stats",
    "write_batch",
]


class ProvinceBase(DeclarativeBase):
    """The platform's tables (a separate metadata from the registry's)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        bytes: LargeBinary(),
    }


class ReceivedLicense(ProvinceBase):
    """One license version as the platform holds it (identifiers already include the version)."""

    __tablename__ = "received_licenses"
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
    """Canonical status (VALID, SUSPENDED …) of ``cert_state``."""
    elements: Mapped[dict[str, Any]]
    record: Mapped[bytes]
    """The signed bytes: RFC 8785 JSON of ``elements``."""
    signature: Mapped[bytes]
    """The SES_Signature DER."""
    content_sha256: Mapped[str] = mapped_column(String(64))
    """:func:`content_digest` of the signed content: what "the same item" means."""
    access_id: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


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


@dataclass(frozen=True)
class StoredState:
    """What the platform needs to know about a stored identifier to judge a new item."""

    content_sha256: str
    """Digest of the stored signed content."""
    status: str
    """Its current canonical status."""


@dataclass(frozen=True)
class StatusUpdate:
    """A status change of a stored license version."""

    identifier: str
    """ZZBS of the stored version."""
    operate_type: str
    """operateType of the event that changed it."""
    cert_state: str
    status: str
    """Canonical status of ``cert_state``."""


def open_store(db_url: str) -> Engine:
    """An engine on the platform's database, tables created.

    ``create_all`` and no Alembic: this is a mock platform whose database is disposable.
    """
    engine = make_engine(db_url)
    ProvinceBase.metadata.create_all(engine)
    return engine


def content_digest(record: bytes, signature: bytes, predecessor: str | None) -> str:
    """SHA-256 over the signed content of an item: record, signature DER and predecessor.

    Status fields are left out on purpose: a status change of a stored version is an update,
    not a conflict. Each part is length-prefixed so no two contents share a digest.
    """
    h = hashlib.sha256()
    for part in (record, signature, (predecessor or "").encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def lookup(session: Session, identifiers: Collection[str]) -> dict[str, StoredState]:
    """The stored state of those ``identifiers`` that are stored, in one query."""
    if not identifiers:
        return {}
    rows = session.execute(
        select(
            ReceivedLicense.identifier, ReceivedLicense.content_sha256, ReceivedLicense.status
        ).where(ReceivedLicense.identifier.in_(set(identifiers)))
    )
    return {ident: StoredState(digest, status) for ident, digest, status in rows}


_update_status = (
    update(ReceivedLicense.__table__)
    .where(ReceivedLicense.__table__.c.identifier == bindparam("b_identifier"))
    .values(
        operate_type=bindparam("b_operate_type"),
        cert_state=bindparam("b_cert_state"),
        status=bindparam("b_status"),
        updated_at=bindparam("b_at"),
    )
)


def write_batch(
    session: Session,
    *,
    inserts: Sequence[Mapping[str, Any]],
    updates: Sequence[StatusUpdate],
    log: Mapping[str, Any],
    at: dt.datetime,
) -> None:
    """Write one request's outcome: new versions, status changes and the log row.

    ``inserts`` are column → value mappings of :class:`ReceivedLicense`; each kind is one
    executemany statement. The caller owns the transaction (one per request).
    """
    if inserts:
        session.execute(insert(ReceivedLicense.__table__), list(inserts))
    if updates:
        session.execute(
            _update_status,
            [
                {
                    "b_identifier": u.identifier,
                    "b_operate_type": u.operate_type,
                    "b_cert_state": u.cert_state,
                    "b_status": u.status,
                    "b_at": at,
                }
                for u in updates
            ],
        )
    session.execute(insert(RequestLog.__table__), [dict(log)])


def stats(session: Session) -> dict[str, Any]:
    """Counts for ``GET /stats``: license versions stored, by status, requests, rejected items."""
    by_status: dict[str, int] = {
        status: n
        for status, n in session.execute(
            select(ReceivedLicense.status, func.count()).group_by(ReceivedLicense.status)
        )
    }
    requests, rejected = session.execute(
        select(func.count(), func.coalesce(func.sum(RequestLog.rejected), 0))
    ).one()
    return {
        "licenses": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "requests": requests,
        "rejected_items": rejected,
    }


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
        "elements": row.elements,
        "signature": base64.b64encode(row.signature).decode("ascii"),
        "status": row.status,
        "receivedAt": row.received_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }
