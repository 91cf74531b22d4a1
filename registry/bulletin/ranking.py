"""The weekly ranking (周排名): a composite score, a deterministic order, movement, laggards.

Each :data:`INDICATORS` entry is a share between 0 and 1 computed by
:mod:`registry.bulletin.figures`; the weights come from a TOML file (the packaged
``weights.toml`` unless another is given) and the score is
``100 × Σ weight × indicator / Σ weight``. An indicator with nothing to measure that week
(NaN: no rows submitted, nothing acknowledged, no audit run) counts 0: the ranking rewards
what was delivered.

Order (every rank is distinct): score, highest first; then the weighted indicators one by one
in decreasing weight (equal weights in :data:`INDICATORS` order), highest first; then the
department's USCC, ascending. Movement is last week's rank minus this week's (positive: up),
computed the same way from last week's figures. The laggards are the bottom third of the
ranking (at least one department) short of a full score, each named with the indicator that
costs it the most points (its largest weighted shortfall; ties in the same order as above).

>>> weights = load_weights()                                          # doctest: +SKIP
>>> ranked = rank(figures, weights, previous=last_week_figures)      # doctest: +SKIP
>>> laggards(ranked, weights)                                         # doctest: +SKIP
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from registry.bulletin.figures import (
    ACKED_SHARE,
    ACKED_WITHIN_24H,
    DEPARTMENT,
    NAME,
    PASS_RATE,
    SEAL_COVERAGE,
    SEALED_SHARE,
    TEMPLATE_COVERAGE,
)
from registry.bulletin.sharing import SHARE_SUCCESS
from registry.errors import ConfigError
from registry.i18n import N_, _, os_reason

__all__ = [
    "DEFAULT_WEIGHTS",
    "HELD_BACK_BY",
    "INDICATORS",
    "INDICATOR_VALUE",
    "LAGGARD_SHARE",
    "MOVEMENT",
    "POINTS_LOST",
    "PREVIOUS_RANK",
    "RANK",
    "SCORE",
    "Indicator",
    "Weights",
    "indicator",
    "laggards",
    "load_weights",
    "parse_weights",
    "rank",
    "score",
]

SCORE = "score"
"""Composite score, 0–100."""
RANK = "rank"
"""1 for the best; every rank is distinct."""
PREVIOUS_RANK = "previous_rank"
"""The department's rank the week before (NA: not ranked then)."""
MOVEMENT = "movement"
"""previous_rank − rank: positive moved up, negative down, NA new."""
HELD_BACK_BY = "held_back_by"
"""Laggards: the key of the indicator that costs the most points."""
INDICATOR_VALUE = "indicator_value"
"""Laggards: that indicator's value (NaN: nothing to measure, counted 0)."""
POINTS_LOST = "points_lost"
"""Laggards: score points that indicator costs (weight share × shortfall × 100)."""

DEFAULT_WEIGHTS = Path(__file__).with_name("weights.toml")
"""The packaged weights (``licreg bulletin --weights FILE`` replaces them)."""
LAGGARD_SHARE = 1 / 3
"""The bottom third of the ranking is named as laggards."""


@dataclass(frozen=True)
class Indicator:
    """One ranked indicator: a share between 0 and 1."""

    key: str
    """Its name in the weights file."""
    column: str
    """The figures column it reads."""
    message: str
    """Its name in the bulletin, as a message (translated by :attr:`title`)."""

    @property
    def title(self) -> str:
        """Its name in the bulletin, in the current language."""
        return _(self.message)


INDICATORS = (
    Indicator("stock", SEALED_SHARE, N_("stock sealed rate")),
    Indicator("seals", SEAL_COVERAGE, N_("seal authorization coverage")),
    Indicator("templates", TEMPLATE_COVERAGE, N_("template publication rate")),
    Indicator("aggregation", ACKED_SHARE, N_("aggregation acknowledged rate")),
    Indicator("timeliness", ACKED_WITHIN_24H, N_("aggregated within 24 hours")),
    Indicator("verification", PASS_RATE, N_("verification pass rate")),
    Indicator("sharing", SHARE_SUCCESS, N_("sharing delivered rate")),
)
"""Every indicator the weights file may name, in their tie-break order at equal weight."""
_BY_KEY = {i.key: i for i in INDICATORS}


