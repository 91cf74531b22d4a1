"""The bulletin's outputs: ``bulletin.html``, ``figures.csv``, ``figures.xlsx`` and markdown.

- ``bulletin.html`` is one self-contained page: a headline paragraph in Chinese with the week
  and its key numbers, the ranking table, one horizontal bar chart per indicator (inline SVG,
  drawn here: every text XML-escaped), the figures per department, and the laggards.
- ``figures.csv`` (UTF-8 with a BOM, so Excel shows the Chinese) and ``figures.xlsx`` hold the
  same table: one row per department in rank order, every column of
  :data:`registry.bulletin.figures.FIGURE_COLUMNS` plus the ranking. Rates are shares (0–1),
  a figure with nothing to measure is ``—``; text cells are made inert for spreadsheets.
- :func:`markdown` is what the Prefect flow publishes as an artifact.

Pure functions of a :class:`Bulletin`; only :func:`write_csv` and :func:`write_xlsx` write.
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from registry.batch.reports import neutralize
from registry.bulletin import figures as f
from registry.bulletin.ranking import (
    HELD_BACK_BY,
    INDICATOR_VALUE,
    INDICATORS,
    MOVEMENT,
    POINTS_LOST,
    PREVIOUS_RANK,
    RANK,
    SCORE,
    Weights,
    indicator,
)
from registry.bulletin.week import CITY_TIME, IsoWeek

__all__ = [
    "EXPORT_COLUMNS",
    "NOTHING",
    "WEEK",
    "Bulletin",
    "bar_chart",
    "export_rows",
    "headline",
    "hours",
    "markdown",
    "moved",
    "pct",
    "render_html",
    "write_csv",
    "write_xlsx",
]

NOTHING = "—"
"""Printed for a figure with nothing to measure (never NaN)."""
WEEK = "week"
"""Export column: the ISO week, so several weeks' files stack in one sheet."""
EXPORT_COLUMNS = (WEEK, RANK, PREVIOUS_RANK, MOVEMENT, SCORE, *f.FIGURE_COLUMNS)
"""Columns of figures.csv and figures.xlsx, in order."""
_SHARES = frozenset({f.SEALED_SHARE, f.FILTERED_SHARE, f.REJECTED_SHARE, f.SEAL_COVERAGE,
                     f.TEMPLATE_COVERAGE, f.ACKED_SHARE, f.ACKED_WITHIN_24H, f.PASS_RATE})
_HOURS = frozenset({f.ACK_MEDIAN_HOURS, f.ACK_P95_HOURS})
_FONT = "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True)
class Bulletin:
    """One week's bulletin, computed (registry.bulletin.weekly.build_bulletin)."""

    week: IsoWeek
    figures: pd.DataFrame
    """This week's figures, one row per department (FIGURE_COLUMNS)."""
    ranking: pd.DataFrame
    """The same rows ranked, best first, with SCORE, RANK, PREVIOUS_RANK, MOVEMENT."""
    laggards: pd.DataFrame
    """registry.bulletin.ranking.laggards of the ranking."""
    weights: Weights
    active: bool
    """Whether anything happened in the week at all."""


# -- formatting ------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and math.isnan(value))


def pct(value: Any) -> str:
    """A share as ``66.7%``; ``—`` when there is nothing to measure."""
    return NOTHING if _missing(value) else f"{100 * float(value):.1f}%"


def hours(value: Any) -> str:
    return NOTHING if _missing(value) else f"{float(value):.1f} 小时"


def moved(value: Any) -> str:
    """Rank movement: ``↑2``, ``↓1``, ``=`` (unchanged) or ``新`` (not ranked last week)."""
    if _missing(value):
        return "新"
    value = int(value)
    return "↑" + str(value) if value > 0 else "↓" + str(-value) if value < 0 else "="


def _time(value: Any) -> str:
    return NOTHING if _missing(value) else pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(value: Any) -> str:
    """A time on the city's clock, to the minute, for the words of the bulletin."""
    return pd.Timestamp(value).tz_convert(CITY_TIME).strftime("%Y-%m-%d %H:%M")


