"""The registry's tables: typed SQLAlchemy 2 models on one declarative base.

A license's path through these tables::

    StoredFile ─┐
                Batch ── SourceRow (one per row read: accepted / filtered / rejected)
                  │            │
    Department ── Seal ── License (elements, canonical bytes, signature) ── OutboxEvent
         │          │        │
    LicenseType ── Template ─┘

Bulk paths insert with Core ``insert()`` over lists of dicts; the ORM classes are for reading
and for the few-row administrative operations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Batch",
    "BatchReasonCount",
    "City",
    "Department",
    "DepartmentType",
    "License",
    "LicenseTypeRow",
    "OutboxEvent",
    "Seal",
    "SealAuthorization",
    "SourceRow",
    "StepRecord",
    "StoredFile",
    "Template",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it once, at class creation
        dt.datetime: UTCDateTime(), dict[str, Any]: JSON(), bytes: LargeBinary()}


class StepRecord:
    """What every step of a life records (seal_events, template_events): the status it
    left and reached, who did it, when and why, and the step's own facts."""

    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Step-specific facts: authorized types and period, new esID, revocation time …"""


class Department(Base):
    """An issuing body (证照颁发机构)."""

    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    """18-character 统一社会信用代码, also the issuer code in identifiers."""
    division_code: Mapped[str] = mapped_column(String(6))
    """GB/T 2260 administrative division (e.g. 330100)."""
    short_name: Mapped[str | None] = mapped_column(String(50))
    """What people call it (市场监管局), for tables and charts."""
    types: Mapped[list[DepartmentType]] = relationship(back_populates="department")


class City(Base):
    """The city this registry serves (one row): its GB/T 2260 division and name."""

    __tablename__ = "cities"
    division_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    """GB/T 2260 administrative division code of the city (e.g. 330100)."""
    name: Mapped[str] = mapped_column(String(100))
    """The city's name, e.g. 示范市."""


class LicenseTypeRow(Base):
    """A license type this registry issues, with its whole document
    (:mod:`registry.license.types`)."""

    __tablename__ = "license_types"
    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    authority_name: Mapped[str] = mapped_column(String(200))
    authority_code: Mapped[str] = mapped_column(String(18))
    schema_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of ``schema`` canonically serialized (templates pin it)."""
    schema: Mapped[dict[str, Any] | None]
    """The type's document: face fields, validity rules, PDF text patterns, default layout."""


class DepartmentType(Base):
    """Which license types a department may issue."""

    __tablename__ = "department_types"
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("license_types.code"), primary_key=True)
    department: Mapped[Department] = relationship(back_populates="types")


class Seal(Base):
    """A department's electronic seal (电子印章): its SESeal and signer certificate."""

    __tablename__ = "seals"
    id: Mapped[int] = mapped_column(primary_key=True)
    es_id: Mapped[str] = mapped_column(String(64), unique=True)
    """The SESeal's esID."""
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[int] = mapped_column(Integer)
    """SES_ESPropertyInfo.type (seal kind code)."""
    status: Mapped[str] = mapped_column(String(20))
    """made / filed / active / suspended / lost / cancelled (registry.seal.lifecycle). A seal
    row exists from its making on; the application before it is a SealApplication."""
    key_file: Mapped[str] = mapped_column(String(300))
    """Keystore-relative path of the signer's encrypted PKCS#8 key."""
    cert_der: Mapped[bytes]
    """The signer certificate (DER)."""
    seal_der: Mapped[bytes]
    """The SESeal (DER), signed by the seal-maker CA."""
    valid_start: Mapped[dt.datetime]
    valid_end: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    """When the signer certificate was revoked in the seal-maker CA's CRL (lost, cancelled)."""
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    """The CRL reason (RFC 5280 ReasonFlags value, e.g. keyCompromise)."""
    department: Mapped[Department] = relationship()
    authorizations: Mapped[list[SealAuthorization]] = relationship(back_populates="seal")


class SealAuthorization(Base):
    """A seal's authorization (授权) to seal one license type for a period."""

    __tablename__ = "seal_authorizations"
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("license_types.code"), primary_key=True)
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime]
    seal: Mapped[Seal] = relationship(back_populates="authorizations")


class Template(Base):
    """A license-type template version, bound to the seal that stamps it."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("type_code", "department_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("license_types.code"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    """made / bound / published / retired."""
    seal_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"))
    schema_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    layout: Mapped[dict[str, Any] | None]
    """The page layout (schemas/template-layout.schema.json); None on templates made before
    layouts existed: registry.template.lifecycle.layout_of falls back to
    the license type's default layout."""
    numbering: Mapped[dict[str, Any] | None]
    """The 证照编号 numbering rule (registry.template.numbering); None: the department assigns
    numbers."""


class StoredFile(Base):
    """An uploaded department file, stored content-addressed under ``files/``."""

    __tablename__ = "stored_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    original_name: Mapped[str] = mapped_column(String(500))
    uploader: Mapped[str] = mapped_column(String(200))
    stored_at: Mapped[dt.datetime]


