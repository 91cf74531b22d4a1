"""The weekly dispatch on a fixture registry: figures per department, ranking, bulletin files,
CLI, Chromium (the pure figures and ranking are in test_figures.py and test_ranking.py).

The fixture registry is the demo world (sealed and templated in 2026-W44) plus a third
department that never does anything, then two weeks of work done through the library at
pinned times (UTC; Beijing is UTC+8; W47 starts 2026-11-15T16:00Z, W48 2026-11-22T16:00Z):

W47  T1     market uploads A (5 rows: 3 sealed, 1 expired, 1 bad holder code)
     T1+2h  push: A's 3 events acknowledged (2 h each)
W48  T2     market uploads B1 (4 rows: 2 sealed, 1 classified, 1 bad holder code)
     T2+1h  push: B1's 2 events acknowledged (1 h)
     T2+6h  health uploads 3 physicians (3 sealed)
     T2+7h  push: 2 acknowledged (1 h), 1 rejected → dead letter
     T2+10h market uploads B2 (license 1 changed + 1 new: 2 sealed)
     T2+40h push: B2's 2 events acknowledged (30 h)
     T2+2d  market's seal suspended; market makes a 食品经营许可证 template v2; health applies
            for a second seal
     T2+3d  checkpoint; one health license's status edited outside the product; audit run

Every number asserted below was worked out by hand from that timeline (see each test).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine, select, update

from registry.batch.run import ingest_file
from registry.bulletin import IsoWeek, build_bulletin, load_weights, write_bulletin
from registry.bulletin import figures as f
from registry.bulletin.charts import bar_chart, line_chart
from registry.bulletin.exports import export_rows
from registry.bulletin.model import Bulletin
from registry.bulletin.ranking import (
    DEFAULT_WEIGHTS,
    HELD_BACK_BY,
    INDICATOR_VALUE,
    MOVEMENT,
    POINTS_LOST,
    SCORE,
    Weights,
)
from registry.bulletin.render import markdown
from registry.city.demo import HEALTH, MARKET, create_demo_world, init_registry
from registry.cli import cli
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import Department, DepartmentType, License, Seal
from registry.errors import ConfigError
from registry.i18n import language
from registry.license.codes import org_code_check, uscc_check
from registry.province.client import Delivery
from registry.province.sync import push_pending
from registry.province.wire import Ack, AckResult
from registry.seal.lifecycle import apply_for_seal, suspend_seal
from registry.seal.pki import load_root_cert
from registry.seal.queries import KIND_BUSINESS
from registry.template.lifecycle import make_template
from registry.tlog.checkpoint import sign_checkpoint
from registry.verify.audit_runs import AuditRun, AuditRunDepartment, issuer_of, record_audit_run
from registry.verify.registry_audit import audit_registry
from tests.conftest import FIXTURES, NOW, PASSPHRASE
from tests.support.batches import holder, row, write_csv
from tests.support.screens import screenshot_or_skip

BIZ, FOOD, PHYS = "11100000MB0143028R001", "11100000MB0143028R002", "11100000MB15645531001"
T1 = dt.datetime(2026, 11, 17, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in W47, Beijing time
T2 = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in W48
H = dt.timedelta(hours=1)
W46, W47, W48 = IsoWeek(2026, 46), IsoWeek(2026, 47), IsoWeek(2026, 48)
IDLE_NAME = "示范市交通运输局"
IDLE_USCC = (lambda body: body + uscc_check(body))("11330100MB170577" + org_code_check("MB170577"))
"""A department that issues 营业执照 and has done nothing at all (check digits valid)."""
PHYSICIAN_DEAD = "143301097564910"
"""The physician license the province keeps rejecting: a dead letter."""


# -- the fixture registry ------------------------------------------------------------------


class Province:
    """Acknowledges every item but those of ``reject`` (证照编号), which it refuses."""

    def __init__(self, reject: Sequence[str] = ()) -> None:
        self.reject = set(reject)

    def deliver(self, items: Sequence[dict[str, Any]], *, blobs: Any = None) -> Delivery:
        acks = {}
        for i, item in enumerate(items):
            refused = item["elements"]["ZZBH"] in self.reject
            acks[i] = Ack(identifier=item["ZZBS"], version=item["version"],
                          result=AckResult.REJECTED if refused else AckResult.ACCEPTED,
                          code="SCHEMA" if refused else "OK", message="test province",
                          seq=item.get("eventSeq"))
        return Delivery(acks=acks, requests=1)


def push(engine: Engine, at: dt.datetime, reject: Sequence[str] = ()) -> None:
    with session_scope(engine) as s:
        push_pending(s, Province(reject), max_attempts=1, at=at)


def upload(engine: Engine, settings: Settings, path: Path, uscc: str, type_code: str,
           at: dt.datetime) -> None:
    ingest_file(engine, settings, path, department_uscc=uscc, type_code=type_code,
                uploader="clerk", at=at, today=at.date())


def department_id(s: Any, uscc: str) -> int:
    return s.scalar(select(Department.id).where(Department.uscc == uscc))


def build_two_weeks(engine: Engine, settings: Settings, tmp: Path) -> None:
    """The timeline of the module docstring, on a registry holding the demo world."""
    with session_scope(engine) as s:
        idle = Department(name=IDLE_NAME, uscc=IDLE_USCC, division_code="330100")
        s.add(idle)
        s.flush()
        s.add(DepartmentType(department_id=idle.id, type_code=BIZ))
    bad = holder(5)[:-1] + ("0" if holder(5)[-1] != "0" else "1")
    upload(engine, settings, write_csv(tmp / "a.csv", row(1), row(2), row(3),
                                       row(4, end="2025-01-01"), row(5, code=bad)),
           MARKET.uscc, BIZ, T1)
    push(engine, T1 + 2 * H)
    bad9 = holder(9)[:-1] + ("0" if holder(9)[-1] != "0" else "1")
    upload(engine, settings, write_csv(tmp / "b1.csv", row(6), row(7), row(8, classified="是"),
                                       row(9, code=bad9)), MARKET.uscc, BIZ, T2)
    push(engine, T2 + H)
    physicians = (FIXTURES / "batches" / "physicians.csv").read_text("utf-8").splitlines()[:4]
    (tmp / "p.csv").write_text("\n".join(physicians) + "\n", encoding="utf-8")
    upload(engine, settings, tmp / "p.csv", HEALTH.uscc, PHYS, T2 + 6 * H)
    push(engine, T2 + 7 * H, reject=[PHYSICIAN_DEAD])
    upload(engine, settings, write_csv(tmp / "b2.csv", row(1, capital="200万元"), row(10)),
           MARKET.uscc, BIZ, T2 + 10 * H)
    push(engine, T2 + 40 * H)
    later = T2 + dt.timedelta(days=2)
    with session_scope(engine) as s:
        market, health = department_id(s, MARKET.uscc), department_id(s, HEALTH.uscc)
        seal = s.scalar(select(Seal.id).where(Seal.department_id == market))
        suspend_seal(s, seal, actor="印章管理员", reason="印章保管检查", at=later)
        make_template(s, type_code=FOOD, department_id=market, actor="证照管理员",
                      reason="新版式", at=later)
        apply_for_seal(s, department_id=health, kind=KIND_BUSINESS,
                       name=HEALTH.name + "电子证照专用章", purpose="电子证照专用章",
                       type_codes=[PHYS], valid_until=later + dt.timedelta(days=365),
                       actor="卫健委办公室", reason="新增专用章", at=later)
    audit_at = T2 + dt.timedelta(days=3)
    with session_scope(engine) as s:
        sign_checkpoint(s, keystore=settings.keystore, passphrase=PASSPHRASE, now=audit_at)
        s.execute(update(License).where(License.number == "113301023667914")
                  .values(status="SUSPENDED"))  # changed outside the product: FAILED
    audit = audit_registry(engine, anchors=[load_root_cert(settings.keystore)], at=audit_at,
                           workers=0)
    with session_scope(engine) as s:
        record_audit_run(s, audit, at=audit_at, recorded_at=audit_at)


@pytest.fixture
def two_weeks(world: Engine, settings: Settings, tmp_path: Path) -> Engine:
    """The fixture registry, on SQLite and PostgreSQL."""
    build_two_weeks(world, settings, tmp_path)
    return world


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Settings]]:
    """The fixture registry once, on SQLite, for the tests that only read it."""
    tmp = tmp_path_factory.mktemp("bulletin")
    settings = Settings(home=tmp / "var", database_url=f"sqlite:///{tmp / 'registry.db'}",
                        passphrase=PASSPHRASE)
    engine = make_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as s:
        create_demo_world(s, settings, now=NOW - dt.timedelta(days=30))
    build_two_weeks(engine, settings, tmp)
    yield engine, settings
    engine.dispose()


def figures_of(engine: Engine, week: IsoWeek) -> dict[str, dict[str, Any]]:
    with session_scope(engine) as s:
        frame = f.department_figures(f.read_frames(s, week), week)
    return {r[f.DEPARTMENT]: r for r in frame.to_dict("records")}


def bulletin_of(engine: Engine, week: IsoWeek, weights: Weights | None = None,
                now: dt.datetime | None = None) -> Bulletin:
    """The bulletin of ``week`` made after it ended (no platform: sharing not measured)."""
    with session_scope(engine) as s:
        return build_bulletin(s, week, weights or load_weights(),
                              now=now or week.end + dt.timedelta(hours=8))


SCORED = 85.0
"""The packaged weights without sharing (15 of 100), which no platform measures here."""


def nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# -- the figures of the fixture registry, by hand --------------------------------------------


def test_week_48_figures_per_department(two_weeks: Engine) -> None:
    got = figures_of(two_weeks, W48)
    assert list(got) == [MARKET.uscc, HEALTH.uscc, IDLE_USCC]  # by USCC
    market = got[MARKET.uscc]
    # stock: A 5/3/1/1 + B1 4/2/1/1 + B2 2/2/0/0 uploaded, but B2's first row is license 1
    # again: 10 unique rows (1–10), 6 sealed; the week's new ones are 6–10, 6, 7, 10 sealed
    assert {k: market[k] for k in (f.ROWS_UPLOADED, f.ROWS_SUBMITTED, f.ROWS_SEALED,
                                   f.ROWS_FILTERED, f.ROWS_REJECTED, f.ROWS_UPLOADED_WEEK,
                                   f.ROWS_SUBMITTED_WEEK, f.ROWS_SEALED_WEEK)} == {
        f.ROWS_UPLOADED: 11, f.ROWS_SUBMITTED: 10, f.ROWS_SEALED: 6, f.ROWS_FILTERED: 2,
        f.ROWS_REJECTED: 2, f.ROWS_UPLOADED_WEEK: 6, f.ROWS_SUBMITTED_WEEK: 5,
        f.ROWS_SEALED_WEEK: 3}
    assert (market[f.SEALED_SHARE], market[f.FILTERED_SHARE]) == (6 / 10, 2 / 10)
    assert market[f.TOP_REASONS] == (("BAD_HOLDER_CODE", 2), ("CLASSIFIED", 1), ("EXPIRED", 1))
    # seals: the world's one, suspended on T2+2d; templates: v2 of 食品经营许可证 only made
    assert [market[k] for k in (f.SEALS_APPLIED, f.SEALS_MADE, f.SEALS_AUTHORIZED,
                                f.SEALS_SUSPENDED, f.SEALS_SUSPENDED_WEEK, f.TYPES_ISSUED,
                                f.TYPES_SEALABLE, f.SEAL_COVERAGE)] == [1, 1, 0, 1, 1, 2, 0, 0.0]
    assert [market[k] for k in (f.TEMPLATES_MADE, f.TEMPLATES_BOUND, f.TEMPLATES_PUBLISHED,
                                f.TEMPLATES_MADE_WEEK, f.TEMPLATES_PUBLISHED_WEEK,
                                f.TEMPLATE_COVERAGE)] == [2, 2, 2, 1, 0, 1.0]
    assert market[f.TEMPLATE_STAGES] == (("营业执照", 3), ("食品经营许可证", 3))  # published
    # aggregation: 7 versions (6 new, 1 change) all acknowledged; the week's four
    # acknowledgements (B1, B2) took 1, 1, 30, 30 hours
    assert [market[k] for k in (f.LICENSES_SEALED, f.LICENSES_ACKED, f.ACKED_SHARE,
                                f.LICENSES_SEALED_WEEK, f.EVENTS_ACKED_WEEK, f.ACK_MEDIAN_HOURS,
                                f.ACK_P95_HOURS, f.ACKED_WITHIN_24H, f.DEAD_LETTERS)] == [
        7, 7, 1.0, 4, 4, 15.5, 30.0, 0.5, 0]
    # the audit: license 1's first version is superseded: history, neither passed nor failed
    assert [market[k] for k in (f.AUDITED, f.AUDIT_PASSED, f.AUDIT_HISTORY, f.PASS_RATE)] == [
        6, 6, 1, 1.0]
    assert market[f.AUDIT_AT] == pd.Timestamp(T2 + dt.timedelta(days=3))

    health = got[HEALTH.uscc]
    assert [health[k] for k in (f.ROWS_SUBMITTED, f.ROWS_SEALED, f.SEALED_SHARE,
                                f.REJECTED_SHARE, f.TOP_REASONS)] == [3, 3, 1.0, 0.0, ()]
    assert [health[k] for k in (f.SEALS_APPLIED, f.SEALS_MADE, f.SEALS_AUTHORIZED,
                                f.SEALS_APPLIED_WEEK, f.SEAL_COVERAGE)] == [2, 1, 1, 1, 1.0]
    assert [health[k] for k in (f.LICENSES_SEALED, f.LICENSES_ACKED, f.EVENTS_ACKED_WEEK,
                                f.ACK_MEDIAN_HOURS, f.ACK_P95_HOURS, f.ACKED_WITHIN_24H,
                                f.DEAD_LETTERS)] == [3, 2, 2, 1.0, 1.0, 1.0, 1]
    assert health[f.ACKED_SHARE] == 2 / 3
    assert [health[k] for k in (f.AUDITED, f.AUDIT_PASSED)] == [3, 2]  # one edited: FAILED

    idle = got[IDLE_USCC]  # no activity, ever: zeros and NaN (rendered "—"), never missing
    assert idle[f.NAME] == IDLE_NAME
    assert all(idle[c] == 0 for c in f.COUNT_COLUMNS if c != f.TYPES_ISSUED)
    assert idle[f.TYPES_ISSUED] == 1
    assert (idle[f.SEAL_COVERAGE], idle[f.TEMPLATE_COVERAGE]) == (0.0, 0.0)
    assert all(nan(idle[c]) for c in (f.SEALED_SHARE, f.ACKED_SHARE, f.ACK_MEDIAN_HOURS,
                                      f.ACKED_WITHIN_24H, f.PASS_RATE))
    assert idle[f.TEMPLATE_STAGES] == (("营业执照", 0),)  # not made


def test_week_47_and_a_week_with_no_activity(two_weeks: Engine) -> None:
    w47 = figures_of(two_weeks, W47)[MARKET.uscc]
    assert [w47[k] for k in (f.ROWS_SUBMITTED, f.ROWS_SEALED, f.LICENSES_SEALED,
                             f.LICENSES_ACKED, f.EVENTS_ACKED_WEEK, f.ACK_MEDIAN_HOURS,
                             f.ACKED_WITHIN_24H, f.SEALS_AUTHORIZED, f.AUDITED)] == [
        5, 3, 3, 3, 3, 2.0, 1.0, 1, 0]
    assert nan(w47[f.PASS_RATE]) and pd.isna(w47[f.AUDIT_AT])  # no audit run before W48
    # W46: nothing happened, but the world made in W44 is there: stock figures, no activity
    quiet = bulletin_of(two_weeks, W46)
    assert not quiet.active
    assert (quiet.figures[list(f.WEEK_COLUMNS)] == 0).all().all()
    assert list(quiet.figures[f.SEALS_AUTHORIZED]) == [1, 1, 0]
    with language("zh"):
        text = markdown(quiet)
    assert ("本周全市没有存量证照数据提交、印章和模板办理、证照汇聚或用证活动，"
            "不排名次、不点名") in text
    assert "综合得分第一名" not in text and "失分" not in text  # no winner, no laggard
    assert f"| — | — | {MARKET.name} | 23.5 |" in text
    assert quiet.laggards.empty and not quiet.ranked
    # equal scores (seals and templates only) are ordered by USCC
    assert list(quiet.ranking[SCORE].round(6)) == [round(2000 / SCORED, 6)] * 2 + [0.0]
    assert list(quiet.ranking[f.DEPARTMENT]) == [MARKET.uscc, HEALTH.uscc, IDLE_USCC]


def test_week_48_ranking_movement_and_laggard(two_weeks: Engine) -> None:
    bulletin = bulletin_of(two_weeks, W48)
    assert bulletin.active
    ranked = bulletin.ranking
    assert list(ranked[f.DEPARTMENT]) == [HEALTH.uscc, MARKET.uscc, IDLE_USCC]
    # of 85 (sharing is not measured without a platform): health 25·1 + 10·1 + 10·1 + 20·2/3
    # + 10·1 + 10·2/3; market 25·6/10 + 0 + 10 + 20 + 10·0.5 + 10; W47 was market first
    assert list(ranked[SCORE]) == pytest.approx([
        100 * (25 + 10 + 10 + 20 * 2 / 3 + 10 + 10 * 2 / 3) / SCORED,
        100 * (25 * 6 / 10 + 0 + 10 + 20 + 10 * 0.5 + 10) / SCORED, 0.0])
    assert list(ranked[MOVEMENT]) == [1, -1, 0]
    assert bulletin.weights.values["sharing"] == 0 and bulletin.sharing is None
    lag = bulletin.laggards.to_dict("records")
    assert [(r[f.DEPARTMENT], r[HELD_BACK_BY]) for r in lag] == [(IDLE_USCC, "stock")]
    assert lag[0][POINTS_LOST] == pytest.approx(100 * 25 / SCORED)
    assert nan(lag[0][INDICATOR_VALUE])


# -- files, CLI, HTML --------------------------------------------------------------------------


def number_or_text(cell: str) -> Any:
    """A CSV cell as the workbook holds it: a number (1.0 and 1 are equal) or text."""
    try:
        return float(cell)
    except ValueError:
        return cell


def env_of(settings: Settings) -> dict[str, str]:
    return {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}


def test_cli_writes_the_three_files_and_prints_the_ranking(
        shared: tuple[Engine, Settings], tmp_path: Path) -> None:
    _, settings = shared
    weights = tmp_path / "w.toml"
    weights.write_text(DEFAULT_WEIGHTS.read_text("utf-8"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["bulletin", "--week", "2026-W48", "--out",
                                      str(tmp_path / "out"), "--weights", str(weights)],
                                env=env_of(settings))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert result.output.splitlines() == [
        "week 2026-W48 (2026-11-23 to 2026-11-29, Asia/Shanghai); weights: stock 25, "
        "aggregation 20, seals 10, templates 10, timeliness 10, verification 10",
        "sharing not measured: no provincial platform configured (LICREG_PROVINCE_URL)",
        "rank  move   score  department          name",
        f"   1    ↑1    88.2  {HEALTH.uscc}  {HEALTH.name}",
        f"   2    ↓1    70.6  {MARKET.uscc}  {MARKET.name}",
        f"   3     =     0.0  {IDLE_USCC}  {IDLE_NAME}",
        f"laggard {IDLE_USCC} {IDLE_NAME}: held back by stock (stock sealed rate) —, "
        "29.4 points lost",
        *(f"behind: {name}: {task} 0.0% done, no progress in the last weeks; at this pace it "
          "will not be done by the deadline 2027-03-31." for name, task in (
              (MARKET.name, "seals made and authorized"),  # its one seal suspended
              (IDLE_NAME, "seals made and authorized"), (IDLE_NAME, "templates made and bound"))),
        f"wrote {out / 'bulletin.html'}",
        f"wrote {out / 'figures.csv'}",
        f"wrote {out / 'figures.xlsx'}",
        f"wrote {out / 'trend.csv'}",
    ]
    raw = (out / "figures.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    with (out / "figures.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:6] == ["week", "rank", "previous_rank", "movement", "score", "department"]
    assert [r[5] for r in rows[1:]] == [HEALTH.uscc, MARKET.uscc, IDLE_USCC]
    idle = dict(zip(rows[0], rows[3], strict=True))  # nothing to measure: empty, never "—"
    assert (idle["sealed_share"], idle["rows_submitted"], idle["pass_rate"]) == ("", "0", "")
    market = dict(zip(rows[0], rows[2], strict=True))
    assert [market[f"reason_1_{k}"] for k in ("code", "name", "rows")] == [
        "BAD_HOLDER_CODE", "holder code invalid", "2"]
    assert not any("—" in c for r in rows for c in r)
    frame = pd.read_csv(out / "figures.csv", encoding="utf-8-sig")
    numeric = [c for c in frame.columns if c in (*f.COUNT_COLUMNS, "score", "sealed_share",
                                                  "pass_rate", "ack_median_hours")]
    assert all(pd.api.types.is_numeric_dtype(frame[c]) for c in numeric), frame.dtypes
    sheet = load_workbook(out / "figures.xlsx", read_only=True).active
    assert sheet is not None
    cells = [["" if v is None else v for v in r] for r in sheet.iter_rows(values_only=True)]
    assert cells == [[number_or_text(c) for c in r] for r in rows]  # the workbook = the CSV
    html = (out / "bulletin.html").read_text("utf-8")
    assert "2026 week 48 (2026-11-23 to 2026-11-29, Beijing time)" in html
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL)
    assert len(svgs) == 6 + 1 + 6  # a bar chart per weighted indicator, trends: score + each
    for svg in svgs:
        ET.fromstring(svg)  # noqa: S314 - our own SVG; parsing proves it well-formed
    for svg in svgs[:6]:
        root = ET.fromstring(svg)  # noqa: S314 - our own SVG
        labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert labels[1:4:2] == [HEALTH.name, MARKET.name]


def test_cli_speaks_chinese_by_default(shared: tuple[Engine, Settings], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LICREG_LANG")
    result = CliRunner().invoke(cli, ["bulletin", "--week", "2026-W48", "--out",
                                      str(tmp_path / "zh")], env=env_of(shared[1]))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        "2026-W48（2026-11-23 至 2026-11-29，北京时间）；权重：stock 25, aggregation 20, "
        "seals 10, templates 10, timeliness 10, verification 10",
        "共享互认未计量：未配置省平台（LICREG_PROVINCE_URL）",
        "排名  变化   得分  统一社会信用代码    部门"]
    assert lines[6] == (f"点名 {IDLE_USCC} {IDLE_NAME}：主要差距在stock（存量数据入库率）—，"
                        "失分29.4分")
    html = (tmp_path / "zh" / "bulletin.html").read_text("utf-8")
    assert "2026年第48周（2026-11-23 至 2026-11-29，北京时间）" in html
    assert '<html lang="zh-CN">' in html and "持证主体代码错误2条" in html
    assert "BAD_HOLDER_CODE" not in html  # reasons in words on the page


def test_week_defaults_to_the_last_complete_week() -> None:
    assert IsoWeek.last_complete(NOW) == W47  # NOW is Friday of W48
    monday = dt.datetime(2026, 11, 22, 16, 0, tzinfo=dt.UTC)  # Monday 00:00 Beijing, W48
    assert IsoWeek.last_complete(monday) == W47
    assert IsoWeek.last_complete(monday - dt.timedelta(seconds=1)) == W46
    assert (W48.start, W48.end) == (monday, monday + dt.timedelta(days=7))
    with pytest.raises(ConfigError, match="has not begun yet"), session_scope(
            make_engine("sqlite://")) as s:
        build_bulletin(s, W48, load_weights(), now=W48.start - dt.timedelta(seconds=1))
    with pytest.raises(ConfigError, match="'2026-W54' does not exist"):
        IsoWeek.parse("2026-W54")
    with pytest.raises(ConfigError, match="not an ISO week"):
        IsoWeek.parse("2026-48")


def test_bar_chart_escapes_text_and_draws_nothing_for_missing_values() -> None:
    svg = bar_chart("A&B <率>", ["示范 & 局", "<x>"], [0.5, float("nan")], width=400)
    root = ET.fromstring(svg)  # noqa: S314 - our own SVG
    ns = "{http://www.w3.org/2000/svg}"
    assert [t.text for t in root.iter(f"{ns}text")] == ["A&B <率>", "示范 & 局", "50.0%", "<x>",
                                                         "—"]
    line = line_chart("趋势 <&>", ["2026-W47", "2026-W48"], [("甲", [0.5, None]),
                                                            ("乙", [0.2, 0.4])])
    svg_root = ET.fromstring(line)  # noqa: S314 - our own SVG
    assert len(list(svg_root.iter(f"{ns}polyline"))) == 1  # 甲's missing week breaks its line
    assert len(list(svg_root.iter(f"{ns}circle"))) == 3
    assert len(list(root.iter(f"{ns}rect"))) == 1


def test_export_cells_are_inert_for_spreadsheets(shared: tuple[Engine, Settings]) -> None:
    bulletin = bulletin_of(shared[0], W48)
    evil = bulletin.ranking.copy()
    evil.loc[0, f.NAME] = "=HYPERLINK(1)"
    rows = export_rows(Bulletin(week=W48, figures=bulletin.figures, ranking=evil,
                                laggards=bulletin.laggards, weights=bulletin.weights,
                                active=True, deadlines=bulletin.deadlines))
    assert rows[1][6] == "'=HYPERLINK(1)"


def test_verify_registry_records_the_run_per_department(shared: tuple[Engine, Settings],
                                                        tmp_path: Path) -> None:
    engine, settings = shared
    anchors = tmp_path / "root.pem"
    runner = CliRunner()
    assert runner.invoke(cli, ["pki", "anchors", "--out", str(anchors)],
                         env=env_of(settings)).exit_code == 0
    at = T2 + dt.timedelta(days=8)  # after W48: the other tests' W48 keeps its audit run
    result = runner.invoke(cli, ["verify", "--registry", "--anchors", str(anchors), "--at",
                                 at.isoformat()], env=env_of(settings))
    assert result.exit_code == 1  # the edited health license FAILED
    with session_scope(engine) as s:
        run = s.scalars(select(AuditRun).order_by(AuditRun.id.desc())).first()
        assert run is not None
        assert (run.at, run.licenses, run.passed, run.failed, run.indeterminate,
                run.not_in_force) == (at, 10, 8, 1, 1, 1)
        per = {uscc: counts for uscc, *counts in s.execute(
            select(Department.uscc, AuditRunDepartment.passed, AuditRunDepartment.failed,
                   AuditRunDepartment.indeterminate, AuditRunDepartment.not_in_force)
            .join(Department, Department.id == AuditRunDepartment.department_id)
            .where(AuditRunDepartment.run_id == run.id))}
    # market: license 1's first version is superseded; health: the edited license FAILED
    assert per == {MARKET.uscc: [6, 0, 1, 1], HEALTH.uscc: [2, 1, 0, 0]}
    assert issuer_of("1.2.156.3005.2.11100000MB0143028R001.11330100MB1703218R.E51B.001.C") == \
        "11330100MB1703218R"
    assert issuer_of("bundle/license.pdf") is None


@pytest.mark.slow
def test_bulletin_html_renders_in_headless_chromium(shared: tuple[Engine, Settings],
                                                    tmp_path: Path) -> None:
    from PIL import Image

    files = write_bulletin(bulletin_of(shared[0], W48), tmp_path / "out")
    png = tmp_path / "bulletin.png"
    screenshot_or_skip(files[0], png)
    with Image.open(png) as image:
        assert image.size == (1280, 2000)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    ink = float((pixels != 255).any(axis=1).mean())
    colours = len(np.unique(pixels, axis=0))
    blue_bars = int((pixels == (0x2F, 0x6F, 0xAD)).all(axis=1).sum())
    assert ink > 0.05, f"only {ink:.1%} of the page is not white"
    assert colours > 200, f"only {colours} distinct colours: text did not render"
    assert blue_bars > 5000, "the SVG bar charts were not drawn"