def _cell(column: str, value: Any) -> Any:
    """An export cell: an int, a rounded float, ``—`` or inert text."""
    if column == f.AUDIT_AT:
        return _time(value)
    if _missing(value):
        return NOTHING
    if isinstance(value, str):
        return neutralize(value)
    if column in _SHARES:
        return round(float(value), 4)
    if column in _HOURS or column == SCORE:
        return round(float(value), 2)
    return int(value)


def export_rows(bulletin: Bulletin) -> list[list[Any]]:
    """The header and one row per department in rank order: what both files hold."""
    table = bulletin.ranking.assign(**{WEEK: str(bulletin.week)})
    rows: list[list[Any]] = [list(EXPORT_COLUMNS)]
    for record in table[list(EXPORT_COLUMNS)].to_dict("records"):
        rows.append([_cell(c, record[c]) for c in EXPORT_COLUMNS])
    return rows


def write_csv(bulletin: Bulletin, path: Path) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(export_rows(bulletin))
    return path


def write_xlsx(bulletin: Bulletin, path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has its one sheet
    sheet.title = str(bulletin.week)
    for row in export_rows(bulletin):
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "C2"
    book.save(path)
    return path


# -- words ---------------------------------------------------------------------------------


def _week_title(week: IsoWeek) -> str:
    return f"{week.year}年第{week.week}周（{week.days()}，北京时间）"


def _total(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].sum())


def _ratio(part: int, whole: int) -> str:
    return pct(part / whole if whole else None)


def headline(bulletin: Bulletin) -> str:
    """The opening paragraph: the week and its key numbers, in Chinese."""
    t, n = bulletin.figures, len(bulletin.figures)
    parts = [f"{_week_title(bulletin.week)}，全市{n}个发证部门参加排名。"]
    if not bulletin.active:
        parts.append("本周全市没有存量证照数据提交、印章和模板办理或证照汇聚活动。")
    else:
        acked = _total(t, f.EVENTS_ACKED_WEEK)
        within = round(float((t[f.ACKED_WITHIN_24H].fillna(0) * t[f.EVENTS_ACKED_WEEK]).sum()))
        in_time = f"，其中24小时内确认{_ratio(within, acked)}" if acked else ""
        parts.append(
            f"本周提交存量证照数据{_total(t, f.ROWS_SUBMITTED_WEEK)}条，入库签章"
            f"{_total(t, f.ROWS_SEALED_WEEK)}条；新签章证照{_total(t, f.LICENSES_SEALED_WEEK)}件，"
            f"省平台确认证照事件{acked}件{in_time}。")
    parts.append(
        f"截至周末，累计提交{_total(t, f.ROWS_SUBMITTED)}条、入库"
        f"{_total(t, f.ROWS_SEALED)}条（入库率"
        f"{_ratio(_total(t, f.ROWS_SEALED), _total(t, f.ROWS_SUBMITTED))}），"
        f"已签章证照{_total(t, f.LICENSES_SEALED)}件、省平台已确认{_total(t, f.LICENSES_ACKED)}件"
        f"（汇聚确认率{_ratio(_total(t, f.LICENSES_ACKED), _total(t, f.LICENSES_SEALED))}），"
        f"死信{_total(t, f.DEAD_LETTERS)}件。")
    audited = _total(t, f.AUDITED)
    if audited:
        parts.append(f"最近一次全库核验（北京时间{_local(t[f.AUDIT_AT].iloc[0])}）核验有效证照"
                     f"{audited}件，通过率{_ratio(_total(t, f.AUDIT_PASSED), audited)}。")
    else:
        parts.append("本周末前尚无全库核验记录。")
    if n:
        best = bulletin.ranking.iloc[0]
        parts.append(f"综合得分第一名：{best[f.NAME]}（{best[SCORE]:.1f}分）。")
    return "".join(parts)


