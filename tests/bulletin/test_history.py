"""The bulletin of a registry with ten weeks of history, made through the real commands
(``licreg init --demo``, ``ingest``, ``license change``, ``push``, ``log checkpoint``,
``verify --registry``, ``seal suspend``, ``bulletin``) against the real mock platform
process, which other offices query and 核验 over its API. Each figure is pinned from the
timeline (Beijing Tuesdays 10:00; :mod:`tests.support.history` pins the clocks):

W39  the demo world (market: 营业执照 + 食品经营许可证, one seal; health: 医师执业证书)
W40  market uploads business-licenses.csv: 40 rows, 39 unique (one 证照编号 twice), 30
     sealed, 3 filtered, 6 rejected; pushed
W41  market uploads the same rows in GBK: nothing new; the tax office queries a holder's
     营业执照 (1 served)
W42  health uploads physicians.csv; pushed; the hospital 核验s a physician (MATCH), the tax
     office a 营业执照 with a wrong legal representative (MISMATCH), the bank a 营业执照 number
     nobody issued (NOT_FOUND: market's, the one issuer of the type), and a holder with
     nothing (EMPTY: nobody's)
W43  nothing at all
W44  market changes a license (a new version; the old one superseded), pushed; checkpoint;
     audit
W45  market uploads food-permits.csv; pushed; the tax office queries two holders
W46  (nothing but an office's query)
W47  market's seal suspended
W48  the bulletin, made on Friday: the week is not over
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from registry.bulletin import IsoWeek
from registry.city.demo import HEALTH, MARKET
from registry.cli import cli
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN
from registry.mockprovince.process import start_endpoint
from registry.province.client import ProvinceClient
from registry.province.wire import SHARE_CHECK_PATH, SHARE_QUERY_PATH
from tests.conftest import FIXTURES, PASSPHRASE
from tests.support.history import PinnedClock, licreg, tuesday
from tests.support.screens import screenshot_or_skip

pytestmark = pytest.mark.slow
BIZ, FOOD, PHYS = "11100000MB0143028R001", "11100000MB0143028R002", "11100000MB15645531001"
W = {n: IsoWeek(2026, n) for n in range(39, 49)}
OFFICES = {"tax": "TEST-ONLY-tax-token", "hospital": "TEST-ONLY-hospital-token",
           "bank": "TEST-ONLY-bank-token"}
HOLDER = "91330102MAT9HT456F"  # the first row of business-licenses.csv
CAMPAIGN = """
[deadlines]
seals = 2027-03-31
templates = 2027-03-31
stock = 2027-01-31

[pace]
weeks = 4

