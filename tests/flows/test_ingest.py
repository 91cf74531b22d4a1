"""The ingest flows under a real Prefect harness: any format, a table artifact per batch with its
reasons and first rejected rows, a progress artifact, a failed file reported (not crashed), the
department inbox drained once."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from registry.city.demo import MARKET
from registry.config import Settings
from registry.i18n import language
from tests.conftest import FIXTURES
from tests.flows.runs import newest_artifact, recorded_state, table

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
BIZ = "11100000MB0143028R001"


def test_flow_ingests_a_workbook_and_publishes_reasons(harness: None, demo_env: Settings) -> None:
    from flows.ingest import ingest_and_seal

    report = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "formula-cells.csv"),
                                         MARKET.uscc, BIZ))
    assert (report["status"], report["rejected"], report["accepted"]) == ("done", 2, 1)
    assert report["reasons"] == {"FORMULA": 2}
    counts = {row["what"]: row["rows"] for row in table(f"batch-{report['batch_id']}")}
    assert counts["rows read"] == 3 and counts["reason FORMULA"] == 2

    xlsx = asyncio.run(ingest_and_seal(
        str(FIXTURES / "formats" / "business-licenses.xlsx"), MARKET.uscc, BIZ,
        mapping=str(FIXTURES / "mappings" / "market-bureau-xlsx.json")))
    assert (xlsx["status"], xlsx["accepted"]) == ("done", 3)


def test_a_failed_batch_is_a_failed_flow_run(harness: None, demo_env: Settings) -> None:
    from flows.ingest import ingest_and_seal
    from flows.outcome import summary

    state = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "traversal.zip"), MARKET.uscc,
                                        BIZ, return_state=True))
    assert state.is_failed()
    report = summary(state)  # the returned summary stays readable in this process
    assert report["status"] == "failed" and "path traversal" in report["error"]
    recorded = recorded_state(state)
    assert recorded.is_failed() and recorded.message == (
        f"batch {report['batch_id']} failed: {report['error']}")
    rows = {row["what"]: row["rows"] for row in table(f"batch-{report['batch_id']}")}
    assert f"failed: {report['error']}" in rows and rows["rows read"] == 0


def test_a_file_no_batch_is_made_of_is_a_failed_flow_run(harness: None,
                                                         demo_env: Settings) -> None:
    from flows.ingest import ingest_and_seal

    state = asyncio.run(ingest_and_seal(str(FIXTURES / "batches" / "business-licenses.csv"),
                                        MARKET.uscc, "11100000MB0143028R999", return_state=True))
    recorded = recorded_state(state)
    assert state.is_failed() and recorded.is_failed()
    assert recorded.message.startswith(
        f"{FIXTURES / 'batches' / 'business-licenses.csv'} refused: ")
    assert "11100000MB0143028R999" in recorded.message
    (row,) = table("ingest-refused")
    assert (row["status"], row["file"], row["type_code"]) == (
        "refused", "business-licenses.csv", "11100000MB0143028R999")
    assert newest_artifact("ingest-refused").description == recorded.message

    with language("zh"):  # what an operator reads by default
        state = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "formula-cells.csv"),
                                            MARKET.uscc, "11100000MB0143028R999",
                                            return_state=True))
    assert recorded_state(state).message.startswith(
        f"{FIXTURES / 'bad' / 'formula-cells.csv'} 被拒绝：")


def test_flow_publishes_progress_and_the_first_rejected_rows(harness: None,
                                                             demo_env: Settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    from flows.ingest import ingest_and_seal

    report = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "formula-cells.csv"),
                                         MARKET.uscc, BIZ))
    rejects = table(f"batch-{report['batch_id']}-rejects")
    assert [r["line"] for r in rejects] == [r["line"] for r in report["first_rejects"]]
    assert len(rejects) == 2 and all(r["where"].startswith("formula-cells.csv, line ")
                                     for r in rejects)
    assert all(r["reasons"].startswith("FORMULA: ") for r in rejects)
    with get_client(sync_client=True) as client:
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"])))
    assert any(a.data == 100.0 and f"Batch {report['batch_id']}: formula-cells.csv"
               in (a.description or "") for a in progress)


def test_inbox_flow_takes_each_file_once_and_reports_it(harness: None, demo_env: Settings,
                                                        tmp_path: Path) -> None:
    from flows.ingest import ingest_inbox
    from flows.outcome import summary

    folder = demo_env.home / "inbox" / MARKET.uscc / BIZ
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "batches" / "business-licenses.csv", folder)
    shutil.copy(FIXTURES / "bad" / "formula-cells.csv", folder)

    state = ingest_inbox(settle=0.0, return_state=True)
    assert state.is_completed()  # rejected rows are an outcome, not a failure
    result = summary(state)

    assert result["files"] == 2
    by_file = {r["file"]: r for r in result["outcomes"]}
    assert by_file["formula-cells.csv"]["rejected"] == 2
    assert by_file["business-licenses.csv"]["status"] == "done"
    assert not any(p.is_file() for p in folder.iterdir())
    archived = {Path(r["archived"]).name for r in result["outcomes"]}
    assert archived == {"business-licenses.csv", "formula-cells.csv"}
    rows = table("inbox")
    assert sorted(r["file"] for r in rows) == ["business-licenses.csv", "formula-cells.csv"]
    assert ingest_inbox(settle=0.0)["files"] == 0


def test_an_inbox_with_a_failed_or_refused_file_is_a_failed_flow_run(
        harness: None, demo_env: Settings) -> None:
    from flows.ingest import ingest_inbox

    inbox = demo_env.home / "inbox"
    (inbox / MARKET.uscc / BIZ).mkdir(parents=True)
    (inbox / MARKET.uscc / "11100000MB0143028R999").mkdir(parents=True)  # no such type
    shutil.copy(FIXTURES / "batches" / "business-licenses.csv", inbox / MARKET.uscc / BIZ)
    shutil.copy(FIXTURES / "bad" / "traversal.zip", inbox / MARKET.uscc / BIZ)
    shutil.copy(FIXTURES / "bad" / "formula-cells.csv",
                inbox / MARKET.uscc / "11100000MB0143028R999")

    state = ingest_inbox(settle=0.0, return_state=True)
    recorded = recorded_state(state)
    assert state.is_failed() and recorded.is_failed()
    assert recorded.message == (f"inbox {inbox}: 2 of 3 files failed or were refused: "
                                "traversal.zip, formula-cells.csv")  # in inbox order
    statuses = {r["file"]: (r["status"], bool(r["error"])) for r in table("inbox")}
    assert statuses == {"business-licenses.csv": ("done", False),
                        "traversal.zip": ("failed", True), "formula-cells.csv": ("refused", True)}
