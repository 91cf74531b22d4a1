"""What scripts and support people read: ``--json`` beside the text, and ``--version``."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select

from registry.city.demo import MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License
from tests.support.batches import ingest, row, write_csv
from tests.support.province import cli_run, make_registry


def test_bulletin_json_has_the_ranking_codes_and_files_of_the_text(tmp_path: Path) -> None:
    reg = make_registry(tmp_path / "var", n=3)
    campaign = tmp_path / "campaign.toml"  # none of 100,000 ingested, due in a week: behind
    campaign.write_text("[deadlines]\nstock = 2026-12-06\n[pace]\nweeks = 4\n[stock]\n"
                        f'"{MARKET.uscc}" = 100000\n', encoding="utf-8")
    week = ("bulletin", "--week", "2026-W48", "--campaign", str(campaign))
    code, text = cli_run(reg, *week, "--out", str(tmp_path / "a"))
    assert code == 0, text
    code, out = cli_run(reg, *week, "--out", str(tmp_path / "b"), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["week"], doc["days"]) == ("2026-W48", "2026-11-23 to 2026-11-29")
    assert doc["sharing_measured"] is False and doc["partial"] is False
    assert sum(doc["weights"].values()) == 85  # sharing (15) left out: not measured
    names = [r["name"] for r in doc["ranking"]]
    assert names == ["示范市市场监督管理局", "示范市卫生健康委员会"]
    for r in doc["ranking"]:  # the text says each department's score, in the same order
        assert f"{r['score']:6.1f}  {r['department']}  {r['name']}" in text
    assert doc["behind_text"] == [line.removeprefix("behind: ") for line in text.splitlines()
                                  if line.startswith("behind: ")]
    assert doc["behind"] and all(b["status"] in {"LATE", "STALLED", "OVERDUE"}
                                 for b in doc["behind"])
    [stock] = [b for b in doc["behind"] if b["task"] == "stock"]
    assert (stock["department"], stock["status"], stock["status_text"]) == (
        MARKET.uscc, "STALLED", "no progress: will not finish at this pace")
    assert stock["share"] == 0.0
    assert any(line.startswith("示范市市场监督管理局: stock of licenses sealed 0.0% done")
               for line in doc["behind_text"])
    assert [Path(p).name for p in doc["files"]] == [
        Path(line.removeprefix("wrote ")).name for line in text.splitlines()
        if line.startswith("wrote ")]
    assert all(Path(p).is_file() and Path(p).parent == tmp_path / "b" for p in doc["files"])


def test_pdf_show_json_names_the_file_written(tmp_path: Path) -> None:
    reg = make_registry(tmp_path / "var", n=1)
    code, out = cli_run(reg, "license", "list", "--json", LICREG_LANG="zh")
    [listed] = json.loads(out)
    assert (listed["status"], listed["status_text"]) == ("VALID", "有效")  # code beside word
    identifier = listed["identifier"]
    code, out = cli_run(reg, "pdf", "show", identifier, "--out", str(tmp_path / "a.pdf"), "--json")
    assert code == 0
    assert json.loads(out) == {"identifier": identifier, "file": str(tmp_path / "a.pdf"),
                               "size": (tmp_path / "a.pdf").stat().st_size}
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF-")


def test_version_names_licreg_python_the_libraries_and_the_database(tmp_path: Path) -> None:
    env = {"LICREG_DATABASE_URL": "postgresql+psycopg://ops:s3cret@db.example:5432/licreg",
           "LICREG_LANG": "en"}
    result = CliRunner().invoke(cli, ["--version"], env=env)
    assert result.exit_code == 0
    line = result.output
    assert line.startswith(f"licreg {version('licreg')} (Python {platform.python_version()} "
                           f"on {platform.system()} ")
    assert f"sqlalchemy {version('sqlalchemy')}" in line and f"prefect {version('prefect')}" in line
    assert "database postgresql+psycopg://ops:***@db.example:5432/licreg; language en)" in line
    assert "s3cret" not in line and line.count("\n") == 1
    zh = CliRunner().invoke(cli, ["--lang", "zh", "--version"], env=env).output
    assert zh.startswith(f"licreg {version('licreg')}（Python ") and "；语言 zh）" in zh
    # the installed entry point, with no registry anywhere: it reads no database
    installed = Path(sys.executable).with_name("licreg")
    done = subprocess.run([str(installed), "--version"], capture_output=True, text=True,
                          env={"LICREG_HOME": str(tmp_path / "none"), "LICREG_LANG": "en",
                               "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0 and done.stdout.startswith("licreg ") and done.stderr == ""
    assert not (tmp_path / "none").exists()


def test_license_list_show_and_batch_rows_never_print_raw_control_characters(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    """A license sealed before the value rule with an escape sequence in its name, and a file
    whose name holds one: the text shows them escaped, the JSON keeps them (escaped JSON)."""
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
           "LICREG_KEY_PASSPHRASE": (settings.passphrase or b"").decode()}
    report = ingest(world, settings, write_csv(tmp_path / "x\x1b[2Jy.csv", row(1),
                                               row(2, code="bad")))
    evil = "示范\x1b[2J\x1b[31m公司\u202e\x9b"
    with session_scope(world) as s:
        lic = s.scalars(select(License)).one()
        lic.record = json.dumps({**json.loads(lic.record), "CZZT": evil},
                                ensure_ascii=False).encode()
        identifier = lic.identifier
    runner = CliRunner()
    listed = runner.invoke(cli, ["license", "list"], env=env)
    shown = runner.invoke(cli, ["license", "show", identifier], env=env)
    rows = runner.invoke(cli, ["batch", "rows", str(report.batch_id)], env=env)
    for result in (listed, shown, rows):
        assert result.exit_code == 0, result.output
        assert not any(c in result.output for c in "\x1b\x9b\u202e"), result.output
    assert "示范\\x1b[2J\\x1b[31m公司\\u202e\\x9b" in listed.output
    assert json.loads(shown.output)["elements"]["CZZT"] == evil
    assert "x\\x1b[2Jy.csv, line 3" in rows.output
