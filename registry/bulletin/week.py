"""The bulletin's week: an ISO week ``YYYY-Www`` on the China calendar (Asia/Shanghai).

The city dispatches by its own calendar, so week 48 of 2026 runs from Monday 23 November
00:00 to Monday 30 November 00:00 *Beijing time* (Sunday 16:00 UTC to Sunday 16:00 UTC).
Every figure is computed over the half-open interval ``[start, end)`` in UTC, which is how
the registry stores its times.

>>> week = IsoWeek.parse("2026-W48")
>>> week.start.isoformat(), week.end.isoformat()
('2026-11-22T16:00:00+00:00', '2026-11-29T16:00:00+00:00')
>>> str(week.previous())
'2026-W47'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from registry.errors import ConfigError
from registry.i18n import _

__all__ = ["CITY_TIME", "IsoWeek"]

CITY_TIME = ZoneInfo("Asia/Shanghai")
"""The city's clock: weeks start on Monday 00:00 here."""

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """One ISO 8601 week (ISO year and week number)."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W48`` → the week; a ConfigError naming the text if it is not one."""
        match = _WEEK_RE.match(text.strip())
        if match is None:
            raise ConfigError(_("week {text} is not an ISO week like 2026-W48", text=repr(text)))
        year, week = int(match[1]), int(match[2])
        try:
            dt.date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise ConfigError(_("week {text} does not exist: {reason}", text=repr(text),
                                reason=str(exc))) from exc
        return cls(year, week)

    @classmethod
    def containing(cls, at: dt.datetime) -> IsoWeek:
        """The week ``at`` (an aware time) falls in, on the city's calendar."""
        if at.tzinfo is None:
            raise ValueError("the time must be an aware datetime")
        year, week, _ = at.astimezone(CITY_TIME).isocalendar()
        return cls(year, week)

    @classmethod
    def last_complete(cls, now: dt.datetime) -> IsoWeek:
        """The newest week that has ended by ``now``: the default of ``licreg bulletin``
        (run on a Monday morning, it is the week that just ended)."""
        return cls.containing(now).previous()

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def start(self) -> dt.datetime:
        """Monday 00:00 in the city, as UTC."""
        local = dt.datetime.combine(self.monday, dt.time(), tzinfo=CITY_TIME)
        return local.astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The next Monday 00:00 in the city, as UTC (exclusive)."""
        return self.next().start

    def previous(self) -> IsoWeek:
        return IsoWeek.containing(self.start - dt.timedelta(days=1))

    def next(self) -> IsoWeek:
        return IsoWeek.containing(self.start + dt.timedelta(days=8))

    @property
    def sunday(self) -> dt.date:
        """The week's last day."""
        return self.monday + dt.timedelta(days=6)

    def days(self) -> str:
        """``2026-11-23 至 2026-11-29`` (local dates, both included; in the current
        language)."""
        return _("{first} to {last}", first=self.monday.isoformat(),
                 last=self.sunday.isoformat())

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"
