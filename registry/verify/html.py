"""``licreg verify --report report.html``: one self-contained page an auditor can file.

The page has the validation time, the counts by indication and by sub-indication, then one
section per report that did not pass, with its reasons and every check. Passing licenses are
only counted (a registry of 100,000 licenses makes a page of what needs attention, not a
phone book). Everything from the data is HTML-escaped.

Example::

    Path("report.html").write_text(render_html(reports, validation_time=at), encoding="utf-8")
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from html import escape

from registry.verify.report import Indication, VerificationReport

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


def _cls(value: str) -> str:
    return f'<span class="{escape(value)}">{escape(value)}</span>'


def render_html(
    reports: Sequence[VerificationReport],
    *,
    validation_time: dt.datetime,
    title: str = "licreg verification report",
    notes: Sequence[str] = (),
) -> str:
    """The report page for ``reports``; ``notes`` are extra summary lines (e.g. log sizes)."""
    by_indication = Counter(r.indication for r in reports)
    by_sub = Counter(
        (r.indication, r.sub_indication) for r in reports if r.indication is not Indication.PASSED
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Validation time: <code>{escape(validation_time.isoformat())}</code>. "
        f"Items: {len(reports)}.</p>",
    ]
    out.extend(f"<p>{escape(note)}</p>" for note in notes)
    out.append("<h2>Summary</h2><table>")
    out.append(_row("indication", "count", header=True))
    for indication in Indication:
        out.append(_row(_cls(indication.value), str(by_indication.get(indication, 0))))
    out.append("</table>")
    if by_sub:
        out.append("<table>")
        out.append(_row("indication", "sub-indication", "count", header=True))
        for (indication, sub), count in sorted(by_sub.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(_row(_cls(indication.value), escape(sub or ""), str(count)))
        out.append("</table>")
    failing = [r for r in reports if r.indication is not Indication.PASSED]
    out.append(f"<h2>Not passed ({len(failing)})</h2>")
    if not failing:
        out.append("<p>Every item passed.</p>")
    for number, report in enumerate(failing, 1):
        out.append(f'<section id="item-{number}">')
        out.append(f"<h3>{_cls(report.indication.value)} "
                   f"{escape(report.sub_indication or '')} — {escape(report.subject)}</h3>")
        if report.identifier and report.identifier != report.subject:
            out.append(f"<p>License: <code>{escape(report.identifier)}</code></p>")
        out.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in report.reasons) + "</ul>")
        out.append("<table>")
        out.append(_row("check", "result", "reason", "detail", header=True))
        for check in report.checks:
            shown = check.status.value
            out.append(_row(escape(check.name), _cls(shown), escape(check.reason),
                            escape(check.detail)))
        out.append("</table></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


