"""The ranking (registry.bulletin.ranking) on hand-built frames: ties, movement against last
week, laggards; and the weights file (no database)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from registry.bulletin import figures as f
from registry.bulletin import load_weights
from registry.bulletin.ranking import (
    DEFAULT_WEIGHTS,
    HELD_BACK_BY,
    MOVEMENT,
    POINTS_LOST,
    PREVIOUS_RANK,
    RANK,
    laggards,
    parse_weights,
    rank,
)
from registry.bulletin.sharing import SHARE_SUCCESS
from registry.errors import ConfigError


def ranked_frame(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """Departments with only stock and aggregation measured (the rest NaN: counted 0)."""
    frame = pd.DataFrame(rows, columns=[f.DEPARTMENT, f.SEALED_SHARE, f.ACKED_SHARE])
    frame[f.NAME] = "部门" + frame[f.DEPARTMENT]
    for column in (f.SEAL_COVERAGE, f.TEMPLATE_COVERAGE, f.ACKED_WITHIN_24H, f.PASS_RATE,
                   SHARE_SUCCESS):
        frame[column] = float("nan")
    return frame


def test_ties_are_broken_by_weighted_indicators_then_uscc() -> None:
    weights = parse_weights({"weights": {"stock": 1, "aggregation": 1}}, "test")
    frame = ranked_frame([("C", 0.0, 1.0), ("B", 0.0, 1.0), ("A", 1.0, 0.0), ("D", 0.5, 0.5),
                          ("E", 0.9, 0.9)])
    ranked = rank(frame, weights)
    # all but E score 50; equal weights: stock (first in INDICATORS) decides, then the USCC
    assert list(ranked[f.DEPARTMENT]) == ["E", "A", "D", "B", "C"]
    assert list(ranked[RANK]) == [1, 2, 3, 4, 5]
    heavier = parse_weights({"weights": {"stock": 1, "aggregation": 2}}, "test")
    assert list(rank(ranked_frame([("A", 1.0, 0.25), ("B", 0.0, 0.75)]), heavier)
                [f.DEPARTMENT]) == ["B", "A"]  # both 50: aggregation weighs more
    shuffled = rank(frame.sample(frac=1.0, random_state=3), weights)
    assert list(shuffled[f.DEPARTMENT]) == list(ranked[f.DEPARTMENT])


def test_movement_against_last_week() -> None:
    weights = parse_weights({"weights": {"stock": 1}}, "test")
    now = ranked_frame([("A", 0.9, 0), ("B", 0.5, 0), ("C", 0.7, 0), ("N", 0.1, 0)])
    before = ranked_frame([("A", 0.1, 0), ("B", 0.5, 0), ("C", 0.9, 0)])
    ranked = rank(now, weights, previous=before)
    assert list(ranked[f.DEPARTMENT]) == ["A", "C", "B", "N"]
    assert ranked[MOVEMENT].tolist() == [2, -1, -1, pd.NA]  # N was not ranked last week


def test_no_movement_after_a_week_in_which_nobody_delivered_anything() -> None:
    weights = parse_weights({"weights": {"stock": 1}}, "test")
    now = ranked_frame([("A", 0.2, 0), ("B", 0.9, 0)])
    idle = ranked_frame([("A", 0.0, 0), ("B", 0.0, 0)])  # ranked A, B by the USCC alone
    ranked = rank(now, weights, previous=idle)
    assert list(ranked[f.DEPARTMENT]) == ["B", "A"]
    assert ranked[MOVEMENT].isna().all() and ranked[PREVIOUS_RANK].isna().all()


def test_laggards_are_the_bottom_third_with_their_largest_weighted_shortfall() -> None:
    weights = parse_weights({"weights": {"stock": 30, "aggregation": 25, "timeliness": 25}},
                            "test")
    frame = ranked_frame([("A", 1.0, 1.0), ("B", 0.9, 0.9), ("C", 0.5, 0.4), ("D", 0.8, 0.1),
                          ("E", 0.95, 0.95), ("F", 1.0, 1.0)])
    frame[f.ACKED_WITHIN_24H] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.9]
    got = laggards(rank(frame, weights), weights)
    # C: stock 30·0.5=15 > aggregation 25·0.6=15 … equal points: stock weighs more
    # D: aggregation 25·0.9=22.5 > stock 30·0.2=6
    assert [(r[f.DEPARTMENT], r[HELD_BACK_BY], round(r[POINTS_LOST], 6))
            for r in got.to_dict("records")] == [
        ("D", "aggregation", round(100 * 22.5 / 80, 6)), ("C", "stock", round(100 * 15 / 80, 6))]
    perfect = laggards(rank(ranked_frame([("A", 1.0, 1.0)]),
                            parse_weights({"weights": {"stock": 1}}, "t")),
                       parse_weights({"weights": {"stock": 1}}, "t"))
    assert perfect.empty  # a full score is nobody's laggard


# -- the weights file ------------------------------------------------------------------------


def test_packaged_weights() -> None:
    weights = load_weights()
    assert weights.source == str(DEFAULT_WEIGHTS)
    assert weights.describe() == ("stock 25, aggregation 20, sharing 15, seals 10, "
                                  "templates 10, timeliness 10, verification 10")
    assert weights.total == 100
    without = weights.without("sharing")  # no platform to measure sharing: left out
    assert (without.total, without.values["sharing"]) == (85, 0)
    with pytest.raises(ConfigError, match="only sharing has a weight"):
        parse_weights({"weights": {"sharing": 1}}, "t").without("sharing")


@pytest.mark.parametrize(("text", "message"), [
    ("[weights]\nstock = 1\nspeed = 2\n",
     r"\[weights\]\.speed: unknown indicator; known: stock, seals"),
    ("[weights]\nstock = -1\n", r"\[weights\]\.stock: the weight must be a finite number ≥ 0"),
    ("[weights]\nstock = 'heavy'\n", r"\[weights\]\.stock: the weight must be a number"),
    ("[weights]\nstock = true\n", r"\[weights\]\.stock: the weight must be a number"),
    ("[weights]\nstock = nan\n", r"\[weights\]\.stock: the weight must be a finite number"),
    ("[weights]\nstock = 0\n", r"\[weights\]: every weight is 0"),
    ("stock = 1\n", r"unknown key 'stock'; the file holds one \[weights\] table"),
    ("[other]\n", r"unknown key 'other'"),
    ("", r"no \[weights\] table"),
    ("[weights\nstock = 1\n", r"not a valid TOML weights file"),
])
def test_weights_file_errors_name_the_file_and_key(tmp_path: Path, text: str,
                                                   message: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_weights(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_indicators_weigh_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text("[weights]\naggregation = 2.5\n", encoding="utf-8")
    weights = load_weights(path)
    assert weights.values == {"stock": 0, "seals": 0, "templates": 0, "aggregation": 2.5,
                              "timeliness": 0, "verification": 0, "sharing": 0}
