"""Numbering rules for 证照编号 (ZZBH), as a template states them.

Most departments number their licenses themselves and send the number in their files: that is
the default rule, ``{"assigned_by": "department"}``. When the registry assigns numbers, the rule
carries a pattern made of literal characters and three fields:

``{division}``  the department's GB/T 2260 division code (6 digits)
``{yyyy}``      the year of issue
``{seq:N}``     a sequence number, zero-padded to N digits (exactly one, N from 1 to 12)

>>> rule = check_numbering({"assigned_by": "registry", "pattern": "{division}{yyyy}{seq:6}"})
>>> assign_number(rule, division_code="330100", year=2026, seq=42)
'3301002026000042'
"""

from __future__ import annotations

import re
from typing import Any

from registry.errors import NumberingError
from registry.i18n import _

__all__ = [
    "BY_DEPARTMENT",
    "assign_number",
    "check_numbering",
]

BY_DEPARTMENT: dict[str, Any] = {"assigned_by": "department"}
"""The default rule: numbers come from the department's files."""

_FIELD = re.compile(r"\{([a-z]+)(?::(\d+))?\}")
_LITERAL = re.compile(r"^[0-9A-Za-z\-]*$")
_MAX_NUMBER = 100  # base-elements.json: ZZBH maxLength


def _parts(pattern: str) -> list[tuple[str, str, int]]:
    """The pattern as (kind, text, width) parts: kind is "literal", "division", "yyyy", "seq"."""
    parts: list[tuple[str, str, int]] = []
    pos = 0
    for match in [*_FIELD.finditer(pattern), None]:
        literal = pattern[pos : match.start() if match else len(pattern)]
        if literal:
            if not _LITERAL.match(literal):
                raise NumberingError(_(
                    "numbering pattern {pattern}: literal text {literal} may hold only 0-9 A-Z "
                    "a-z and '-'", pattern=repr(pattern), literal=repr(literal)))
            parts.append(("literal", literal, 0))
        if match is None:
            break
        name, width = match.group(1), match.group(2)
        if name == "seq":
            if width is None or not 1 <= int(width) <= 12:
                raise NumberingError(_("numbering pattern {pattern}: {seq} needs N of 1-12",
                                       pattern=repr(pattern), seq="{seq:N}"))
            parts.append(("seq", "", int(width)))
        elif name in ("division", "yyyy") and width is None:
            parts.append((name, "", 0))
        else:
            raise NumberingError(_(
                "numbering pattern {pattern}: unknown field {field} (known: {known})",
                pattern=repr(pattern), field=match.group(0),
                known="{division}, {yyyy}, {seq:N}"))
        pos = match.end()
    return parts


def check_numbering(rule: dict[str, Any] | None) -> dict[str, Any]:
    """The rule, checked; None means :data:`BY_DEPARTMENT`. Raises NumberingError."""
    if rule is None:
        return dict(BY_DEPARTMENT)
    assigned_by = rule.get("assigned_by")
    if assigned_by == "department":
        if set(rule) != {"assigned_by"}:
            raise NumberingError(_("a department-assigned numbering rule takes no other keys"))
        return dict(BY_DEPARTMENT)
    if assigned_by != "registry":
        raise NumberingError(_("numbering rule assigned_by {value} must be 'department' or "
                               "'registry'", value=repr(assigned_by)))
    pattern = rule.get("pattern")
    if not isinstance(pattern, str) or set(rule) != {"assigned_by", "pattern"}:
        raise NumberingError(_("a registry-assigned numbering rule needs exactly a 'pattern'"))
    if sum(kind == "seq" for kind, _text, _width in _parts(pattern)) != 1:
        raise NumberingError(_("numbering pattern {pattern} needs exactly one {seq}",
                               pattern=repr(pattern), seq="{seq:N}"))
    return {"assigned_by": "registry", "pattern": pattern}


def assign_number(rule: dict[str, Any], *, division_code: str, year: int, seq: int) -> str:
    """The 证照编号 for sequence number ``seq`` under a registry-assigned ``rule``."""
    checked = check_numbering(rule)
    if checked["assigned_by"] != "registry":
        raise NumberingError(_("this template's numbers are assigned by the department"))
    if not (len(division_code) == 6 and division_code.isdigit()):
        raise NumberingError(_("division code {code} must be 6 digits",
                               code=repr(division_code)))
    out = []
    for kind, text, width in _parts(checked["pattern"]):
        if kind == "division":
            out.append(division_code)
        elif kind == "yyyy":
            out.append(f"{year:04d}")
        elif kind == "seq":
            if not 0 < seq < 10**width:
                raise NumberingError(_("sequence number {seq} does not fit in {width} digits",
                                       seq=seq, width=width))
            out.append(f"{seq:0{width}d}")
        else:
            out.append(text)
    number = "".join(out)
    if len(number) > _MAX_NUMBER:
        raise NumberingError(_("number {start}… is longer than {n} characters",
                               start=number[:20], n=_MAX_NUMBER))
    return number