@dataclass(frozen=True)
class Weights:
    """Validated weights: every indicator has one (0 when the file leaves it out)."""

    source: str
    """The file they were read from."""
    values: Mapping[str, float]
    """Indicator key → weight, at least one positive."""

    @property
    def total(self) -> float:
        return sum(self.values.values())

    def ordered(self) -> tuple[Indicator, ...]:
        """The weighted indicators, heaviest first (equal weights in INDICATORS order): the
        tie-break order."""
        weighted = [i for i in INDICATORS if self.values[i.key] > 0]
        return tuple(sorted(weighted, key=lambda i: -self.values[i.key]))

    def describe(self) -> str:
        """``stock 30, aggregation 25, …`` in tie-break order."""
        return ", ".join(f"{i.key} {self.values[i.key]:g}" for i in self.ordered())

    def without(self, key: str) -> Weights:
        """These weights with ``key`` left out (weight 0): an indicator that could not be
        measured for anybody this week. ConfigError when nothing would be left."""
        values = {**self.values, key: 0.0}
        if not any(values.values()):
            raise ConfigError(_("{source}: [weights]: only {key} has a weight, and it cannot be "
                                "measured", source=self.source, key=key))
        return Weights(source=self.source, values=values)


def _weight(source: str, key: str, value: Any) -> float:
    where = f"{source}: [weights].{key}"
    if key not in _BY_KEY:
        raise ConfigError(_("{where}: unknown indicator; known: {known}", where=where,
                            known=", ".join(_BY_KEY)))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(_("{where}: the weight must be a number, not {value}", where=where,
                            value=repr(value)))
    if not math.isfinite(value) or value < 0:
        raise ConfigError(_("{where}: the weight must be a finite number ≥ 0, not {value}",
                            where=where, value=repr(value)))
    return float(value)


def parse_weights(doc: Mapping[str, Any], source: str) -> Weights:
    """Check a parsed weights document; ConfigError naming ``source`` and the key if not."""
    for key in doc:
        if key != "weights":
            raise ConfigError(_("{source}: unknown key {key}; the file holds one [weights] table",
                                source=source, key=repr(key)))
    table = doc.get("weights")
    if not isinstance(table, Mapping):
        raise ConfigError(_("{source}: no [weights] table (indicator = weight, e.g. stock = 30)",
                            source=source))
    values = {i.key: 0.0 for i in INDICATORS}
    values.update({key: _weight(source, key, value) for key, value in table.items()})
    if not any(values.values()):
        raise ConfigError(_("{source}: [weights]: every weight is 0; give at least one of "
                            "{known} a positive weight", source=source,
                            known=", ".join(_BY_KEY)))
    return Weights(source=source, values=values)


def load_weights(path: Path | None = None) -> Weights:
    """The weights in ``path`` (default: the packaged :data:`DEFAULT_WEIGHTS`)."""
    path = path or DEFAULT_WEIGHTS
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(_("{path}: cannot read the weights file: {reason}", path=str(path),
                            reason=os_reason(exc))) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(_("{path}: not a valid TOML weights file: {reason}", path=str(path),
                            reason=str(exc))) from exc
    return parse_weights(doc, str(path))


def _indicator_values(figures: pd.DataFrame) -> pd.DataFrame:
    """Each indicator's value, NaN counted 0, clipped to [0, 1]."""
    return pd.DataFrame({i.key: figures[i.column].astype(float).fillna(0.0).clip(0.0, 1.0)
                         for i in INDICATORS}, index=figures.index)


