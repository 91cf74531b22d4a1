"""Sealed licenses for tests, made through the library's own issuing path (no batch)."""

from __future__ import annotations

import datetime as dt

from registry.bench.synthetic import pushed_business_license
from registry.bench.synthetic import seal_elements as seal_rows
from registry.config import Settings
from registry.db import make_engine, session_scope

BIZ = "11100000MB0143028R001"
RARE = ("𠮷", "堃", "㵘", "龘")


def seal_synthetic(settings: Settings, n: int, *, at: dt.datetime, start: int = 0,
                   valid_to: str = "20360512", chunk: int = 5000) -> int:
    """Seal ``n`` test 营业执照 numbered from ``start`` in the registry of ``settings``."""
    engine = make_engine(settings.database_url)
    for first in range(start, start + n, chunk):
        rows = [pushed_business_license(i, valid_to=valid_to)
                for i in range(first, min(start + n, first + chunk))]
        with session_scope(engine) as session:
            seal_rows(session, settings, rows, at=at)
    engine.dispose()
    return n
