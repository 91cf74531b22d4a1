"""The weekly figures per department: DataFrame in, DataFrame out.

:func:`read_frames` is the only function here that touches the database: it reads what the
figures need, up to the end of a week, into plain frames (:class:`RegistryFrames`). Everything
else is a pure function of those frames and an :class:`~registry.bulletin.week.IsoWeek`, so
it is tested on hand-built frames too. :func:`department_figures` puts it together: one row
per department, every department, whether or not it did anything.

Two kinds of figure stand side by side (docs: the bulletin's week semantics):

- **how far** a department is: cumulative as of the week's end (Monday 00:00 Beijing time):
  rows submitted and sealed, seals active, templates published, licenses acknowledged, dead
  letters, the verdicts of the last audit run before the week ended;
- **what it did that week**: the ``*_week`` columns (rows uploaded and newly submitted, seal
  and template steps, licenses sealed, events acknowledged) and the timeliness of the events
  acknowledged in it (event ``created_at`` → ``acked_at``: median, 95th percentile, share
  within 24 hours).

**Unique rows count once.** A row is one license of a department's file: its type and
normalized 证照编号 (``source_rows.number``), or, for a row without one, its cells exactly as
read. However often it is uploaded (the same file in UTF-8 and in GBK, a corrected file sent
again) it is submitted once, in the week it was first uploaded, and counts with the best
outcome it reached by the week's end: sealed if any upload was accepted, else filtered if any
was filtered (expired, classified), else rejected. Its reasons are those of its latest upload
with that outcome. ``rows_uploaded`` counts every row of every upload.

**Superseded versions are history.** The verification figures leave out the licenses the
audit found no longer in force (superseded by a change, revoked, expired: ``not_in_force`` in
:mod:`registry.verify.audit_runs`); ``audit_history`` says how many.

A rate whose denominator is zero is NaN here (the exports leave the cell empty); a count is 0.

>>> frames = read_frames(session, IsoWeek.parse("2026-W48"))        # doctest: +SKIP
>>> department_figures(frames, IsoWeek.parse("2026-W48"))            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import String, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from registry.bulletin.week import IsoWeek
from registry.db.models import (
    Batch,
    Department,
    DepartmentType,
    License,
    LicenseTypeRow,
    OutboxEvent,
    Seal,
    SourceRow,
    Template,
)
from registry.i18n import N_
from registry.ingest.rules import FLAG_REASONS
from registry.province.wire import CREATING_OPERATE_TYPES
from registry.seal.lifecycle import SealApplication, SealEvent
from registry.template.lifecycle import TemplateEvent
from registry.verify.audit_runs import AuditRun, AuditRunDepartment

__all__ = [
    "ACKED_SHARE",
    "ACKED_WITHIN_24H",
    "ACK_MEDIAN_HOURS",
    "ACK_P95_HOURS",
    "AUDITED",
    "AUDIT_AT",
    "AUDIT_HISTORY",
    "AUDIT_PASSED",
    "COUNT_COLUMNS",
    "DEAD_LETTERS",
    "DEPARTMENT",
    "EVENTS_ACKED_WEEK",
    "FIGURE_COLUMNS",
    "LICENSES_ACKED",
    "LICENSES_SEALED",
    "LICENSES_SEALED_WEEK",
    "NAME",
    "PASS_RATE",
    "ROWS_FILTERED",
    "ROWS_REJECTED",
    "ROWS_SEALED",
    "ROWS_SEALED_WEEK",
    "ROWS_SUBMITTED",
    "ROWS_SUBMITTED_WEEK",
    "ROWS_UPLOADED",
    "ROWS_UPLOADED_WEEK",
    "SEALED_SHARE",
    "SEALS_APPLIED",
    "SEALS_AUTHORIZED",
    "SEALS_MADE",
    "SEALS_SUSPENDED",
    "SEAL_COVERAGE",
    "STAGE_TITLES",
    "TEMPLATES_BOUND",
    "TEMPLATES_MADE",
    "TEMPLATES_PUBLISHED",
    "TEMPLATE_COVERAGE",
    "TEMPLATE_STAGES",
    "TOP_REASONS",
    "TYPES_ISSUED",
    "TYPES_SEALABLE",
    "WEEK_COLUMNS",
    "RegistryFrames",
    "aggregation_figures",
    "department_figures",
    "first_record",
    "had_activity",
    "last_audit_run",
    "read_frames",
    "seal_figures",
    "stock_figures",
    "template_figures",
    "timeliness",
    "verification_figures",
]

# -- columns of the frames read from the registry --------------------------------------------

DEPARTMENT_ID = "department_id"
DEPARTMENT = "department"
"""The department's 18-character USCC (统一社会信用代码): its key in every output."""
NAME = "name"
TYPE_CODE = "type_code"
TYPE_NAME = "type_name"
BATCH_ID = "batch_id"
EVENT_ID = "event_id"
SEAL_ID = "seal_id"
TEMPLATE_ID = "template_id"
RUN_ID = "run_id"
AT = "at"
ROWS = "rows"
ACCEPTED = "accepted"
FILTERED = "filtered"
REJECTED = "rejected"
CODE = "code"
STEP = "step"
TO_STATUS = "to_status"
AUTH_TYPES = "auth_types"
"""Authorize events: the license types authorized (a tuple)."""
AUTH_FROM = "auth_from"
AUTH_TO = "auth_to"
OPERATE_TYPE = "operate_type"
CREATED_AT = "created_at"
ACKED_AT = "acked_at"
DEAD_AT = "dead_at"
PASSED = "passed"
FAILED = "failed"
INDETERMINATE = "indeterminate"
NOT_IN_FORCE = "not_in_force"
ROW_KEY = "row_key"
"""A unique row: its 证照编号, or ``raw:`` and its cells as read when it has none."""
FIRST_SEEN = "first_seen"
FIRST_SEALED = "first_sealed"
FIRST_FILTERED = "first_filtered"
LINE = "line"
OUTCOME = "outcome"
CODES = "codes"
"""The reason codes a row carries (a tuple)."""

