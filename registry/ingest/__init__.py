"""Ingest: read a department's file and decide each row (pure functions, DataFrame in and out).

``reader`` streams a file as chunks of text cells with their line numbers (CSV there; ``xlsx``,
``jsonl``, ``pdf`` and ``archive`` for the other formats, under the same contract and the
``limits`` every reader checks); ``mapping`` reads a department's column mapping; ``normalize``
cleans cells (NFKC, codes, dates); ``rules`` maps the header onto a license type's elements
and decides each row: accepted, filtered (expired, classified) or rejected (and why), with
per-type rules in the type itself (``LicenseType.rules``) and the known-legitimate codes in
``known_codes``.

>>> from datetime import date
>>> from pathlib import Path
>>> from registry.license.types import catalogue
>>> lt = catalogue()["11100000MB15645531001"]
>>> seen: set[str] = set()
>>> for chunk in read_rows(Path("fixtures/batches/physicians.csv"), chunk_rows=5):
...     hmap = header_map(list(chunk.columns), lt)
...     out = evaluate(chunk, lt, hmap, today=date(2026, 11, 27), seen_numbers=seen)
"""

from registry.ingest.encoding import detect_encoding
from registry.ingest.frames import EXTRA, LINE, PROBLEMS, ReadOptions
from registry.ingest.limits import Limits
from registry.ingest.mapping import ColumnMapping, load_mapping
from registry.ingest.normalize import (
    NO_END,
    format_date,
    is_no_end,
    normalize_code,
    normalize_text,
    parse_date,
)
from registry.ingest.reader import read_rows
from registry.ingest.rules import (
    ACCEPTED,
    FILTERED,
    OUTCOME,
    RAW,
    REASON_CODES,
    REASONS,
    REJECTED,
    HeaderMap,
    evaluate,
    header_map,
    summarize,
)

__all__ = [
    "ACCEPTED",
    "EXTRA",
    "FILTERED",
    "LINE",
    "NO_END",
    "OUTCOME",
    "PROBLEMS",
    "RAW",
    "REASONS",
    "REASON_CODES",
    "REJECTED",
    "ColumnMapping",
    "HeaderMap",
    "Limits",
    "ReadOptions",
    "detect_encoding",
    "evaluate",
    "format_date",
    "header_map",
    "is_no_end",
    "load_mapping",
    "normalize_code",
    "normalize_text",
    "parse_date",
    "read_rows",
    "summarize",
]