def _weights_text(weights: Weights) -> str:
    """``存量数据入库率 30、汇聚确认率 25 …`` in tie-break order."""
    return "、".join(f"{i.title} {weights.values[i.key]:g}" for i in weights.ordered())


def _laggard_lines(bulletin: Bulletin) -> list[str]:
    lines = []
    for row in bulletin.laggards.to_dict("records"):
        ind = indicator(row[HELD_BACK_BY])
        lines.append(f"{row[f.NAME]}（第{row[RANK]}名，{row[SCORE]:.1f}分）：主要差距在"
                     f"{ind.title}（{pct(row[INDICATOR_VALUE])}），失分{row[POINTS_LOST]:.1f}分。")
    return lines


# -- charts ----------------------------------------------------------------------------------


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], *,
              width: int = 560) -> str:
    """A horizontal bar chart of shares (0–1) as an SVG element; a missing value has no
    bar and reads ``—``. Every text is XML-escaped."""
    bar_h, gap, top, label_w, value_w = 22, 10, 40, 190, 60
    plot_w = width - label_w - value_w
    height = top + len(labels) * (bar_h + gap) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}" '
           f'font-family="{html.escape(_FONT)}" font-size="14">',
           f'<text x="0" y="22" font-size="16" font-weight="bold">{html.escape(title)}</text>',
           f'<line x1="{label_w}" y1="{top - 6}" x2="{label_w}" y2="{height - 6}" '
           f'stroke="#888"/>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                   f'{html.escape(label)}</text>')
        length = (0.0 if value is None or _missing(value)
                  else max(0.0, min(1.0, float(value))) * plot_w)
        if length > 0:
            out.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" '
                       f'fill="#2f6fad"/>')
        out.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 16}">'
                   f'{html.escape(pct(value))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _charts(bulletin: Bulletin) -> list[str]:
    ranked = bulletin.ranking
    labels = list(ranked[f.NAME])
    return [bar_chart(f"{i.title}（权重 {bulletin.weights.values[i.key]:g}）", labels,
                      list(ranked[i.column]))
            for i in INDICATORS]


# -- HTML ----------------------------------------------------------------------------------

_STYLE = f"""
body {{ font-family: {_FONT}; margin: 32px 40px; color: #1d1d1f; background: #fff; }}
h1 {{ font-size: 26px; margin-bottom: 4px; color: #8b0000; }}
h2 {{ font-size: 19px; margin-top: 28px; border-left: 5px solid #8b0000; padding-left: 8px; }}
p.week {{ color: #555; margin-top: 0; }}
p.headline {{ font-size: 16px; line-height: 1.8; background: #f6f3ea; padding: 12px 16px; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border: 1px solid #c8c8c8; padding: 5px 9px; text-align: right; white-space: nowrap; }}
th {{ background: #1f4e79; color: #fff; font-weight: normal; white-space: normal;
      text-align: center; }}
td.name {{ text-align: left; white-space: normal; min-width: 7em; max-width: 16em; }}
tr:nth-child(even) td {{ background: #f3f6fa; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 18px 40px; }}
.note {{ color: #666; font-size: 13px; }}
"""