# -- figure columns: stock digitization (存量数据电子化) ------------------------------------------

ROWS_UPLOADED = "rows_uploaded"
"""Rows of every upload by the week's end, repeats included."""
ROWS_SUBMITTED = "rows_submitted"
"""Unique rows submitted by the week's end (see the module docstring: each counts once)."""
ROWS_SEALED = "rows_sealed"
"""Of those, rows accepted in some upload: each is a sealed license."""
ROWS_FILTERED = "rows_filtered"
"""Rows never accepted but filtered out (expired, classified): valid, not aggregated."""
ROWS_REJECTED = "rows_rejected"
"""Rows neither accepted nor filtered in any upload."""
SEALED_SHARE = "sealed_share"
"""rows_sealed / rows_submitted."""
FILTERED_SHARE = "filtered_share"
REJECTED_SHARE = "rejected_share"
TOP_REASONS = "top_reasons"
"""The three most frequent reasons of the rows still filtered or rejected at the week's end:
a tuple of ``(code, rows)``, most rows first (codes: registry.ingest.rules.REASON_TITLES)."""
ROWS_UPLOADED_WEEK = "rows_uploaded_week"
"""Rows uploaded in the week, repeats included."""
ROWS_SUBMITTED_WEEK = "rows_submitted_week"
"""Unique rows first submitted in the week."""
ROWS_SEALED_WEEK = "rows_sealed_week"
"""Unique rows first accepted in the week."""

# -- seals (电子印章) ----------------------------------------------------------------------------

SEALS_APPLIED = "seals_applied"
"""Seal applications made by the week's end."""
SEALS_MADE = "seals_made"
"""Seals made (re-made seals count again: each is a new seal)."""
SEALS_AUTHORIZED = "seals_authorized"
"""Seals authorized and active at the week's end."""
SEALS_SUSPENDED = "seals_suspended"
"""Seals suspended at the week's end."""
SEALS_APPLIED_WEEK = "seals_applied_week"
SEALS_MADE_WEEK = "seals_made_week"
SEALS_AUTHORIZED_WEEK = "seals_authorized_week"
SEALS_SUSPENDED_WEEK = "seals_suspended_week"
TYPES_ISSUED = "types_issued"
"""License types the department issues."""
TYPES_SEALABLE = "types_sealable"
"""Of those, types an active seal is authorized for at the week's end."""
SEAL_COVERAGE = "seal_coverage"
"""types_sealable / types_issued."""

# -- templates (证照模板) ------------------------------------------------------------------------

TEMPLATES_MADE = "templates_made"
"""Types the department issues with a template made (any version, any later stage)."""
TEMPLATES_BOUND = "templates_bound"
"""Types with a template bound to a seal (or published)."""
TEMPLATES_PUBLISHED = "templates_published"
"""Types with a published template in force at the week's end."""
TEMPLATES_MADE_WEEK = "templates_made_week"
TEMPLATES_BOUND_WEEK = "templates_bound_week"
TEMPLATES_PUBLISHED_WEEK = "templates_published_week"
TEMPLATE_COVERAGE = "template_coverage"
"""templates_published / types_issued."""
TEMPLATE_STAGES = "template_stages"
"""Per type the department issues (by code), its name and how far its template is: a tuple
of ``(type name, stage)``, stage a key of :data:`STAGE_TITLES`."""

# -- aggregation to the province (汇聚) ----------------------------------------------------------

