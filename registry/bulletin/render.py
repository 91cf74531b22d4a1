"""The bulletin for people: ``bulletin.html`` (one self-contained page) and the markdown the
Prefect flow publishes. Chinese by default, English on request (:mod:`registry.i18n`).

The page: a warning when the week is not over yet; a headline paragraph with the week's key
numbers; the ranking (no places in a week without activity); one bar chart per indicator;
the trend of the score and of each indicator over the last weeks (line charts); sharing and
mutual recognition (city-wide, per department, by license type and use cause); the
campaign's deadlines (who will not make them); the figures per department; the laggards.
Every chart is inline SVG (:mod:`registry.bulletin.charts`), every text HTML-escaped.

Pure functions of a :class:`~registry.bulletin.model.Bulletin`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from registry.bulletin import figures as f
from registry.bulletin import sharing as s
from registry.bulletin.charts import FONT, NOTHING, bar_chart, line_chart, missing, pct
from registry.bulletin.deadline import BEHIND, STATUS_TITLES, TASKS
from registry.bulletin.exports import reason_name, stage_text
from registry.bulletin.model import Bulletin
from registry.bulletin.ranking import (
    HELD_BACK_BY,
    INDICATOR_VALUE,
    INDICATORS,
    MOVEMENT,
    POINTS_LOST,
    RANK,
    SCORE,
    Weights,
    indicator,
)
from registry.bulletin.trend import WEEK
from registry.bulletin.week import IsoWeek
from registry.clock import china_text
from registry.i18n import _

__all__ = [
    "behind_lines",
    "headline",
    "hours",
    "laggard_lines",
    "markdown",
    "moved",
    "reasons_text",
    "render_html",
    "warning",
]


def hours(value: Any) -> str:
    return NOTHING if missing(value) else _("{n} h", n=format(float(value), ".1f"))


def moved(value: Any, *, ranked_before: bool = True) -> str:
    """Rank movement: ``↑2``, ``↓1``, ``=`` (unchanged), ``新`` (not ranked last week) or
    ``—`` (nobody was ranked last week)."""
    if not ranked_before:
        return NOTHING
    if missing(value):
        return _("new")
    value = int(value)
    return "↑" + str(value) if value > 0 else "↓" + str(-value) if value < 0 else "="


def reasons_text(value: Any) -> str:
    """``持证主体代码错误 2条、已过期 1条``: the top reasons in words."""
    pairs = value if isinstance(value, tuple) else ()
    return _(", ").join(_("{reason} {n} rows", reason=reason_name(c), n=n)
                        for c, n in pairs) or NOTHING


# -- words ---------------------------------------------------------------------------------


def _week_title(week: IsoWeek) -> str:
    return _("{year} week {week} ({days}, Beijing time)", year=week.year, week=week.week,
             days=week.days())


def _total(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].fillna(0).sum())


def _ratio(part: int, whole: int) -> str:
    return pct(part / whole if whole else None)


def warning(bulletin: Bulletin) -> str | None:
    """The warning for a week not over yet (None for a complete week)."""
    if not bulletin.partial or bulletin.as_of is None:
        return None
    return _("Warning: the week is not over yet. The figures are as of {time} and will change "
             "by the week's end; the ranking is provisional.", time=china_text(bulletin.as_of))


def headline(bulletin: Bulletin) -> str:
    """The opening paragraph: the week and its key numbers."""
    t, n = bulletin.figures, len(bulletin.figures)
    parts = [_("{week}: {n} issuing departments of the city are ranked. ",
               week=_week_title(bulletin.week), n=n)]
    if not bulletin.active:
        parts.append(_("This week no department submitted stock data, handled seals or "
                       "templates or aggregated licenses, and no office used a license: there "
                       "is no ranking and nobody is named this week. "))
    else:
        acked = _total(t, f.EVENTS_ACKED_WEEK)
        within = round(float((t[f.ACKED_WITHIN_24H].fillna(0) * t[f.EVENTS_ACKED_WEEK]).sum()))
        parts.append(_("This week {uploaded} rows were uploaded, {new} of them new, and {sealed} "
                       "sealed; {licenses} licenses were newly sealed and the province "
                       "acknowledged {acked} license events ({within} within 24 hours). ",
                       uploaded=_total(t, f.ROWS_UPLOADED_WEEK),
                       new=_total(t, f.ROWS_SUBMITTED_WEEK), sealed=_total(t, f.ROWS_SEALED_WEEK),
                       licenses=_total(t, f.LICENSES_SEALED_WEEK), acked=acked,
                       within=_ratio(within, acked)))
    parts.append(_("By the end of the week {submitted} unique rows were submitted and {sealed} "
                   "sealed (stock sealed rate {rate}), {licenses} licenses sealed and {acked} "
                   "acknowledged by the province (aggregation acknowledged rate {agg}), {dead} "
                   "dead letters. ",
                   submitted=_total(t, f.ROWS_SUBMITTED), sealed=_total(t, f.ROWS_SEALED),
                   rate=_ratio(_total(t, f.ROWS_SEALED), _total(t, f.ROWS_SUBMITTED)),
                   licenses=_total(t, f.LICENSES_SEALED), acked=_total(t, f.LICENSES_ACKED),
                   agg=_ratio(_total(t, f.LICENSES_ACKED), _total(t, f.LICENSES_SEALED)),
                   dead=_total(t, f.DEAD_LETTERS)))
    if bulletin.sharing is not None:
        w, total = bulletin.sharing.week, bulletin.sharing.total
        parts.append(_("Other offices made {queries} queries and {checks} checks this week; "
                       "{avoided} submissions of paper were avoided ({all} in all). ",
                       queries=w.get("queries", 0), checks=w.get("checks", 0),
                       avoided=w.get("avoided", 0), all=total.get("avoided", 0)))
    audited = _total(t, f.AUDITED)
    if audited:
        parts.append(_("The last audit of the registry ({time}) verified {n} licenses in force: "
                       "{rate} passed ({history} versions no longer in force counted as "
                       "history). ", time=china_text(t[f.AUDIT_AT].iloc[0]), n=audited,
                       rate=_ratio(_total(t, f.AUDIT_PASSED), audited),
                       history=_total(t, f.AUDIT_HISTORY)))
    else:
        parts.append(_("No audit of the registry before the end of the week. "))
    if bulletin.ranked and n:
        best = bulletin.ranking.iloc[0]
        parts.append(_("First place: {name} ({score} points).", name=best[f.NAME],
                       score=format(best[SCORE], ".1f")))
    return "".join(parts).strip()


def _weights_text(weights: Weights) -> str:
    """``存量数据入库率 30、汇聚确认率 25 …`` in tie-break order."""
    return _(", ").join(f"{i.title} {weights.values[i.key]:g}" for i in weights.ordered())


def laggard_lines(bulletin: Bulletin) -> list[str]:
    lines = []
    for row in bulletin.laggards.to_dict("records"):
        ind = indicator(row[HELD_BACK_BY])
        lines.append(_("{name} (rank {rank}, {score} points): held back most by {indicator} "
                       "({value}), {lost} points lost.", name=row[f.NAME], rank=row[RANK],
                       score=format(row[SCORE], ".1f"), indicator=ind.title,
                       value=pct(row[INDICATOR_VALUE]), lost=format(row[POINTS_LOST], ".1f")))
    return lines


def behind_lines(bulletin: Bulletin) -> list[str]:
    """One sentence per department and task that will not make the deadline."""
    if bulletin.deadlines is None or bulletin.campaign is None:
        return []
    lines = []
    for row in bulletin.deadlines.to_dict("records"):
        for task in TASKS:
            status = row.get(f"{task.key}_status")
            if status not in BEHIND:
                continue
            common = {"name": row[f.NAME], "task": task.title,
                      "share": pct(row[f"{task.key}_share"]),
                      "deadline": row[f"{task.key}_deadline"].isoformat(),
                      "pace": f"{row[f'{task.key}_pace']:.1f}", "unit": _(task.unit)}
            if status == "LATE":
                lines.append(_("{name}: {task} {share} done, {pace} {unit} a week; at this pace "
                               "done by {projected}, after the deadline {deadline}.",
                               projected=row[f"{task.key}_projected"].isoformat(), **common))
            elif status == "STALLED":
                lines.append(_("{name}: {task} {share} done, no progress in the last weeks; "
                               "at this pace it will not be done by the deadline {deadline}.",
                               **common))
            else:
                lines.append(_("{name}: {task} {share} done; the deadline {deadline} has "
                               "passed.", **common))
    return lines


# -- HTML ----------------------------------------------------------------------------------

_STYLE = f"""
body {{ font-family: {FONT}; margin: 32px 40px; color: #1d1d1f; background: #fff; }}
h1 {{ font-size: 26px; margin-bottom: 4px; color: #8b0000; }}
h2 {{ font-size: 19px; margin-top: 28px; border-left: 5px solid #8b0000; padding-left: 8px; }}
h3 {{ font-size: 16px; margin-top: 18px; }}
p.week {{ color: #555; margin-top: 0; }}
p.headline {{ font-size: 16px; line-height: 1.8; background: #f6f3ea; padding: 12px 16px; }}
p.warning {{ font-size: 16px; background: #fff3cd; border: 1px solid #e0a800;
             padding: 10px 16px; color: #7a4b00; }}
table {{ border-collapse: collapse; font-size: 14px; margin-bottom: 8px; }}
th, td {{ border: 1px solid #c8c8c8; padding: 5px 9px; text-align: right; white-space: nowrap; }}
th {{ background: #1f4e79; color: #fff; font-weight: normal; white-space: normal;
      text-align: center; }}
td.name {{ text-align: left; white-space: normal; min-width: 7em; max-width: 18em; }}
tr:nth-child(even) td {{ background: #f3f6fa; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 18px 40px; }}
.note {{ color: #666; font-size: 13px; }}
li.behind {{ color: #8b0000; }}
"""


def _p(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def _h3(text: str) -> str:
    return f"<h3>{html.escape(text)}</h3>"


def _td(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{html.escape(text)}</td>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]],
           text_columns: frozenset[int] = frozenset({2})) -> str:
    """A table; ``text_columns`` (positions) are left-aligned, the numbers right."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(_td(c, "name" if i in text_columns else None)
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _count(value: Any) -> str:
    return NOTHING if missing(value) else str(int(value))


def _ranking_header(bulletin: Bulletin) -> list[str]:
    return [_("rank"), _("change"), _("department"), _("score"),
            *(i.title for i in INDICATORS if i.key in bulletin.weights.values
              and (i.key != "sharing" or bulletin.sharing is not None))]


def _ranking_rows(bulletin: Bulletin) -> list[list[str]]:
    shown = [i for i in INDICATORS if i.key != "sharing" or bulletin.sharing is not None]
    return [[str(r[RANK]) if bulletin.ranked else NOTHING,
             moved(r[MOVEMENT], ranked_before=bulletin.ranked and bulletin.previous_active),
             r[f.NAME], f"{r[SCORE]:.1f}", *(pct(r[i.column]) for i in shown)]
            for r in bulletin.ranking.to_dict("records")]


def _charts(bulletin: Bulletin) -> list[str]:
    ranked = bulletin.ranking
    labels = list(ranked[f.NAME])
    return [bar_chart(_("{indicator} (weight {weight})", indicator=i.title,
                        weight=format(bulletin.weights.values[i.key], "g")), labels,
                      list(ranked[i.column]))
            for i in INDICATORS if bulletin.weights.values[i.key] > 0]


def _trend_charts(bulletin: Bulletin) -> list[str]:
    trend = bulletin.trend
    if trend is None or trend.empty:
        return []
    weeks = list(dict.fromkeys(trend[WEEK]))
    names = list(dict.fromkeys(trend[f.NAME]))

    def series(column: str) -> list[tuple[str, list[Any]]]:
        return [(name, [v for v in trend.loc[trend[f.NAME] == name].set_index(WEEK)[column]
                        .reindex(weeks)]) for name in names]

    charts = [line_chart(_("score, week by week"), weeks,
                         [(n, [None if missing(v) else v / 100 for v in vs])
                          for n, vs in series(SCORE)])]
    charts += [line_chart(i.title, weeks, series(i.key)) for i in INDICATORS
               if bulletin.weights.values[i.key] > 0]
    return charts


def _sharing_html(bulletin: Bulletin) -> list[str]:
    if bulletin.sharing is None:
        return [_p(_("The provincial platform is not configured: sharing was not measured "
                     "and does not count in the score this week."), "note")]
    tables = bulletin.sharing
    w, total = tables.week, tables.total
    summary = _("This week other offices made {queries} queries and {checks} checks of the "
                "city's licenses: {uses} licenses used, {avoided} delivered (each a paper copy "
                "the applicant did not have to submit), {failed} not delivered. Since the first "
                "use: {all} submissions avoided.", queries=w["queries"], checks=w["checks"],
                uses=w["uses"], avoided=w["avoided"], failed=w["failed"], all=total["avoided"])
    out = [f"<p>{html.escape(summary)}</p>"]
    rows = [[r[f.NAME], _count(r[s.SHARED_USES_WEEK]), _count(r[s.SHARED_AVOIDED_WEEK]),
             _count(r[s.SHARED_FAILED_WEEK]), pct(r[s.SHARE_SUCCESS]),
             _count(r[s.SHARED_LICENSES_WEEK]), _count(r[s.SHARED_AVOIDED]),
             _count(r[s.SHARED_LICENSES])] for r in bulletin.ranking.to_dict("records")]
    out.append(_table([_("department"), _("uses this week"), _("delivered"),
                       _("not delivered"), indicator("sharing").title,
                       _("licenses used"), _("submissions avoided in all"),
                       _("licenses used in all")], rows, frozenset({0})))
    rule = _("From the provincial platform's use log. A use is one license served to a query "
             "or compared by a check; a check that found no license counts against the "
             "department it named; a query that found nothing counts city-wide only.")
    by_type = [[r[f.TYPE_NAME] or r[f.TYPE_CODE] or NOTHING, str(r["uses_week"]),
                str(r["avoided_week"]), str(r["failed_week"]), str(r["uses_total"]),
                str(r["avoided_total"])] for r in tables.by_type.to_dict("records")]
    by_cause = [[r[s.CAUSE], str(r["uses_week"]), str(r["avoided_week"]), str(r["uses_total"]),
                 str(r["avoided_total"])] for r in tables.by_cause.head(10).to_dict("records")]
    out += [_h3(_("By license type")),
            _table([_("license type"), _("uses this week"), _("delivered"), _("not delivered"),
                    _("uses in all"), _("delivered in all")], by_type, frozenset({0})),
            _h3(_("By use cause")),
            _table([_("use cause"), _("uses this week"), _("delivered"), _("uses in all"),
                    _("delivered in all")], by_cause, frozenset({0})),
            f'<p class="note">{html.escape(rule)}</p>']
    return out


def _deadline_html(bulletin: Bulletin) -> list[str]:
    if bulletin.deadlines is None or bulletin.campaign is None:
        return []
    tasks = [t for t in TASKS if t.key in bulletin.campaign.deadlines]
    header = [_("department")]
    for t in tasks:
        header += [_("{task}: done", task=t.title), _("pace a week"), _("projected"),
                   _("deadline status")]
    rows = []
    for r in bulletin.deadlines.to_dict("records"):
        row = [r[f.NAME]]
        for t in tasks:
            total = r[f"{t.key}_total"]
            done = (f"{r[f'{t.key}_done']}/{int(total)} ({pct(r[f'{t.key}_share'])})"
                    if not missing(total) else f"{r[f'{t.key}_done']}/{NOTHING}")
            projected = r[f"{t.key}_projected"]
            row += [done, f"{r[f'{t.key}_pace']:.1f}",
                    projected.isoformat() if projected is not None else NOTHING,
                    _(STATUS_TITLES[r[f"{t.key}_status"]])]
        rows.append(row)
    dates = _(", ").join(_("{task} by {date}", task=t.title,
                           date=bulletin.campaign.deadlines[t.key].isoformat()) for t in tasks)
    lines = behind_lines(bulletin)
    named = ("<ul>\n" + "\n".join(f'<li class="behind">{html.escape(x)}</li>' for x in lines)
             + "\n</ul>") if lines else (
        _p(_("Every department is on track for the deadlines.")))
    return [_p(_("Deadlines: {dates}. The pace is the progress of the last {weeks} weeks, per "
                 "week.", dates=dates, weeks=bulletin.campaign.pace_weeks)),
            _table(header, rows, frozenset({0})),
            _h3(_("Departments that will not make the deadline")), named]


def _detail_rows(bulletin: Bulletin) -> list[list[str]]:
    rows = []
    for r in bulletin.ranking.to_dict("records"):
        rows.append([
            str(r[RANK]) if bulletin.ranked else NOTHING, r[f.DEPARTMENT], r[f.NAME],
            f"{r[f.ROWS_UPLOADED_WEEK]} / {r[f.ROWS_SUBMITTED_WEEK]} / {r[f.ROWS_SUBMITTED]}",
            f"{r[f.ROWS_SEALED]} / {r[f.ROWS_FILTERED]} / {r[f.ROWS_REJECTED]}",
            reasons_text(r[f.TOP_REASONS]),
            f"{r[f.SEALS_APPLIED]} / {r[f.SEALS_MADE]} / {r[f.SEALS_AUTHORIZED]} / "
            f"{r[f.SEALS_SUSPENDED]}",
            stage_text(r[f.TEMPLATE_STAGES]) or NOTHING,
            f"{r[f.LICENSES_ACKED]} / {r[f.LICENSES_SEALED]}",
            f"{r[f.EVENTS_ACKED_WEEK]}", hours(r[f.ACK_MEDIAN_HOURS]), hours(r[f.ACK_P95_HOURS]),
            str(r[f.DEAD_LETTERS]),
            (f"{r[f.AUDIT_PASSED]} / {r[f.AUDITED]}" if r[f.AUDITED] else NOTHING),
            str(r[f.AUDIT_HISTORY]),
        ])
    return rows


def _detail_header() -> list[str]:
    return [_("rank"), _("USCC"), _("department"),
            _("uploaded this week / new this week / submitted"),
            _("sealed / filtered / rejected"), _("main reasons"),
            _("seals applied / made / active / suspended"), _("templates"),
            _("aggregation acknowledged / sealed"), _("acknowledged this week"),
            _("median time to acknowledge"), _("95th percentile"), _("dead letters"),
            _("verification passed / in force"), _("history versions")]


def render_html(bulletin: Bulletin) -> str:
    """The whole bulletin as one self-contained HTML page."""
    week = bulletin.week
    lines = laggard_lines(bulletin)
    nobody = (_("No ranking this week: nothing happened.") if not bulletin.ranked
              else _("No department needs to be named this week."))
    laggard_html = ("<ul>\n" + "\n".join(f"<li>{html.escape(x)}</li>" for x in lines)
                    + "\n</ul>") if lines else f"<p>{html.escape(nobody)}</p>"
    title = _("Weekly bulletin of electronic licenses and seals ({week})", week=str(week))
    lang = _("en")  # the page's language tag, as the catalogue says (zh-CN in Chinese)
    warn = warning(bulletin)
    note = _("Score = 100 × Σ weight × indicator / Σ weight; weights: {weights} ({file}). Equal "
             "scores are ordered by the heavier indicators, then by USCC. An indicator with "
             "nothing to measure counts 0 and reads {nothing}.",
             weights=_weights_text(bulletin.weights), file=Path(bulletin.weights.source).name,
             nothing=NOTHING)
    if not bulletin.ranked:
        note = _("No activity this week: no department is placed or named. ") + note
    sections = [
        ("1", _("Ranking"), [_table(_ranking_header(bulletin), _ranking_rows(bulletin)),
                             f'<p class="note">{html.escape(note)}</p>']),
        ("2", _("Indicators"), ['<div class="charts">', *_charts(bulletin), "</div>"]),
        ("3", _("Trend over the last weeks"),
         ['<div class="charts">', *_trend_charts(bulletin), "</div>",
          _p(_("A gap in a line: nothing to measure that week."), "note")]),
        ("4", _("Sharing and mutual recognition"), _sharing_html(bulletin)),
        ("5", _("Campaign deadlines"), _deadline_html(bulletin)),
        ("6", _("Figures per department"),
         [_table(_detail_header(), _detail_rows(bulletin), frozenset({1, 2, 5, 7}))]),
        ("7", _("Departments that need to speed up"), [laggard_html]),
    ]
    body = []
    for number, heading, parts in sections:
        if parts:
            numbered = _("{n}. {title}", n=number, title=heading)
            body += [f"<h2>{html.escape(numbered)}</h2>", *parts]
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(lang)}">',
        f'<head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="week">{html.escape(_week_title(week))}</p>',
        *([f'<p class="warning">{html.escape(warn)}</p>'] if warn else []),
        f'<p class="headline">{html.escape(headline(bulletin))}</p>',
        *body,
        "</body>",
        "</html>",
        "",
    ])


# -- markdown (the Prefect artifact) ---------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(bulletin: Bulletin, files: Sequence[Path] = ()) -> str:
    """The bulletin as markdown: warning, headline, ranking, laggards, deadlines, files."""
    header = _ranking_header(bulletin)
    title = _("Weekly bulletin of electronic licenses and seals ({week})", week=str(bulletin.week))
    out = [f"# {title}", ""]
    warn = warning(bulletin)
    if warn:
        out += [f"> **{_md(warn)}**", ""]
    out += [_md(headline(bulletin)), "",
            "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _ranking_rows(bulletin)]
    out += ["", _("Weights: {weights}", weights=_md(_weights_text(bulletin.weights))), "",
            "## " + _("Departments that need to speed up"), ""]
    nobody = (_("No ranking this week: nothing happened.") if not bulletin.ranked
              else _("No department needs to be named this week."))
    out += [f"- {_md(line)}" for line in laggard_lines(bulletin)] or [nobody]
    behind = behind_lines(bulletin)
    if behind:
        out += ["", "## " + _("Departments that will not make the deadline"), ""]
        out += [f"- {_md(line)}" for line in behind]
    if files:
        out += ["", "## " + _("Files"), ""] + [f"- `{p}`" for p in files]
    return "\n".join(out) + "\n"
