"""Known-legitimate holder codes: codes that fail their check but were really issued.

Early pilot 统一社会信用代码 (STANDARDS.md §4.1) fail GB 32100 or GB 11714 and are still the
codes on real licenses. Rows carrying one are accepted and flagged ``KNOWN_EXCEPTION``, never
dropped. The list is data: ``schemas/ingest/known-codes.json`` ships the published ones, and an
operator adds codes in ``$LICREG_HOME/known-codes.txt`` (one per line, ``#`` starts a comment).

>>> "91350203M0001QAY9B" in load_known_codes()
True
"""

from __future__ import annotations

import json
from pathlib import Path

from registry.config import SCHEMA_DIR
from registry.errors import ConfigError
from registry.i18n import _
from registry.ingest.normalize import normalize_code

__all__ = ["KNOWN_CODES_FILE", "SHIPPED", "load_known_codes"]

SHIPPED = SCHEMA_DIR / "ingest" / "known-codes.json"
"""The published list shipped with the product."""
KNOWN_CODES_FILE = "known-codes.txt"
"""The operator's own list, under ``LICREG_HOME``."""


def load_known_codes(home: Path | None = None) -> frozenset[str]:
    """The shipped codes plus ``home/known-codes.txt`` when ``home`` is given and has one."""
    try:
        codes = {normalize_code(c) for c in json.loads(SHIPPED.read_text("utf-8"))["codes"]}
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(_("{file}: not a known-codes list ({error})", file=SHIPPED,
                            error=exc)) from exc
    extra = home / KNOWN_CODES_FILE if home is not None else None
    if extra is not None and extra.is_file():
        for line in extra.read_text("utf-8-sig").splitlines():
            code = normalize_code(line.split("#", 1)[0])
            if code:
                codes.add(code)
    return frozenset(codes)