LICENSES_SEALED = "licenses_sealed"
"""License versions sealed by the week's end (新发, 延续, 转入, 变更 events)."""
LICENSES_ACKED = "licenses_acked"
"""Of those, versions the province acknowledged by the week's end."""
ACKED_SHARE = "acked_share"
"""licenses_acked / licenses_sealed."""
LICENSES_SEALED_WEEK = "licenses_sealed_week"
EVENTS_ACKED_WEEK = "events_acked_week"
"""License events (any operate type) the province acknowledged during the week."""
ACK_MEDIAN_HOURS = "ack_median_hours"
"""Median hours from an event (issue or change) to its acknowledgement, over events_acked_week."""
ACK_P95_HOURS = "ack_p95_hours"
"""95th percentile of the same (linear interpolation between closest ranks)."""
ACKED_WITHIN_24H = "acked_within_24h"
"""Share of events_acked_week acknowledged within 24 hours (inclusive)."""
DEAD_LETTERS = "dead_letters"
"""Events the sync had given up on (dead letters) at the week's end."""

# -- verification (核验) -------------------------------------------------------------------------

AUDIT_AT = "audit_at"
"""Validation time of the last ``verify --registry`` run before the week's end."""
AUDITED = "audited"
"""That run's verdicts on the department's licenses, but those INDETERMINATE only because the
license is no longer in force (a superseded version, a revoked or expired license)."""
AUDIT_PASSED = "audit_passed"
AUDIT_HISTORY = "audit_history"
"""Of that run's verdicts, those on licenses no longer in force (superseded, revoked,
expired): history, counted neither as passed nor as failed."""
PASS_RATE = "pass_rate"  # noqa: S105 - a column name, not a password
"""audit_passed / audited."""

FIGURE_COLUMNS = (
    DEPARTMENT, NAME,
    ROWS_UPLOADED, ROWS_SUBMITTED, ROWS_SEALED, ROWS_FILTERED, ROWS_REJECTED, SEALED_SHARE,
    FILTERED_SHARE, REJECTED_SHARE, TOP_REASONS, ROWS_UPLOADED_WEEK, ROWS_SUBMITTED_WEEK,
    ROWS_SEALED_WEEK,
    SEALS_APPLIED, SEALS_MADE, SEALS_AUTHORIZED, SEALS_SUSPENDED, SEALS_APPLIED_WEEK,
    SEALS_MADE_WEEK, SEALS_AUTHORIZED_WEEK, SEALS_SUSPENDED_WEEK, TYPES_ISSUED, TYPES_SEALABLE,
    SEAL_COVERAGE,
    TEMPLATES_MADE, TEMPLATES_BOUND, TEMPLATES_PUBLISHED, TEMPLATES_MADE_WEEK,
    TEMPLATES_BOUND_WEEK, TEMPLATES_PUBLISHED_WEEK, TEMPLATE_COVERAGE, TEMPLATE_STAGES,
    LICENSES_SEALED, LICENSES_ACKED, ACKED_SHARE, LICENSES_SEALED_WEEK, EVENTS_ACKED_WEEK,
    ACK_MEDIAN_HOURS, ACK_P95_HOURS, ACKED_WITHIN_24H, DEAD_LETTERS,
    AUDIT_AT, AUDITED, AUDIT_PASSED, AUDIT_HISTORY, PASS_RATE,
)
"""Every registry column of :func:`department_figures`, in order (the sharing columns of
:mod:`registry.bulletin.sharing` follow)."""
WEEK_COLUMNS = (
    ROWS_UPLOADED_WEEK, ROWS_SUBMITTED_WEEK, ROWS_SEALED_WEEK, SEALS_APPLIED_WEEK, SEALS_MADE_WEEK,
    SEALS_AUTHORIZED_WEEK, SEALS_SUSPENDED_WEEK, TEMPLATES_MADE_WEEK, TEMPLATES_BOUND_WEEK,
    TEMPLATES_PUBLISHED_WEEK, LICENSES_SEALED_WEEK, EVENTS_ACKED_WEEK,
)
"""The week's own activity: all zero means nothing happened that week."""
COUNT_COLUMNS = (
    ROWS_UPLOADED, ROWS_SUBMITTED, ROWS_SEALED, ROWS_FILTERED, ROWS_REJECTED, SEALS_APPLIED,
    SEALS_MADE, SEALS_AUTHORIZED, SEALS_SUSPENDED, TYPES_ISSUED, TYPES_SEALABLE, TEMPLATES_MADE,
    TEMPLATES_BOUND, TEMPLATES_PUBLISHED, LICENSES_SEALED, LICENSES_ACKED, DEAD_LETTERS,
    AUDITED, AUDIT_PASSED, AUDIT_HISTORY, *WEEK_COLUMNS,
)
"""Integer columns: 0, never NaN, for a department with nothing to count."""

ACCEPTED_NOTES = frozenset({"CHANGED", "UNCHANGED", *FLAG_REASONS})
"""Reason codes accepted rows carry (registry.license.issue notes, known-code flags): not a reason a
row was filtered or rejected, so never a "top reason"."""
TOP_REASON_COUNT = 3
HOURS_WITHIN = 24.0
_TEMPLATE_STAGE = {"made": 1, "bound": 2, "published": 3}
"""How far a template version is; ``retired`` (replaced by a newer published one) is 0."""
STAGE_TITLES = {0: N_("not made"), 1: N_("made"), 2: N_("bound"), 3: N_("published")}
"""A template stage in words (translated where shown)."""


