"""The benchmark runs end to end at a small N (a smoke check: its numbers are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.bench.synthetic import BIZ, DOCTOR, write_synthetic_batch
from registry.cli import cli
from registry.ingest.reader import read_rows
from registry.license.codes import id_card_is_valid, uscc_is_valid

pytestmark = pytest.mark.slow


def test_synthetic_batches_carry_valid_codes(tmp_path: Path) -> None:
    for code, check in ((BIZ, uscc_is_valid), (DOCTOR, id_card_is_valid)):
        rows = next(read_rows(write_synthetic_batch(tmp_path / f"{code}.csv", code, 300, seed=7)))
        assert len(rows) == 300
        assert all(check(c) for c in rows["持证主体代码"])
        assert rows["证照编号"].is_unique


def test_bench_reports_every_stage(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--licenses", "400", "--workdir", str(tmp_path),
                                      "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    stages = {s["stage"].split(" (")[0]: s for s in report["stages"]}
    expected = {"parse", "structure", "seal", "ingest whole path", "store",
                "PDF rendition + signature", "push", "log checkpoint", "verify"}
    assert expected <= set(stages)
    assert stages["ingest whole path"]["items"] == 400  # every synthetic row is valid
    assert stages["push"]["items"] == 400
    assert stages["log checkpoint"]["items"] == 400  # one sealing leaf per license
    assert stages["verify"]["note"].startswith("400 PASSED")
    assert stages["PDF rendition + signature"]["items"] == 400
    assert report["sign_limit_per_second"] > 0 and report["peak_rss_mib"] > 0
    assert all(s["per_second"] > 0 for s in report["stages"])
    assert list(tmp_path.iterdir()) == []  # the scratch registry is removed
