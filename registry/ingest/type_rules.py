"""Per-type ingest rules: small data files in ``schemas/ingest/<type code>.json``.

What differs between license types when a department's stock is read, and is data rather
than code:

- ``start_may_precede_issue``: the validity may start before the issue date. A 营业执照's
  营业期限 runs from the company's 成立日期, and a re-issued licence (换照) keeps it, so for
  that type the rule "颁证日期 ≤ 有效期起始日期" is replaced by "成立日期 ≤ 颁证日期";
- ``pdf_text``: how to find each element in the text layer of a license PDF without form
  fields: regular expressions whose named groups are element codes, tried in order, the first
  match of each element winning. A type without a file gets one pattern per element,
  ``<title>：<value>`` on a line of its own.

>>> rules = type_rules("11100000MB0143028R001")
>>> rules.start_may_precede_issue
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from registry.config import SCHEMA_DIR
from registry.errors import ConfigError
from registry.license.types import load_license_types

__all__ = ["RULES_DIR", "TypeRules", "type_rules"]

RULES_DIR = SCHEMA_DIR / "ingest"


@dataclass(frozen=True)
class TypeRules:
    """The ingest rules of one license type."""

    type_code: str
    start_may_precede_issue: bool
    """True when 有效期起始日期 may be earlier than 颁证日期 (see the module docstring)."""
    pdf_text: tuple[re.Pattern[str], ...]
    """Patterns over a PDF's text; named groups are element codes."""


def _default_patterns(type_code: str) -> list[str]:
    lt = load_license_types()[type_code]
    return [rf"(?m)^\s*{re.escape(e.title)}\s*[:：]\s*(?P<{e.code}>.+?)\s*$"
            for e in lt.elements if not e.derived]


@cache
def type_rules(type_code: str) -> TypeRules:
    """The rules of ``type_code`` (defaults when it has no file); raises ConfigError on a bad
    file, naming it."""
    path = RULES_DIR / f"{type_code}.json"
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            doc = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path}: not JSON ({exc})") from exc
        if doc.get("x-type-code") != type_code:
            raise ConfigError(f"{path}: x-type-code must be {type_code}")
    codes = {e.code for e in load_license_types()[type_code].elements} \
        if type_code in load_license_types() else set()
    sources = list(doc.get("pdf_text", {}).get("patterns", ())) or _default_patterns(type_code)
    patterns = []
    for source in sources:
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise ConfigError(f"{path}: bad pdf_text pattern {source!r} ({exc})") from exc
        unknown = set(pattern.groupindex) - codes
        if unknown:
            raise ConfigError(f"{path}: pattern {source!r} names no element of {type_code}: "
                              f"{sorted(unknown)}")
        patterns.append(pattern)
    return TypeRules(type_code=type_code,
                     start_may_precede_issue=bool(doc.get("start_may_precede_issue", False)),
                     pdf_text=tuple(patterns))
