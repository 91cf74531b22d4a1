"""The trend (走势): each indicator and the score, per department, over the last weeks.

:func:`trend_weeks` picks the weeks (the bulletin's week and up to :data:`TREND_WEEKS` − 1
before it, none before the registry's first record); :func:`trend_frame` puts each week's
figures side by side. The bulletin draws one line chart per indicator from it, so the office
sees who is improving.

>>> [str(w) for w in trend_weeks(IsoWeek(2026, 48), None)]
['2026-W48']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from registry.bulletin.figures import DEPARTMENT, NAME
from registry.bulletin.ranking import INDICATORS, SCORE, Weights, score
from registry.bulletin.week import IsoWeek

__all__ = ["TREND_WEEKS", "WEEK", "trend_frame", "trend_weeks"]

TREND_WEEKS = 12
"""Weeks a trend spans at most (the bulletin's week included)."""
WEEK = "week"


def trend_weeks(week: IsoWeek, first: pd.Timestamp | None,
                count: int = TREND_WEEKS) -> list[IsoWeek]:
    """``week`` and the weeks before it, oldest first: at most ``count``, and only weeks by
    whose end the registry had recorded something (``first``; None: an empty registry)."""
    weeks = [week]
    while len(weeks) < count:
        before = weeks[-1].previous()
        if first is None or pd.Timestamp(before.end) <= first:
            break
        weeks.append(before)
    return weeks[::-1]


def trend_frame(by_week: Mapping[IsoWeek, pd.DataFrame], weeks: Sequence[IsoWeek],
                weights: Weights) -> pd.DataFrame:
    """One row per week and department: WEEK, DEPARTMENT, NAME, SCORE and each indicator's
    value (its key; NaN where there was nothing to measure)."""
    parts = []
    for week in weeks:
        figures = by_week[week]
        part = figures[[DEPARTMENT, NAME]].copy()
        part.insert(0, WEEK, str(week))
        part[SCORE] = score(figures, weights)
        for ind in INDICATORS:
            part[ind.key] = figures[ind.column].astype(float)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
