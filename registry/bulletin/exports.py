"""The bulletin's tables for spreadsheets: ``figures.csv``, ``sharing.csv``, ``trend.csv`` and
``figures.xlsx`` (one sheet each).

- ``figures.csv``: one row per department in rank order: the week, the ranking (empty in a
  week without activity: nobody is placed), every figure, the sharing figures, and per task
  of the campaign its progress, pace, projection and status. The three top reasons are
  columns of their own: the code, its name in words, the rows.
- ``sharing.csv``: the platform's use log per department, type, use cause, action and
  outcome, the week's uses and the total.
- ``trend.csv``: per week and department, the score and each indicator.

**Numbers are numbers**: counts are integers, shares fractions (0–1) rounded to four places,
hours and scores to two; a figure with nothing to measure is an **empty cell**, never a dash,
so pandas and Excel read the columns as numbers. CSV files are UTF-8 with a BOM (Excel shows
the Chinese); text cells are made inert for spreadsheets (no formulas).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from registry.batch.reports import neutralize
from registry.bulletin import figures as f
from registry.bulletin.charts import missing
from registry.bulletin.deadline import TASKS
from registry.bulletin.model import Bulletin
from registry.bulletin.ranking import MOVEMENT, PREVIOUS_RANK, RANK, SCORE
from registry.bulletin.sharing import SHARE_SUCCESS, SHARING_COLUMNS
from registry.bulletin.trend import WEEK
from registry.i18n import _
from registry.ingest.rules import REASON_TITLES

__all__ = [
    "REASON_COLUMNS",
    "cell",
    "export_columns",
    "export_rows",
    "reason_name",
    "sharing_rows",
    "stage_text",
    "trend_rows",
    "write_csv",
    "write_sharing_csv",
    "write_trend_csv",
    "write_xlsx",
]

REASON_COLUMNS = tuple(f"reason_{i}_{part}" for i in (1, 2, 3)
                       for part in ("code", "name", "rows"))
"""The top reasons, three columns each."""
_SHARES = frozenset({f.SEALED_SHARE, f.FILTERED_SHARE, f.REJECTED_SHARE, f.SEAL_COVERAGE,
                     f.TEMPLATE_COVERAGE, f.ACKED_SHARE, f.ACKED_WITHIN_24H, f.PASS_RATE,
                     SHARE_SUCCESS, *(f"{t.key}_share" for t in TASKS)})
_TWO_PLACES = frozenset({f.ACK_MEDIAN_HOURS, f.ACK_P95_HOURS, SCORE,
                         *(f"{t.key}_pace" for t in TASKS)})
_FIGURES = tuple(c for c in f.FIGURE_COLUMNS if c != f.TOP_REASONS)


def reason_name(code: str) -> str:
    """A reason code's short name in the current language (the code itself if unknown)."""
    title = REASON_TITLES.get(code)
    return _(title) if title else code


def stage_text(stages: Sequence[tuple[str, int]]) -> str:
    """``营业执照 已发布；食品经营许可证 已制作`` in the current language."""
    return _("; ").join(f"{name} {_(f.STAGE_TITLES[stage])}" for name, stage in stages)


def cell(column: str, value: Any) -> Any:
    """An export cell: an int, a rounded float, an ISO date or time, inert text, or None
    (nothing to measure: an empty cell)."""
    if isinstance(value, tuple):
        value = stage_text(value) if column == f.TEMPLATE_STAGES else str(value)
    if missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralize(value)
    if column in _SHARES:
        return round(float(value), 4)
    if column in _TWO_PLACES:
        return round(float(value), 2)
    if isinstance(value, float) and not value.is_integer():
        return round(value, 4)
    return int(value)


def export_columns(bulletin: Bulletin) -> list[str]:
    """The header of figures.csv / the figures sheet."""
    tasks = [] if bulletin.deadlines is None else [
        c for c in bulletin.deadlines.columns if c not in (f.DEPARTMENT, f.NAME)]
    return [WEEK, RANK, PREVIOUS_RANK, MOVEMENT, SCORE, *_FIGURES[:_FIGURES.index(
        f.ROWS_UPLOADED_WEEK)], *REASON_COLUMNS, *_FIGURES[_FIGURES.index(
            f.ROWS_UPLOADED_WEEK):], *SHARING_COLUMNS, *tasks]


def _reasons(value: Any) -> list[Any]:
    pairs = list(value) if isinstance(value, tuple) else []
    out: list[Any] = []
    for i in range(3):
        code, rows = pairs[i] if i < len(pairs) else (None, None)
        out += [code, reason_name(code) if code else None, rows]
    return out


def export_rows(bulletin: Bulletin) -> list[list[Any]]:
    """The header and one row per department in rank order: what figures.csv holds."""
    columns = export_columns(bulletin)
    table = bulletin.ranking.assign(**{WEEK: str(bulletin.week)})
    if not bulletin.ranked:
        table = table.assign(**{RANK: None, PREVIOUS_RANK: None, MOVEMENT: None})
    if bulletin.deadlines is not None:
        table = table.merge(bulletin.deadlines.drop(columns=[f.NAME]), on=f.DEPARTMENT,
                            how="left")
    rows: list[list[Any]] = [columns]
    for record in table.to_dict("records"):
        row: list[Any] = []
        for column in columns:
            if column == REASON_COLUMNS[0]:
                row += _reasons(record[f.TOP_REASONS])
            elif column not in REASON_COLUMNS:
                row.append(cell(column, record[column]))
        rows.append([neutralize(c) if isinstance(c, str) else c for c in row])
    return rows


def _frame_rows(frame: pd.DataFrame) -> list[list[Any]]:
    columns = list(frame.columns)
    return [columns] + [[cell(c, r[c]) for c in columns] for r in frame.to_dict("records")]


def sharing_rows(bulletin: Bulletin) -> list[list[Any]]:
    """The header and rows of sharing.csv (nothing without a platform read)."""
    if bulletin.sharing is None:
        return []
    return _frame_rows(bulletin.sharing.detail.assign(**{WEEK: str(bulletin.week)})[
        [WEEK, *bulletin.sharing.detail.columns]])


def trend_rows(bulletin: Bulletin) -> list[list[Any]]:
    """The header and rows of trend.csv."""
    return _frame_rows(bulletin.trend) if bulletin.trend is not None else []


def _write(rows: list[list[Any]], path: Path) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([["" if c is None else c for c in r] for r in rows])
    return path


def write_csv(bulletin: Bulletin, path: Path) -> Path:
    return _write(export_rows(bulletin), path)


def write_sharing_csv(bulletin: Bulletin, path: Path) -> Path:
    return _write(sharing_rows(bulletin), path)


def write_trend_csv(bulletin: Bulletin, path: Path) -> Path:
    return _write(trend_rows(bulletin), path)


def write_xlsx(bulletin: Bulletin, path: Path) -> Path:
    """figures (the first sheet, named after the week), sharing and trend."""
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook has its one sheet
    sheets = [(str(bulletin.week), export_rows(bulletin)), ("sharing", sharing_rows(bulletin)),
              ("trend", trend_rows(bulletin))]
    for n, (title, rows) in enumerate(sheets):
        if not rows:
            continue
        sheet = first if n == 0 else book.create_sheet()
        sheet.title = title
        for row in rows:
            sheet.append(row)
        for c in sheet[1]:
            c.font = Font(bold=True)
        sheet.freeze_panes = "C2"
    book.save(path)
    return path