def score(figures: pd.DataFrame, weights: Weights) -> pd.Series:
    """The composite score per row of ``figures``, 0–100."""
    values = _indicator_values(figures)
    weighted = sum((values[key] * weight for key, weight in weights.values.items()),
                   start=pd.Series(0.0, index=values.index))
    return (100.0 * weighted / weights.total).rename(SCORE)


def _order(figures: pd.DataFrame, weights: Weights) -> pd.DataFrame:
    """``figures`` with SCORE and RANK, best first (see the module docstring for ties)."""
    values = _indicator_values(figures)
    scores = score(figures, weights)
    # Rounded keys: float noise in the ninth decimal must not decide a rank.
    keys = pd.DataFrame({"_score": scores.round(9)}, index=figures.index)
    tie_break = [f"_{i.key}" for i in weights.ordered()]
    for ind, column in zip(weights.ordered(), tie_break, strict=True):
        keys[column] = values[ind.key].round(9)
    keys["_department"] = figures[DEPARTMENT]
    order = keys.sort_values(["_score", *tie_break, "_department"],
                             ascending=[False] * (1 + len(tie_break)) + [True],
                             kind="mergesort").index
    ranked = figures.loc[order].assign(**{SCORE: scores.loc[order]})
    ranked[RANK] = range(1, len(ranked) + 1)
    return ranked.reset_index(drop=True)


def rank(figures: pd.DataFrame, weights: Weights,
         previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """``figures`` ranked, best first, with SCORE, RANK, PREVIOUS_RANK and MOVEMENT (from
    ``previous``: last week's figures, ranked the same way; NA for all when nobody scored
    anything last week)."""
    ranked = _order(figures, weights)
    before = pd.Series(dtype="Int64")
    if previous is not None:
        # A week in which nobody delivered anything ranks by the tie break's alphabet alone:
        # moving from that order means nothing, so there is no movement to show.
        last = _order(previous, weights)
        if (last[SCORE] > 0).any():
            before = last.set_index(DEPARTMENT)[RANK]
    ranked[PREVIOUS_RANK] = ranked[DEPARTMENT].map(before).astype("Int64")
    ranked[MOVEMENT] = (ranked[PREVIOUS_RANK] - ranked[RANK]).astype("Int64")
    return ranked


def laggards(ranked: pd.DataFrame, weights: Weights) -> pd.DataFrame:
    """The bottom third of ``ranked`` (at least one) short of 100, each with the indicator
    holding it back: RANK, DEPARTMENT, NAME, SCORE, HELD_BACK_BY, INDICATOR_VALUE,
    POINTS_LOST, in rank order."""
    columns = [RANK, DEPARTMENT, NAME, SCORE, HELD_BACK_BY, INDICATOR_VALUE, POINTS_LOST]
    if ranked.empty:
        return pd.DataFrame(columns=columns)
    count = max(1, math.ceil(len(ranked) * LAGGARD_SHARE))
    bottom = ranked.sort_values(RANK).tail(count)
    bottom = bottom[bottom[SCORE].round(9) < 100]
    values = _indicator_values(bottom)
    ordered = weights.ordered()
    lost = pd.DataFrame({i.key: 100.0 * weights.values[i.key] * (1.0 - values[i.key])
                         / weights.total for i in ordered}, index=bottom.index)
    held = lost.round(9).idxmax(axis=1) if not bottom.empty else pd.Series(dtype=str)
    out = bottom[[RANK, DEPARTMENT, NAME, SCORE]].copy()
    out[HELD_BACK_BY] = held
    out[INDICATOR_VALUE] = pd.Series(
        [bottom.at[row, _BY_KEY[str(key)].column] for row, key in held.items()], index=out.index)
    out[POINTS_LOST] = pd.Series([lost.at[row, key] for row, key in held.items()],
                                 index=out.index)
    return out.sort_values(RANK).reset_index(drop=True)[columns]


def indicator(key: str) -> Indicator:
    """The indicator named ``key`` in a weights file."""
    return _BY_KEY[key]