def _td(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{html.escape(text)}</td>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]],
           text_columns: frozenset[int] = frozenset({2})) -> str:
    """A table; ``text_columns`` (positions) are left-aligned, the numbers right."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(_td(cell, "name" if i in text_columns else None)
                         for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _ranking_rows(bulletin: Bulletin) -> list[list[str]]:
    return [[str(r[RANK]), moved(r[MOVEMENT]), r[f.NAME], f"{r[SCORE]:.1f}",
             *(pct(r[i.column]) for i in INDICATORS)]
            for r in bulletin.ranking.to_dict("records")]


def _detail_rows(bulletin: Bulletin) -> list[list[str]]:
    rows = []
    for r in bulletin.ranking.to_dict("records"):
        rows.append([
            str(r[RANK]), r[f.DEPARTMENT], r[f.NAME],
            f"{r[f.ROWS_SUBMITTED_WEEK]} / {r[f.ROWS_SUBMITTED]}",
            f"{r[f.ROWS_SEALED]} / {r[f.ROWS_FILTERED]} / {r[f.ROWS_REJECTED]}",
            r[f.TOP_REASONS] or NOTHING,
            f"{r[f.SEALS_APPLIED]} / {r[f.SEALS_MADE]} / {r[f.SEALS_AUTHORIZED]} / "
            f"{r[f.SEALS_SUSPENDED]}",
            r[f.TEMPLATE_STAGES] or NOTHING,
            f"{r[f.LICENSES_ACKED]} / {r[f.LICENSES_SEALED]}",
            f"{r[f.EVENTS_ACKED_WEEK]}", hours(r[f.ACK_MEDIAN_HOURS]), hours(r[f.ACK_P95_HOURS]),
            str(r[f.DEAD_LETTERS]),
            f"{r[f.AUDIT_PASSED]} / {r[f.AUDITED]}" if r[f.AUDITED] else NOTHING,
        ])
    return rows


_DETAIL_HEADER = (
    "排名", "统一社会信用代码", "部门", "提交（本周/累计）", "入库/过滤/驳回", "主要原因",
    "印章 申请/制作/启用/停用", "证照模板", "汇聚 确认/签章", "本周确认", "确认中位时长",
    "确认P95", "死信", "核验 通过/总数",
)


def render_html(bulletin: Bulletin) -> str:
    """The whole bulletin as one self-contained HTML page."""
    week = bulletin.week
    ranking_header = ["排名", "变化", "部门", "综合得分", *(i.title for i in INDICATORS)]
    lines = _laggard_lines(bulletin)
    laggard_html = ("<ul>\n" + "\n".join(f"<li>{html.escape(x)}</li>" for x in lines)
                    + "\n</ul>") if lines else "<p>本周没有需要点名的部门。</p>"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        f'<head><meta charset="utf-8"><title>电子证照工作周通报 {week}</title>'
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>电子证照与电子印章工作周通报（{week}）</h1>",
        f'<p class="week">{html.escape(_week_title(week))}</p>',
        f'<p class="headline">{html.escape(headline(bulletin))}</p>',
        "<h2>一、综合排名</h2>",
        _table(ranking_header, _ranking_rows(bulletin)),
        f'<p class="note">综合得分 = 100 × Σ 权重 × 指标 / Σ 权重；权重：'
        f"{html.escape(_weights_text(bulletin.weights))}"
        f"（{html.escape(Path(bulletin.weights.source).name)}）。"
        f"得分相同时依次比较权重较大的指标，再按统一社会信用代码排序。"
        f"无可计量数据的指标记 0 分，表中显示 {NOTHING}。</p>",
        "<h2>二、分项指标</h2>",
        '<div class="charts">',
        *_charts(bulletin),
        "</div>",
        "<h2>三、部门明细</h2>",
        _table(_DETAIL_HEADER, _detail_rows(bulletin), frozenset({1, 2, 5, 7})),
        "<h2>四、需要加快进度的部门</h2>",
        laggard_html,
        "</body>",
        "</html>",
        "",
    ])


# -- markdown (the Prefect artifact) ---------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(bulletin: Bulletin, files: Sequence[Path] = ()) -> str:
    """The bulletin as markdown: headline, ranking table, laggards, files written."""
    header = ["排名", "变化", "部门", "综合得分", *(i.title for i in INDICATORS)]
    out = [f"# 电子证照与电子印章工作周通报（{bulletin.week}）", "", _md(headline(bulletin)), "",
           "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _ranking_rows(bulletin)]
    out += ["", f"权重：{_md(_weights_text(bulletin.weights))}", "", "## 需要加快进度的部门", ""]
    out += [f"- {_md(line)}" for line in _laggard_lines(bulletin)] or ["本周没有需要点名的部门。"]
    if files:
        out += ["", "## 文件", ""] + [f"- `{p}`" for p in files]
    return "\n".join(out) + "\n"