[stock]
11330100MB1703218R = 100
11330100MB1704122R = 20
"""


class History:
    def __init__(self, env: dict[str, str], home: Path, url: str, clock: PinnedClock) -> None:
        self.env, self.home, self.url, self.clock = env, home, url, clock
        self.http = httpx.Client(base_url=url, timeout=30.0)
        self.campaign = home / "campaign.toml"
        self.campaign.write_text(CAMPAIGN, encoding="utf-8")

    def office(self, name: str) -> ProvinceClient:
        return ProvinceClient(self.http, access_id=name, access_token=OFFICES[name],
                              max_attempts=1)

    def query(self, office: str, holder: str, type_code: str, cause: str) -> int:
        answer = self.office(office).post_json(SHARE_QUERY_PATH, {
            "holderCode": holder, "typeCode": type_code, "useCause": cause})
        return len(answer["licenses"])

    def check(self, office: str, cause: str, elements: dict[str, str], **which: str) -> str:
        answer = self.office(office).post_json(SHARE_CHECK_PATH, {
            **which, "elements": elements, "useCause": cause})
        return str(answer["result"])

    def licenses(self, type_code: str) -> list[dict[str, Any]]:
        out = licreg(self.env, "license", "list", "--json", "--type", type_code).output
        return list(json.loads(out))

    def show(self, identifier: str) -> dict[str, Any]:
        return dict(json.loads(licreg(self.env, "license", "show", identifier).output))

    def bulletin(self, week: IsoWeek) -> tuple[str, Path]:
        out = self.home / "bulletins" / str(week)
        result = licreg(self.env, "bulletin", "--week", str(week), "--out", str(out),
                        "--campaign", str(self.campaign))
        return result.output, out


def build(h: History) -> None:
    """The timeline of the module docstring (the demo world is already made)."""
    env, at = h.env, h.clock.set
    at(tuesday(W[40]))
    licreg(env, "ingest", str(FIXTURES / "batches" / "business-licenses.csv"),
           "--department", MARKET.uscc, "--type", BIZ)
    at(tuesday(W[40], 1))
    licreg(env, "push", "--endpoint", h.url)
    at(tuesday(W[41]))
    licreg(env, "ingest", str(FIXTURES / "batches" / "business-licenses-gbk.csv"),
           "--department", MARKET.uscc, "--type", BIZ)
    assert h.query("tax", HOLDER, BIZ, "办理纳税申报") == 1
    at(tuesday(W[42]))
    licreg(env, "ingest", str(FIXTURES / "batches" / "physicians.csv"),
           "--department", HEALTH.uscc, "--type", PHYS)
    at(tuesday(W[42], 2))
    licreg(env, "push", "--endpoint", h.url)
    at(tuesday(W[42], 3))
    physician = h.show(h.licenses(PHYS)[0]["identifier"])["elements"]
    assert h.check("hospital", "医师多点执业备案", {"CZZT": physician["CZZT"]},
                   ZZBS=physician["ZZBS"]) == "MATCH"
    biz = h.show(next(lic["identifier"] for lic in h.licenses(BIZ)))["elements"]
    assert h.check("tax", "核验营业执照", {"KZ_FDDBR": "冒名者"}, typeCode=BIZ,
                   ZZBH=biz["ZZBH"]) == "MISMATCH"
    assert h.check("bank", "开立对公账户", {"CZZT": "某公司"}, typeCode=BIZ,
                   ZZBH="330100000000000") == "NOT_FOUND"
    assert h.query("tax", "91330100MA00000000", BIZ, "办理纳税申报") == 0
    at(tuesday(W[44]))
    licreg(env, "license", "change", biz["ZZBS"], "--set", "KZ_ZCZB=500万元人民币",
           "--reason", "增资")
    at(tuesday(W[44], 1))
    licreg(env, "push", "--endpoint", h.url)
    at(tuesday(W[44], 2))
    licreg(env, "log", "checkpoint")
    anchors = h.home / "root.pem"
    licreg(env, "pki", "anchors", "--out", str(anchors))
    audit = CliRunner().invoke(cli, ["verify", "--registry", "--anchors", str(anchors)], env=env)
    assert audit.exit_code in (0, 3), audit.output  # 3: INDETERMINATE, the superseded version
    at(tuesday(W[45]))
    licreg(env, "ingest", str(FIXTURES / "batches" / "food-permits.csv"),
           "--department", MARKET.uscc, "--type", FOOD)
    at(tuesday(W[45], 1))
    licreg(env, "push", "--endpoint", h.url)
    food = h.licenses(FOOD)
    for lic in food[:2]:
        holder = h.show(lic["identifier"])["elements"]["CZZTDM"]
        assert h.query("tax", holder, FOOD, "办理餐饮发票") == 1
    at(tuesday(W[46]))
    assert h.query("tax", HOLDER, BIZ, "办理纳税申报") == 1
    at(tuesday(W[47]))
    seal = licreg(env, "seal", "list").output.split()[0]
    licreg(env, "seal", "suspend", seal, "--by", "印章管理员", "--reason", "印章保管检查")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    home = tmp_path_factory.mktemp("history")
    env = {"LICREG_HOME": str(home / "var"),
           "LICREG_DATABASE_URL": f"sqlite:///{home / 'registry.db'}",
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}
    with pytest.MonkeyPatch.context() as mp:
        clock = PinnedClock(mp, home / "platform-clock")
        clock.set(tuesday(W[39]))
        # the platform trusts the registry's test root, which `init --demo` makes
        licreg(env, "init", "--demo")
        anchors = home / "var" / "keystore" / "root.pem"
        tokens = {DEFAULT_ACCESS_ID: DEFAULT_TOKEN, **OFFICES}
        with start_endpoint(home=home / "province", anchors_path=anchors, tokens=tokens,
                            clock_file=clock.file) as url:
            env.update(LICREG_PROVINCE_URL=url)
            h = History(env, home, url, clock)
            build(h)
            yield h
            h.http.close()


def after(week: IsoWeek) -> dt.datetime:
    """Monday 08:00 Beijing time after ``week``: when the weekly flow runs."""
    return week.end + dt.timedelta(hours=8)


def figures(history: History, week: IsoWeek, *, at: dt.datetime | None = None
            ) -> tuple[str, Path, dict[str, dict[str, Any]]]:
    """``licreg bulletin`` of ``week`` run at ``at`` (default: the Monday after): its output,
    folder, and figures.csv read by pandas, by department."""
    history.clock.set(at or after(week))
    out, folder = history.bulletin(week)
    frame = pd.read_csv(folder / "figures.csv", encoding="utf-8-sig")
    return out, folder, {r["department"]: r for r in frame.to_dict("records")}


def pick(row: dict[str, Any], *columns: str) -> list[Any]:
    return [None if isinstance(row[c], float) and np.isnan(row[c]) else row[c] for c in columns]


def test_stock_counts_unique_rows_once_however_often_uploaded(history: History) -> None:
    _, _, w40 = figures(history, W[40])
    market = w40[MARKET.uscc]
    # 40 rows, one 证照编号 twice (the second rejected as a duplicate): 39 unique, of which
    # 29 sealed (one row dated after 2026-09-22 is rejected as a date in the future)
    assert pick(market, "rows_uploaded", "rows_submitted", "rows_sealed", "rows_filtered",
                "rows_rejected", "rows_uploaded_week", "rows_submitted_week",
                "rows_sealed_week") == [40, 39, 29, 3, 7, 40, 39, 29]
    assert pick(market, "licenses_sealed", "licenses_acked", "ack_median_hours",
                "acked_within_24h") == [29, 29, 1.0, 1.0]
    _, _, w41 = figures(history, W[41])
    again = w41[MARKET.uscc]  # the same rows in GBK: uploaded again, submitted once
    assert pick(again, "rows_uploaded", "rows_submitted", "rows_sealed", "rows_rejected",
                "rows_uploaded_week", "rows_submitted_week", "rows_sealed_week") == [
        80, 39, 29, 7, 40, 0, 0]
    assert again["sealed_share"] == market["sealed_share"] == round(29 / 39, 4)
    # the reasons of the unique rows: two each, not four (the GBK copy counts once)
    assert pick(again, *(f"reason_{i}_{k}" for i in (1, 2, 3) for k in ("code", "rows"))) == [
        "BAD_DATE", 2, "BAD_HOLDER_CODE", 2, "CLASSIFIED", 2]
    assert again["reason_2_name"] == "holder code invalid"  # the code's name beside it


def test_sharing_comes_from_the_platforms_use_log(history: History) -> None:
    out, folder, w42 = figures(history, W[42])
    market, health = w42[MARKET.uscc], w42[HEALTH.uscc]
    # market: a 核验 MISMATCH and a number nobody issued (NOT_FOUND, market's by its type);
    # the holder query that found nothing is nobody's; health: one MATCH
    columns = ("shared_uses_week", "shared_avoided_week", "shared_failed_week",
               "shared_licenses_week", "shared_uses", "shared_avoided", "share_success")
    assert pick(market, *columns) == [2, 0, 2, 1, 3, 1, 0.0]
    assert pick(health, *columns) == [1, 1, 0, 1, 1, 1, 1.0]
    sharing = pd.read_csv(folder / "sharing.csv", encoding="utf-8-sig").fillna("")
    assert sorted(zip(sharing["department"], sharing["cause"], sharing["outcome"],
                      sharing["uses_week"], sharing["uses_total"], strict=True)) == [
        ("", "办理纳税申报", "EMPTY", 1, 1),
        (MARKET.uscc, "办理纳税申报", "SERVED", 0, 1),  # W41's query
        (MARKET.uscc, "开立对公账户", "NOT_FOUND", 1, 1),
        (MARKET.uscc, "核验营业执照", "MISMATCH", 1, 1),
        (HEALTH.uscc, "医师多点执业备案", "MATCH", 1, 1)]
    html = unescape((folder / "bulletin.html").read_text("utf-8"))
    assert ("This week other offices made 1 queries and 3 checks of the city's licenses: 4 "
            "licenses used, 1 delivered") in html
    assert "weights: stock 25, aggregation 20, sharing 15" in out.splitlines()[0]
    _, _, w45 = figures(history, W[45])
    assert pick(w45[MARKET.uscc], "shared_uses_week", "shared_avoided_week",
                "shared_avoided") == [2, 2, 3]  # two 食品经营许可证 served


def test_a_week_without_activity_names_nobody(history: History) -> None:
    out, folder, w43 = figures(history, W[43])
    lines = out.splitlines()
    assert lines[1] == "no activity this week: nobody is placed or named"
    assert not any(line.startswith("laggard") for line in lines)
    assert [r["rank"] for r in w43.values()] == [None, None] or all(
        np.isnan(r["rank"]) for r in w43.values())
    html = (folder / "bulletin.html").read_text("utf-8")
    assert "First place" not in html and "points lost" not in html
    assert "No ranking this week: nothing happened." in html


def test_superseded_versions_are_history_not_failures(history: History) -> None:
    _, _, w44 = figures(history, W[44])
    market, health = w44[MARKET.uscc], w44[HEALTH.uscc]
    # 30 versions of market's: 29 in force, all PASSED; the changed one's first version is
    # superseded: history, neither passed nor failed
    assert pick(market, "audited", "audit_passed", "audit_history", "pass_rate",
                "licenses_sealed") == [29, 29, 1, 1.0, 30]
    assert pick(health, "audited", "audit_passed", "audit_history", "pass_rate") == [
        19, 19, 0, 1.0]


def test_deadlines_pace_projection_and_who_is_late(history: History) -> None:
    out, folder, w47 = figures(history, W[47])
    market, health = w47[MARKET.uscc], w47[HEALTH.uscc]
    # market: its seal suspended in W47 (coverage 2 → 0 in the last 4 weeks): stalled; stock
    # 47 of 100 declared, 18 more in 4 weeks (4.5 a week): 53 left take 83 days from Sunday
    # 2026-11-22, i.e. 2027-02-13, after the deadline 2027-01-31
    assert pick(market, "seals_done", "seals_total", "seals_pace", "seals_status") == [
        0, 2, -0.5, "STALLED"]
    assert pick(market, "stock_done", "stock_total", "stock_share", "stock_pace",
                "stock_projected", "stock_deadline", "stock_status") == [
        47, 100, 0.47, 4.5, "2027-02-13", "2027-01-31", "LATE"]
    assert pick(market, "templates_status") == ["DONE"]
    # health: 19 of 20 declared, nothing in the last 4 weeks: stalled
    assert pick(health, "stock_done", "stock_total", "stock_pace", "stock_status",
                "seals_status") == [19, 20, 0.0, "STALLED", "DONE"]
    assert [line for line in out.splitlines() if line.startswith("behind")] == [
        f"behind: {MARKET.name}: seals made and authorized 0.0% done, no progress in the last "
        "weeks; at this pace it will not be done by the deadline 2027-03-31.",
        f"behind: {MARKET.name}: stock of licenses sealed 47.0% done, 4.5 licenses a week; at "
        "this pace done by 2027-02-13, after the deadline 2027-01-31.",
        f"behind: {HEALTH.name}: stock of licenses sealed 95.0% done, no progress in the last "
        "weeks; at this pace it will not be done by the deadline 2027-01-31."]
    # the ranking of W47: health 25·0.95 + 10 + 10 + 20 + 10 (no acks, no uses: 0);
    # market 25·47/59 + 0 + 10 + 20 + 10; market's largest shortfall is sharing (15 points)
    assert pick(health, "rank", "score") == [1, 73.75]
    assert pick(market, "rank", "score") == [2, round(25 * 47 / 59 + 40, 2)]
    assert (f"laggard {MARKET.uscc} {MARKET.name}: held back by sharing (sharing delivered "
            "rate) —, 15.0 points lost") in out.splitlines()
    trend = pd.read_csv(folder / "trend.csv", encoding="utf-8-sig")
    assert list(dict.fromkeys(trend["week"])) == [str(W[n]) for n in range(39, 48)]  # 9 weeks
    market_trend = trend[trend["department"] == MARKET.uscc].set_index("week")
    assert market_trend["stock"].round(4).tolist()[1:] == (
        [round(29 / 39, 4)] * 5 + [round(47 / 59, 4)] * 3)
    assert market_trend["sharing"].tolist()[2:4] == [1.0, 0.0]  # W41 delivered, W42 not
    html = (folder / "bulletin.html").read_text("utf-8")
    assert html.count("<polyline") >= 2 * 7  # a line per department and indicator


def test_a_week_not_over_is_said_to_be_provisional(history: History, tmp_path: Path) -> None:
    friday = W[48].start + dt.timedelta(days=4, hours=10)
    out, folder, _ = figures(history, W[48], at=friday)
    assert out.splitlines()[1] == (
        "Warning: the week is not over yet. The figures are as of 2026-11-27 10:00 Beijing time "
        "and will change by the week's end; the ranking is provisional.")
    assert "the week is not over yet" in (folder / "bulletin.html").read_text("utf-8")


def test_the_bulletin_page_renders_in_chromium(history: History, tmp_path: Path) -> None:
    from PIL import Image

    _, folder, _ = figures(history, W[47])
    png = tmp_path / "history.png"
    screenshot_or_skip(folder / "bulletin.html", png, height=4000)
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200  # text and charts drawn
    keep = Path("/tmp/bul")
    if keep.is_dir():  # for a person to look at
        shutil.copy(png, keep / "history.png")