class Batch(Base):
    """One attempt at ingesting one file for one department and license type, read one way
    (its options): the same bytes read with other options are another attempt."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("file_sha256", "department_id", "type_code",
                                       "options_sha256", name="uq_batches_attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    file_sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    type_code: Mapped[str] = mapped_column(ForeignKey("license_types.code"))
    status: Mapped[str] = mapped_column(String(20))
    """running / done / failed."""
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    filtered: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    """Accepted rows that became a new license or version (the rest were unchanged)."""
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    uploader: Mapped[str | None] = mapped_column(String(200))
    """Who uploaded the file for this batch (the stored file keeps its first uploader)."""
    options: Mapped[dict[str, Any] | None]
    """How the file is read (registry.ingest.reader.ReadOptions.to_dict plus the stored
    suffix), so that a resumed run reads it exactly as the first did."""
    options_sha256: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of ``options`` (registry.batch.run.options_digest): part of what identifies the
    attempt."""
    source: Mapped[dict[str, Any] | None]
    """What the file turned out to be: format, header columns, unknown and ignored columns,
    sheet, archive members (registry.batch.reports renders it)."""
    elapsed_seconds: Mapped[float | None] = mapped_column(Float)
    """Seconds spent ingesting, summed over runs (a resumed batch counts each run)."""
    leased_by: Mapped[str | None] = mapped_column(String(200))
    """The run working on the batch now (registry.batch.leases); None when nobody is."""
    lease_until: Mapped[dt.datetime | None]
    """When that run's claim lapses unless renewed."""


class SourceRow(Base):
    """A row as read from a department file, kept verbatim with its outcome."""

    __tablename__ = "source_rows"
    __table_args__ = (Index("ix_source_rows_number", "batch_id", "number"),)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Line number in the file (the header is line 1)."""
    raw: Mapped[dict[str, Any]]
    """The original cells, header → text, exactly as read."""
    outcome: Mapped[str] = mapped_column(String(10))
    """accepted / filtered / rejected."""
    reasons: Mapped[dict[str, Any]]
    """``{"reasons": [{"code": ..., "element": ..., "message": ...}]}``."""
    identifier: Mapped[str | None] = mapped_column(String(160))
    """The license identifier an accepted row became."""
    number: Mapped[str | None] = mapped_column(String(100))
    """The row's normalized 证照编号, for duplicate checks across chunks and resumes."""


class BatchReasonCount(Base):
    """How many rows of one stored chunk carry one reason code."""

    __tablename__ = "batch_reason_counts"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    chunk_line: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The first line of the chunk (chunks of a batch never share one)."""
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)


class License(Base):
    """A sealed electronic license version.

    ``record`` holds the exact signed bytes (RFC 8785 JSON of the elements). The SESeal is
    stored once on its ``Seal``; a license keeps only its own part of the SES_Signature
    (``signed_at``, ``signature``) and :func:`registry.seal.signature.assemble` re-creates the
    exact DER from those and the seal.
    """

    __tablename__ = "licenses"
    __table_args__ = (
        Index("ix_licenses_type_number", "type_code", "number"),
        Index("ix_licenses_holder", "holder_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(160), unique=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("license_types.code"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    number: Mapped[str] = mapped_column(String(100))
    """证照编号 (ZZBH)."""
    holder_code: Mapped[str] = mapped_column(String(18))
    version: Mapped[str] = mapped_column(String(3))
    predecessor: Mapped[str | None] = mapped_column(String(160))
    """Identifier of the version this one replaces."""
    status: Mapped[str] = mapped_column(String(20))
    """VALID / SUSPENDED / REVOKED / CANCELLED / EXPIRED / WITHDRAWN / TRANSFERRED_OUT."""
    valid_to: Mapped[str] = mapped_column(String(8))
    """ZZYXQJZRQ, or 长期."""
    record: Mapped[bytes]
    """The exact signed bytes: RFC 8785 JSON of the elements."""
    data_hash: Mapped[bytes]
    """SHA-256 of ``record`` (the SES_Signature dataHash)."""
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    signed_at: Mapped[dt.datetime]
    """TBS_Sign.timeInfo."""
    signature: Mapped[bytes]
    """The signer's ECDSA signature over DER(TBS_Sign)."""
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    created_at: Mapped[dt.datetime]


class OutboxEvent(Base):
    """A change to push to the province, written in the same transaction as the change."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_pending", "acked_at", "id"),
        Index("ix_outbox_license", "license_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"))
    operate_type: Mapped[str] = mapped_column(String(2))
    """STANDARDS.md §2.2 operateType: 01 新发, 02 延续, 09 变更 …"""
    created_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    acked_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(20))
    """The license's status right after the event (VALID for a new version). Where it is None,
    the sync works it out from the event's kind and the license
    (:func:`registry.province.sync.event_status`)."""
    dead_at: Mapped[dt.datetime | None]
    """When the sync gave up on the event (a dead letter; ``last_error`` says why)."""