@dataclass(frozen=True)
class RegistryFrames:
    """The registry up to a week's end, as plain frames (times: pandas UTC timestamps)."""

    departments: pd.DataFrame
    """DEPARTMENT_ID, DEPARTMENT, NAME: every department."""
    department_types: pd.DataFrame
    """DEPARTMENT_ID, TYPE_CODE, TYPE_NAME: the license types each department issues."""
    batches: pd.DataFrame
    """BATCH_ID, DEPARTMENT_ID, AT (uploaded), ROWS, ACCEPTED, FILTERED, REJECTED."""
    stock_rows: pd.DataFrame
    """DEPARTMENT_ID, FIRST_SEEN, FIRST_SEALED, FIRST_FILTERED (NaT: never), ROWS: how many
    unique rows first uploaded, first accepted and first filtered at those times."""
    open_rows: pd.DataFrame
    """DEPARTMENT_ID, ROW_KEY (type code and key), AT, BATCH_ID, LINE, OUTCOME, CODES,
    FIRST_SEALED: every upload of a row that was filtered or rejected, with the time its row
    was first accepted (NaT: never)."""
    seal_events: pd.DataFrame
    """EVENT_ID, DEPARTMENT_ID, SEAL_ID (NA for application steps), STEP, TO_STATUS, AT,
    AUTH_TYPES, AUTH_FROM, AUTH_TO (authorize steps)."""
    template_events: pd.DataFrame
    """EVENT_ID, TEMPLATE_ID, DEPARTMENT_ID, TYPE_CODE, STEP, TO_STATUS, AT."""
    license_events: pd.DataFrame
    """DEPARTMENT_ID, OPERATE_TYPE, CREATED_AT, ACKED_AT, DEAD_AT: the outbox."""
    audit_runs: pd.DataFrame
    """RUN_ID, AT (validation time)."""
    audit_departments: pd.DataFrame
    """RUN_ID, DEPARTMENT_ID, PASSED, FAILED, INDETERMINATE (NOT_IN_FORCE included),
    NOT_IN_FORCE."""


# -- reading ---------------------------------------------------------------------------------


