"""One week's bulletin, computed: what the renderers and exports are handed.

:func:`registry.bulletin.weekly.build_bulletin` makes it; ``render.py`` (the HTML page and
the markdown artifact), ``exports.py`` (CSV and XLSX) and the command line only read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from registry.bulletin.deadline import Campaign
from registry.bulletin.ranking import Weights
from registry.bulletin.week import IsoWeek

__all__ = ["Bulletin", "SharingTables"]


@dataclass(frozen=True)
class SharingTables:
    """The city-wide sharing figures of the week (registry.bulletin.sharing)."""

    week: dict[str, int]
    """The week's queries, checks, uses, avoided and failed (city_sharing)."""
    total: dict[str, int]
    """The same since the first use, to the week's end."""
    by_type: pd.DataFrame
    """sharing_by(TYPE_CODE): uses, avoided, failed per license type, week and total."""
    by_cause: pd.DataFrame
    """sharing_by(CAUSE): the same per use cause."""
    detail: pd.DataFrame
    """sharing_detail: per department, type, cause, action, outcome (sharing.csv)."""


@dataclass(frozen=True)
class Bulletin:
    """One week's bulletin."""

    week: IsoWeek
    figures: pd.DataFrame
    """This week's figures, one row per department (figures + sharing columns)."""
    ranking: pd.DataFrame
    """The same rows ranked, best first, with SCORE, RANK, PREVIOUS_RANK, MOVEMENT."""
    laggards: pd.DataFrame
    """registry.bulletin.ranking.laggards of the ranking (empty in a week without activity)."""
    weights: Weights
    """The weights the score used (sharing left out when it could not be measured)."""
    active: bool
    """Whether anything happened in the week (registry.bulletin.sharing.was_active)."""
    previous_active: bool = True
    """Whether the week before had a ranking (movement is against it only then)."""
    as_of: dt.datetime | None = None
    """The time the figures are as of: the week's end, or the time of a week not yet over."""
    partial: bool = False
    """The week had not ended when the bulletin was made: its figures are provisional."""
    sharing: SharingTables | None = None
    """City-wide sharing; None when no provincial platform was read."""
    deadlines: pd.DataFrame | None = None
    """registry.bulletin.deadline.deadline_figures, one row per department."""
    campaign: Campaign | None = None
    trend: pd.DataFrame | None = None
    """registry.bulletin.trend.trend_frame: per week and department, score and indicators."""

    @property
    def ranked(self) -> bool:
        """Whether the week names places: only a week with activity does."""
        return self.active
