"""``licreg verify --report report.html``: one self-contained page an auditor can file.

The page is in the reader's language (``lang="zh-CN"`` by default, English on request), the
machine codes beside their words. It has the validation time (Beijing time), what was and was
not checked, the counts by indication and by sub-indication, then one section per report that
did not pass, with its reasons and every check, and a table of the superseded versions
(history: valid when issued, apart from both). Passing licenses are only counted (a registry
of 100,000 licenses makes a page of what needs attention, not a phone book). Everything from
the data is HTML-escaped.

Example::

    Path("report.html").write_text(render_html(reports, validation_time=at), encoding="utf-8")
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from html import escape

from registry.clock import china_text
from registry.i18n import _, current_language
from registry.verify.report import (
    Indication,
    VerificationReport,
    check_title,
    coverage,
    indication_text,
    reason_text,
    status_text,
)

__all__ = ["render_html"]

_STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}
.PASSED,.VALID{color:#1a7f37}.FAILED,.INVALID{color:#b42318}
.INDETERMINATE{color:#b54708}.SKIPPED{color:#667085}
section{border-top:1px solid #ddd;padding-top:.5em}
code{font-size:90%}
"""


def _row(*cells: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _cls(value: str, text: str) -> str:
    """``text`` coloured by the code ``value`` (PASSED, INVALID …), the code as its title."""
    return f'<span class="{escape(value)}" title="{escape(value)}">{escape(text)}</span>'


def _reason(code: str | None) -> str:
    """A sub-indication or reason in words, with its code beside it."""
    if not code:
        return ""
    text = reason_text(code)
    if text == code:
        return f"<code>{escape(code)}</code>"
    return f"{escape(text)} <code>{escape(code)}</code>"


def render_html(
    reports: Sequence[VerificationReport],
    *,
    validation_time: dt.datetime,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The report page for ``reports``, in the reader's language; ``notes`` are extra summary
    lines (e.g. log sizes). ``title`` defaults to "licreg verification report"."""
    title = title if title is not None else _("licreg verification report")
    by_indication = Counter(r.indication for r in reports if not r.history)
    history = [r for r in reports if r.history]
    checked, unchecked = coverage(reports)
    by_sub = Counter(
        (r.indication, r.sub_indication) for r in reports if r.indication is not Indication.PASSED
    )
    lang = "zh-CN" if current_language() == "zh" else "en"
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        "<p>" + escape(_("Validation time: {time}. Items: {n}.",
                         time=china_text(validation_time, seconds=True), n=len(reports)))
        + "</p>",
    ]
    out.extend(f"<p>{escape(note)}</p>" for note in notes)
    if checked:
        out.append("<p>" + escape(_("checked: {checks}", checks=_(", ").join(checked)))
                   + "</p>")
    out.extend(f'<p class="SKIPPED">{escape(line)}</p>' for line in unchecked)
    out.append("<h2>" + escape(_("Summary")) + "</h2><table>")
    out.append(_row(escape(_("indication")), escape(_("count")), header=True))
    for indication in Indication:
        out.append(_row(_cls(indication.value, indication_text(indication.value)),
                        str(by_indication.get(indication, 0))))
    out.append(_row(escape(_("history (superseded versions)")), str(len(history))))
    out.append("</table>")
    if by_sub:
        out.append("<table>")
        out.append(_row(escape(_("indication")), escape(_("sub-indication")),
                        escape(_("count")), header=True))
        for (indication, sub), count in sorted(by_sub.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(_row(_cls(indication.value, indication_text(indication.value)),
                            _reason(sub), str(count)))
        out.append("</table>")
    failing = [r for r in reports if r.indication is not Indication.PASSED]
    out.append("<h2>" + escape(_("Not passed ({n})", n=len(failing))) + "</h2>")
    if not failing:
        out.append("<p>" + escape(_("Every item passed.")) + "</p>")
    for number, report in enumerate(failing, 1):
        out.append(f'<section id="item-{number}">')
        out.append(f"<h3>{_cls(report.indication.value, indication_text(report.indication))} "
                   f"{_reason(report.sub_indication)} — {escape(report.subject)}</h3>")
        if report.identifier and report.identifier != report.subject:
            out.append("<p>" + escape(_("License: {identifier}", identifier=report.identifier))
                       + "</p>")
        out.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in report.reasons) + "</ul>")
        out.append("<table>")
        out.append(_row(escape(_("check")), escape(_("result")), escape(_("reason")),
                        escape(_("detail")), header=True))
        for check in report.checks:
            out.append(_row(escape(check_title(check.name)),
                            _cls(check.status.value, status_text(check.status.value)),
                            _reason(check.reason), escape(check.detail)))
        out.append("</table></section>")
    if history:
        out.append('<section id="history"><h2>' + escape(_(
            "history: superseded versions, valid when issued ({n})", n=len(history))) + "</h2>")
        out.append("<table>" + _row(escape(_("license")), escape(_("superseded by")),
                                    escape(_("superseded at")), header=True))
        for report in history:
            assert report.superseded is not None  # history is a superseded report
            out.append(_row(escape(report.subject), escape(report.superseded.successor),
                            escape(china_text(report.superseded.at, seconds=True))))
        out.append("</table></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
