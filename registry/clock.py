"""Time as the registry keeps it: instants in UTC, calendar days in China.

Every stored time is an aware UTC ``datetime``. A *day* — the day a license expires, the
archive folder of an inbox file, the week of a bulletin — is a day on the China calendar
(Asia/Shanghai, UTC+8 all year), because that is the calendar the licenses are written in.

>>> import datetime as dt
>>> china_day(dt.datetime(2026, 11, 27, 17, 30, tzinfo=dt.UTC))
datetime.date(2026, 11, 28)
>>> china_text(dt.datetime(2026, 11, 27, 17, 30, tzinfo=dt.UTC))
'2026-11-28 01:30 北京时间'
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from registry.i18n import _

__all__ = ["CHINA", "china_day", "china_text", "utc_now"]

CHINA = ZoneInfo("Asia/Shanghai")
"""The registry's calendar (北京时间)."""


def utc_now() -> dt.datetime:
    """Now, as an aware UTC datetime (library code takes ``at=`` instead of calling this)."""
    return dt.datetime.now(dt.UTC)


def china_day(at: dt.datetime) -> dt.date:
    """The China calendar day of the instant ``at``."""
    return at.astimezone(CHINA).date()


def china_text(at: dt.datetime, *, seconds: bool = False) -> str:
    """``at`` as a person in China reads it, with the zone named (in the reader's language)."""
    shown = at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return _("{time} Beijing time", time=shown)