def _frame(rows: Iterable[Sequence[Any]], columns: Sequence[str],
           times: Sequence[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(columns))
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _iso(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _seal_event_rows(session: Session, end: dt.datetime) -> list[tuple[Any, ...]]:
    """Seal events with their department (through the application, or the seal for steps of
    seals made before applications were recorded) and the authorized types and period."""
    rows = session.execute(
        select(SealEvent.id, func.coalesce(SealApplication.department_id, Seal.department_id),
               SealEvent.seal_id, SealEvent.step, SealEvent.to_status, SealEvent.at,
               SealEvent.detail)
        .outerjoin(SealApplication, SealApplication.id == SealEvent.application_id)
        .outerjoin(Seal, Seal.id == SealEvent.seal_id)
        .where(SealEvent.at < end)
    ).all()
    out = []
    for event_id, department_id, seal_id, step, to_status, at, detail in rows:
        detail = detail or {}
        out.append((event_id, department_id, seal_id, step, to_status, at,
                    tuple(detail.get("type_codes", ())), _iso(detail.get("valid_from")),
                    _iso(detail.get("valid_to"))))
    return out


def _row_key() -> Any:
    """SQL: the unique-row key (see the module docstring), the type code in front."""
    # A literal column, not a bound parameter: PostgreSQL must see the GROUP BY expression
    # and the selected one as the same expression.
    key = func.coalesce(SourceRow.number,
                        literal_column("'raw:'") + cast(SourceRow.raw, String))
    return Batch.type_code + literal_column("'/'") + key


def _stock_rows(session: Session, end: dt.datetime) -> pd.DataFrame:
    """Unique rows by department and first upload / acceptance / filtering time, counted in
    the database (two GROUP BYs: a registry of a million rows hands pandas a few rows)."""
    key = _row_key()
    per_row = (
        select(Batch.department_id.label("d"), key.label("k"),
               func.min(Batch.started_at).label("fs"),
               func.min(case((SourceRow.outcome == "accepted", Batch.started_at))).label("fa"),
               func.min(case((SourceRow.outcome == "filtered", Batch.started_at))).label("ff"))
        .select_from(SourceRow).join(Batch, Batch.id == SourceRow.batch_id)
        .where(Batch.started_at < end)
        .group_by(Batch.department_id, key).subquery())
    rows = session.execute(
        select(per_row.c.d, per_row.c.fs, per_row.c.fa, per_row.c.ff, func.count())
        .group_by(per_row.c.d, per_row.c.fs, per_row.c.fa, per_row.c.ff))
    return _frame(rows, (DEPARTMENT_ID, FIRST_SEEN, FIRST_SEALED, FIRST_FILTERED, ROWS),
                  times=(FIRST_SEEN, FIRST_SEALED, FIRST_FILTERED))


def _codes(reasons: Any) -> tuple[str, ...]:
    items = (reasons or {}).get("reasons", ()) if isinstance(reasons, dict) else ()
    return tuple(sorted({str(r.get("code")) for r in items if isinstance(r, dict)}))


def _open_rows(session: Session, end: dt.datetime) -> pd.DataFrame:
    """Every upload of a row filtered or rejected, with its reason codes and when its row
    was first accepted (rows without a 证照编号 are never accepted)."""
    key = _row_key()
    uploads = session.execute(
        select(Batch.department_id, key, Batch.started_at, Batch.id, SourceRow.line,
               SourceRow.outcome, SourceRow.reasons)
        .select_from(SourceRow).join(Batch, Batch.id == SourceRow.batch_id)
        .where(Batch.started_at < end, SourceRow.outcome != "accepted"))
    frame = _frame(((d, k, at, b, line, outcome, _codes(reasons))
                    for d, k, at, b, line, outcome, reasons in uploads),
                   (DEPARTMENT_ID, ROW_KEY, AT, BATCH_ID, LINE, OUTCOME, CODES), times=(AT,))
    numbers = select(SourceRow.number).where(SourceRow.outcome != "accepted",
                                             SourceRow.number.is_not(None))
    accepted = _frame(session.execute(
        select(Batch.department_id, key, func.min(Batch.started_at))
        .select_from(SourceRow).join(Batch, Batch.id == SourceRow.batch_id)
        .where(Batch.started_at < end, SourceRow.outcome == "accepted",
               SourceRow.number.in_(numbers))
        .group_by(Batch.department_id, key)), (DEPARTMENT_ID, ROW_KEY, FIRST_SEALED),
        times=(FIRST_SEALED,))
    return frame.merge(accepted, on=[DEPARTMENT_ID, ROW_KEY], how="left")


def read_frames(session: Session, week: IsoWeek) -> RegistryFrames:
    """Everything the figures of ``week`` and the week before need, recorded before its end."""
    end = week.end
    seal_events = _frame(
        _seal_event_rows(session, end),
        (EVENT_ID, DEPARTMENT_ID, SEAL_ID, STEP, TO_STATUS, AT, AUTH_TYPES, AUTH_FROM, AUTH_TO),
        times=(AT, AUTH_FROM, AUTH_TO))
    seal_events[SEAL_ID] = seal_events[SEAL_ID].astype("Int64")
    return RegistryFrames(
        departments=_frame(session.execute(
            select(Department.id, Department.uscc, Department.name).order_by(Department.uscc)),
            (DEPARTMENT_ID, DEPARTMENT, NAME)),
        department_types=_frame(session.execute(
            select(DepartmentType.department_id, DepartmentType.type_code, LicenseTypeRow.name)
            .join(LicenseTypeRow, LicenseTypeRow.code == DepartmentType.type_code)),
            (DEPARTMENT_ID, TYPE_CODE, TYPE_NAME)),
        batches=_frame(session.execute(
            select(Batch.id, Batch.department_id, Batch.started_at, Batch.rows_read,
                   Batch.accepted, Batch.filtered, Batch.rejected)
            .where(Batch.started_at < end)),
            (BATCH_ID, DEPARTMENT_ID, AT, ROWS, ACCEPTED, FILTERED, REJECTED), times=(AT,)),
        stock_rows=_stock_rows(session, end),
        open_rows=_open_rows(session, end),
        seal_events=seal_events,
        template_events=_frame(session.execute(
            select(TemplateEvent.id, TemplateEvent.template_id, Template.department_id,
                   Template.type_code, TemplateEvent.step, TemplateEvent.to_status,
                   TemplateEvent.at)
            .join(Template, Template.id == TemplateEvent.template_id)
            .where(TemplateEvent.at < end)),
            (EVENT_ID, TEMPLATE_ID, DEPARTMENT_ID, TYPE_CODE, STEP, TO_STATUS, AT),
            times=(AT,)),
        license_events=_frame(session.execute(
            select(License.department_id, OutboxEvent.operate_type, OutboxEvent.created_at,
                   OutboxEvent.acked_at, OutboxEvent.dead_at)
            .join(License, License.id == OutboxEvent.license_id)
            .where(OutboxEvent.created_at < end)),
            (DEPARTMENT_ID, OPERATE_TYPE, CREATED_AT, ACKED_AT, DEAD_AT),
            times=(CREATED_AT, ACKED_AT, DEAD_AT)),
        audit_runs=_frame(session.execute(
            select(AuditRun.id, AuditRun.at).where(AuditRun.at < end)), (RUN_ID, AT),
            times=(AT,)),
        audit_departments=_frame(session.execute(
            select(AuditRunDepartment.run_id, AuditRunDepartment.department_id,
                   AuditRunDepartment.passed, AuditRunDepartment.failed,
                   AuditRunDepartment.indeterminate, AuditRunDepartment.not_in_force)
            .join(AuditRun, AuditRun.id == AuditRunDepartment.run_id)
            .where(AuditRun.at < end)),
            (RUN_ID, DEPARTMENT_ID, PASSED, FAILED, INDETERMINATE, NOT_IN_FORCE)),
    )


# -- pure computation ----------------------------------------------------------------------


def _until(frame: pd.DataFrame, column: str, week: IsoWeek) -> pd.DataFrame:
    """Rows whose ``column`` time is before the week's end."""
    return frame[frame[column] < pd.Timestamp(week.end)]


def _during(frame: pd.DataFrame, column: str, week: IsoWeek) -> pd.DataFrame:
    """Rows whose ``column`` time falls in the week."""
    times = frame[column]
    return frame[(times >= pd.Timestamp(week.start)) & (times < pd.Timestamp(week.end))]


def _count(frame: pd.DataFrame, name: str) -> pd.Series:
    """Rows per department, named ``name``."""
    return frame.groupby(DEPARTMENT_ID).size().rename(name)


def _steps(events: pd.DataFrame, columns: dict[str, str]) -> list[pd.Series]:
    """Per department, how many events of each step (``step → column name``)."""
    return [_count(events[events[STEP] == step], column) for step, column in columns.items()]


def _share(part: pd.Series, whole: pd.Series) -> pd.Series:
    """part / whole, NaN where whole is 0 (nothing to take a share of)."""
    return part.astype(float) / whole.where(whole > 0)


def _top_reasons(open_rows: pd.DataFrame, week: IsoWeek) -> pd.Series:
    """Per department, the three most frequent reasons of its rows still filtered or
    rejected at the week's end (each row's latest upload with its best outcome)."""
    end = pd.Timestamp(week.end)
    rows = open_rows[(open_rows[AT] < end) & ~(open_rows[FIRST_SEALED] < end)]
    filtered_keys = set(rows.loc[rows[OUTCOME] == "filtered", ROW_KEY])
    best = rows[(rows[OUTCOME] == "filtered") | ~rows[ROW_KEY].isin(filtered_keys)]
    latest = best.sort_values([AT, BATCH_ID, LINE]).groupby(
        [DEPARTMENT_ID, ROW_KEY], as_index=False).tail(1)
    codes = latest[[DEPARTMENT_ID, CODES]].explode(CODES).rename(columns={CODES: CODE})
    codes = codes[codes[CODE].notna() & ~codes[CODE].isin(ACCEPTED_NOTES)]
    totals = codes.groupby([DEPARTMENT_ID, CODE], as_index=False).size().rename(
        columns={"size": ROWS})
    totals = totals.sort_values([DEPARTMENT_ID, ROWS, CODE], ascending=[True, False, True])
    top = totals.groupby(DEPARTMENT_ID).head(TOP_REASON_COUNT)
    pairs = pd.Series(list(zip(top[CODE], top[ROWS].astype(int), strict=True)),
                      index=top.index, dtype=object)
    joined: pd.Series = pairs.groupby(top[DEPARTMENT_ID]).agg(tuple).rename(TOP_REASONS)
    return joined


def stock_figures(batches: pd.DataFrame, stock_rows: pd.DataFrame, open_rows: pd.DataFrame,
                  week: IsoWeek) -> pd.DataFrame:
    """Unique rows submitted, sealed, filtered, rejected (cumulative), their shares, the top
    reasons and the week's new rows; rows uploaded, repeats included; per DEPARTMENT_ID."""
    end, start = pd.Timestamp(week.end), pd.Timestamp(week.start)
    rows = stock_rows[stock_rows[FIRST_SEEN] < end]
    sealed = rows[FIRST_SEALED] < end
    filtered = ~sealed & (rows[FIRST_FILTERED] < end)
    n = rows[ROWS]
    by = rows[DEPARTMENT_ID]
    out = pd.DataFrame({
        ROWS_SUBMITTED: n.groupby(by).sum(),
        ROWS_SEALED: n.where(sealed, 0).groupby(by).sum(),
        ROWS_FILTERED: n.where(filtered, 0).groupby(by).sum(),
        ROWS_REJECTED: n.where(~sealed & ~filtered, 0).groupby(by).sum(),
        ROWS_SUBMITTED_WEEK: n.where(rows[FIRST_SEEN] >= start, 0).groupby(by).sum(),
        ROWS_SEALED_WEEK: n.where(sealed & (rows[FIRST_SEALED] >= start), 0).groupby(by).sum(),
    })
    uploads = _until(batches, AT, week)
    out = out.join(pd.DataFrame({
        ROWS_UPLOADED: uploads.groupby(DEPARTMENT_ID)[ROWS].sum(),
        ROWS_UPLOADED_WEEK: _during(uploads, AT, week).groupby(DEPARTMENT_ID)[ROWS].sum(),
    }), how="outer").fillna(0).astype(int)
    for part, share in ((ROWS_SEALED, SEALED_SHARE), (ROWS_FILTERED, FILTERED_SHARE),
                        (ROWS_REJECTED, REJECTED_SHARE)):
        out[share] = _share(out[part], out[ROWS_SUBMITTED])
    return out.join(_top_reasons(open_rows, week))


def _last_per(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The newest event per ``keys`` (by time, then event id)."""
    return frame.sort_values([AT, EVENT_ID]).groupby(keys, as_index=False).tail(1)


def _sealable_types(events: pd.DataFrame, active: pd.DataFrame, types: pd.DataFrame,
                    week: IsoWeek) -> pd.Series:
    """Per department, the types it issues that an active seal is authorized for at the
    week's end (the seal's newest authorization of the type, its period covering the end)."""
    grants = events[(events[STEP] == "authorize") & events[SEAL_ID].isin(active[SEAL_ID])]
    grants = grants.explode(AUTH_TYPES).rename(columns={AUTH_TYPES: TYPE_CODE})
    grants = _last_per(grants.dropna(subset=[TYPE_CODE]), [SEAL_ID, TYPE_CODE])
    end = pd.Timestamp(week.end)
    valid = grants[(grants[AUTH_FROM] <= end) & (grants[AUTH_TO] > end)]
    covered = valid[[DEPARTMENT_ID, TYPE_CODE]].drop_duplicates().merge(
        types[[DEPARTMENT_ID, TYPE_CODE]], on=[DEPARTMENT_ID, TYPE_CODE])
    return _count(covered, TYPES_SEALABLE)


def seal_figures(seal_events: pd.DataFrame, department_types: pd.DataFrame,
                 week: IsoWeek) -> pd.DataFrame:
    """Seals applied and made (cumulative), authorized and suspended at the week's end,
    each step's count in the week, and the share of issued types an active seal covers."""
    upto = _until(seal_events, AT, week)
    status = _last_per(upto[upto[SEAL_ID].notna()], [SEAL_ID])
    active = status[status[TO_STATUS] == "active"]
    parts = [
        *_steps(upto, {"apply": SEALS_APPLIED, "make": SEALS_MADE}),
        _count(active, SEALS_AUTHORIZED),
        _count(status[status[TO_STATUS] == "suspended"], SEALS_SUSPENDED),
        *_steps(_during(upto, AT, week), {
            "apply": SEALS_APPLIED_WEEK, "make": SEALS_MADE_WEEK,
            "authorize": SEALS_AUTHORIZED_WEEK, "suspend": SEALS_SUSPENDED_WEEK}),
        _count(department_types, TYPES_ISSUED),
        _sealable_types(upto, active, department_types, week),
    ]
    out = pd.concat(parts, axis=1).fillna(0).astype(int)
    out[SEAL_COVERAGE] = _share(out[TYPES_SEALABLE], out[TYPES_ISSUED])
    return out


def _stage_text(types: pd.DataFrame) -> pd.Series:
    pairs = pd.Series(list(zip(types[TYPE_NAME], types["stage"], strict=True)),
                      index=types.index, dtype=object)
    joined: pd.Series = pairs.groupby(types[DEPARTMENT_ID]).agg(tuple).rename(TEMPLATE_STAGES)
    return joined


def template_figures(template_events: pd.DataFrame, department_types: pd.DataFrame,
                     week: IsoWeek) -> pd.DataFrame:
    """Per department, of the types it issues: how many have a template made, bound,
    published at the week's end (the furthest stage of any version), each step's count in
    the week, and each type's stage."""
    upto = _until(template_events, AT, week)
    versions = _last_per(upto, [TEMPLATE_ID])
    stage = (versions.assign(stage=versions[TO_STATUS].map(_TEMPLATE_STAGE).fillna(0))
             .groupby([DEPARTMENT_ID, TYPE_CODE], as_index=False)["stage"].max())
    types = department_types.sort_values([DEPARTMENT_ID, TYPE_CODE]).merge(
        stage, on=[DEPARTMENT_ID, TYPE_CODE], how="left").fillna({"stage": 0})
    types["stage"] = types["stage"].astype(int)
    parts = [
        _count(types[types["stage"] >= 1], TEMPLATES_MADE),
        _count(types[types["stage"] >= 2], TEMPLATES_BOUND),
        _count(types[types["stage"] >= 3], TEMPLATES_PUBLISHED),
        *_steps(_during(upto, AT, week), {
            "make": TEMPLATES_MADE_WEEK, "bind": TEMPLATES_BOUND_WEEK,
            "publish": TEMPLATES_PUBLISHED_WEEK}),
    ]
    issued = _count(department_types, TYPES_ISSUED)
    out = pd.concat([*parts, issued], axis=1).fillna(0).astype(int)
    out[TEMPLATE_COVERAGE] = _share(out[TEMPLATES_PUBLISHED], out.pop(TYPES_ISSUED))
    return out.join(_stage_text(types), how="outer")


def timeliness(events: pd.DataFrame, week: IsoWeek) -> pd.DataFrame:
    """Over the events acknowledged during the week, per department: how many, the median
    and 95th percentile of hours from the event to its acknowledgement (linear interpolation
    between closest ranks, pandas' default), and the share acknowledged within 24 hours."""
    acked = _during(events, ACKED_AT, week)
    hours = ((acked[ACKED_AT] - acked[CREATED_AT]).dt.total_seconds() / 3600).rename("hours")
    by_department = hours.groupby(acked[DEPARTMENT_ID])
    return pd.DataFrame({
        EVENTS_ACKED_WEEK: by_department.size(),
        ACK_MEDIAN_HOURS: by_department.quantile(0.5),
        ACK_P95_HOURS: by_department.quantile(0.95),
        ACKED_WITHIN_24H: (hours <= HOURS_WITHIN).groupby(acked[DEPARTMENT_ID]).mean(),
    })


def aggregation_figures(license_events: pd.DataFrame, week: IsoWeek) -> pd.DataFrame:
    """License versions sealed and acknowledged by the province (cumulative), the week's
    new versions, the timeliness of the week's acknowledgements, dead letters at the end."""
    upto = _until(license_events, CREATED_AT, week)
    creating = upto[upto[OPERATE_TYPE].isin(CREATING_OPERATE_TYPES)]
    end = pd.Timestamp(week.end)
    counts = pd.concat([
        _count(creating, LICENSES_SEALED),
        _count(creating[creating[ACKED_AT] < end], LICENSES_ACKED),
        _count(_during(creating, CREATED_AT, week), LICENSES_SEALED_WEEK),
        _count(upto[upto[DEAD_AT] < end], DEAD_LETTERS),
    ], axis=1).fillna(0).astype(int)
    counts[ACKED_SHARE] = _share(counts[LICENSES_ACKED], counts[LICENSES_SEALED])
    return counts.join(timeliness(upto, week), how="outer")


def last_audit_run(audit_runs: pd.DataFrame, week: IsoWeek) -> tuple[int, pd.Timestamp] | None:
    """(run id, validation time) of the last audit run validated before the week's end."""
    runs = _until(audit_runs, AT, week).sort_values([AT, RUN_ID])
    if runs.empty:
        return None
    return int(runs[RUN_ID].iloc[-1]), runs[AT].iloc[-1]


def verification_figures(audit_runs: pd.DataFrame, audit_departments: pd.DataFrame,
                         week: IsoWeek) -> pd.DataFrame:
    """The verdicts of the last audit run before the week's end about each department's
    licenses in force: how many, how many PASSED, the pass rate, and how many verdicts were
    on licenses no longer in force (history, in neither count; no rows without a run)."""
    last = last_audit_run(audit_runs, week)
    run_id = last[0] if last is not None else None
    rows = audit_departments[audit_departments[RUN_ID] == run_id].set_index(DEPARTMENT_ID)
    audited = rows[PASSED] + rows[FAILED] + rows[INDETERMINATE] - rows[NOT_IN_FORCE]
    return pd.DataFrame({AUDITED: audited, AUDIT_PASSED: rows[PASSED],
                         AUDIT_HISTORY: rows[NOT_IN_FORCE],
                         PASS_RATE: _share(rows[PASSED], audited)}, index=rows.index)


def department_figures(frames: RegistryFrames, week: IsoWeek) -> pd.DataFrame:
    """One row per department (by USCC), :data:`FIGURE_COLUMNS`: counts 0, texts empty and
    rates NaN for a department with nothing to count."""
    parts = [
        stock_figures(frames.batches, frames.stock_rows, frames.open_rows, week),
        seal_figures(frames.seal_events, frames.department_types, week),
        template_figures(frames.template_events, frames.department_types, week),
        aggregation_figures(frames.license_events, week),
        verification_figures(frames.audit_runs, frames.audit_departments, week),
    ]
    out = frames.departments.set_index(DEPARTMENT_ID)
    for part in parts:
        out = out.join(part.drop(columns=[c for c in part.columns if c in out.columns]))
    out = out.reindex(columns=list(FIGURE_COLUMNS))
    out[list(COUNT_COLUMNS)] = out[list(COUNT_COLUMNS)].fillna(0).astype(int)
    for column in (TOP_REASONS, TEMPLATE_STAGES):
        out[column] = [v if isinstance(v, tuple) else () for v in out[column]]
    last = last_audit_run(frames.audit_runs, week)
    out[AUDIT_AT] = last[1] if last is not None else pd.NaT
    return out.sort_values(DEPARTMENT).reset_index(drop=True)


def had_activity(figures: pd.DataFrame) -> bool:
    """Whether any department did anything in the week (any ``*_week`` count above zero)."""
    return bool(figures[list(WEEK_COLUMNS)].to_numpy().sum() > 0)


def first_record(frames: RegistryFrames) -> pd.Timestamp | None:
    """The time of the registry's first recorded step (upload, seal or template step, license
    event), or None for an empty registry: where a trend can start."""
    times = [frames.batches[AT], frames.seal_events[AT], frames.template_events[AT],
             frames.license_events[CREATED_AT]]
    found = [t.min() for t in times if not t.empty]
    found = [t for t in found if not pd.isna(t)]
    return min(found) if found else None
