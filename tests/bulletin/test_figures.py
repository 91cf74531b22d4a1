"""The weekly figures (registry.bulletin.figures) as pure functions on hand-built frames:
timeliness, aggregation counts, seal coverage (no database)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from registry.bulletin import IsoWeek
from registry.bulletin import figures as f

W48 = IsoWeek(2026, 48)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_timeliness_median_p95_and_share_within_24_hours() -> None:
    created = ts("2026-11-23T00:00")
    hours = [1, 2, 3, 24, 30]  # 24 h exactly is within 24 hours
    events = pd.DataFrame({
        f.DEPARTMENT_ID: [1] * 5 + [1, 1, 2],
        f.CREATED_AT: [created] * 5 + [ts("2026-11-01")] * 2 + [ts("2026-11-22T10:00")],
        f.ACKED_AT: [created + pd.Timedelta(hours=h) for h in hours]
        + [W48.start - pd.Timedelta(seconds=1), W48.end, W48.start],  # out, out, in
    })
    got = f.timeliness(events, W48)
    assert got.loc[1].to_dict() == {f.EVENTS_ACKED_WEEK: 5, f.ACK_MEDIAN_HOURS: 3.0,
                                    f.ACK_P95_HOURS: pytest.approx(24 + 0.8 * 6),
                                    f.ACKED_WITHIN_24H: 0.8}
    assert got.loc[2].to_dict() == {f.EVENTS_ACKED_WEEK: 1, f.ACK_MEDIAN_HOURS: 6.0,
                                    f.ACK_P95_HOURS: 6.0, f.ACKED_WITHIN_24H: 1.0}


def test_aggregation_counts_versions_acks_and_dead_letters() -> None:
    end = W48.end
    events = pd.DataFrame({
        f.DEPARTMENT_ID: [1, 1, 1, 1, 1],
        f.OPERATE_TYPE: ["01", "09", "03", "01", "01"],  # 03 (暂扣) creates no version
        f.CREATED_AT: [ts("2026-11-23T01:00")] * 4 + [end],  # the last is next week's
        f.ACKED_AT: [ts("2026-11-23T02:00"), end, ts("2026-11-23T02:00"), pd.NaT, pd.NaT],
        f.DEAD_AT: [pd.NaT, pd.NaT, pd.NaT, ts("2026-11-24T00:00"), pd.NaT],
    })
    got = f.aggregation_figures(events, W48).loc[1]
    assert [got[k] for k in (f.LICENSES_SEALED, f.LICENSES_ACKED, f.LICENSES_SEALED_WEEK,
                             f.EVENTS_ACKED_WEEK, f.DEAD_LETTERS)] == [3, 1, 3, 2, 1]
    assert got[f.ACKED_SHARE] == 1 / 3


def test_seal_coverage_needs_an_active_seal_authorized_at_the_week_end() -> None:
    def ev(i: int, seal: int | None, step: str, to: str, at: str, types: tuple[str, ...] = (),
           until: str | None = None) -> dict[str, Any]:
        return {f.EVENT_ID: i, f.DEPARTMENT_ID: 1, f.SEAL_ID: seal, f.STEP: step,
                f.TO_STATUS: to, f.AT: ts(at), f.AUTH_TYPES: types,
                f.AUTH_FROM: ts("2026-01-01") if types else pd.NaT,
                f.AUTH_TO: ts(until) if until else pd.NaT}

    events = pd.DataFrame([
        ev(1, None, "apply", "applied", "2026-11-02"),
        ev(2, 7, "make", "made", "2026-11-03"),
        ev(3, 7, "authorize", "active", "2026-11-03", ("A", "B"), "2030-01-01"),
        ev(4, 7, "authorize", "active", "2026-11-24", ("B",), "2026-11-25"),  # B lapses
        ev(5, 8, "make", "made", "2026-11-24"),
        ev(6, 8, "authorize", "active", "2026-11-24", ("C",), "2030-01-01"),
        ev(7, 8, "suspend", "suspended", "2026-11-25"),  # C's seal is not active at the end
    ])
    events[f.SEAL_ID] = events[f.SEAL_ID].astype("Int64")
    types = pd.DataFrame({f.DEPARTMENT_ID: [1, 1, 1], f.TYPE_CODE: ["A", "B", "C"],
                          f.TYPE_NAME: ["甲", "乙", "丙"]})
    got = f.seal_figures(events, types, W48).loc[1]
    assert [got[k] for k in (f.SEALS_APPLIED, f.SEALS_MADE, f.SEALS_AUTHORIZED,
                             f.SEALS_SUSPENDED, f.SEALS_MADE_WEEK, f.SEALS_AUTHORIZED_WEEK,
                             f.SEALS_SUSPENDED_WEEK, f.TYPES_ISSUED, f.TYPES_SEALABLE)] == [
        1, 2, 1, 1, 1, 2, 1, 3, 1]
    assert got[f.SEAL_COVERAGE] == 1 / 3
