"""The ingest flows under a real Prefect harness: any format, a table artifact per batch with its
reasons and first rejected rows, a progress artifact, a failed file reported (not crashed), the
department inbox drained once."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from registry.city.demo import MARKET
from registry.config import Settings
from tests.conftest import FIXTURES

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
BIZ = "11100000MB0143028R001"


def artifact(key: str) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:  # the newest version of the key
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC)
    assert found, key
    data = found[0].data
    return json.loads(data) if isinstance(data, str) else list(data)  # type: ignore[arg-type]


def test_flow_ingests_a_workbook_and_publishes_reasons(harness: None, demo_env: Settings) -> None:
    from flows.ingest import ingest_and_seal

    report = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "formula-cells.csv"),
                                         MARKET.uscc, BIZ))
    assert (report["status"], report["rejected"], report["accepted"]) == ("done", 2, 1)
    assert report["reasons"] == {"FORMULA": 2}
    table = {row["what"]: row["rows"] for row in artifact(f"batch-{report['batch_id']}")}
    assert table["rows read"] == 3 and table["reason FORMULA"] == 2

    xlsx = asyncio.run(ingest_and_seal(
        str(FIXTURES / "formats" / "business-licenses.xlsx"), MARKET.uscc, BIZ,
        mapping=str(FIXTURES / "mappings" / "market-bureau-xlsx.json")))
    assert (xlsx["status"], xlsx["accepted"]) == ("done", 3)


def test_flow_reports_a_refused_file_without_crashing(harness: None,
                                                      demo_env: Settings) -> None:
    from flows.ingest import ingest_and_seal

    report = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "traversal.zip"),
                                         MARKET.uscc, BIZ))
    assert report["status"] == "failed" and "path traversal" in report["error"]
    rows = artifact(f"batch-{report['batch_id']}")
    assert any(str(r["what"]).startswith("failed: traversal.zip") for r in rows)


def test_flow_publishes_progress_and_the_first_rejected_rows(harness: None,
                                                             demo_env: Settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    from flows.ingest import ingest_and_seal

    report = asyncio.run(ingest_and_seal(str(FIXTURES / "bad" / "formula-cells.csv"),
                                         MARKET.uscc, BIZ))
    rejects = artifact(f"batch-{report['batch_id']}-rejects")
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

    folder = demo_env.home / "inbox" / MARKET.uscc / BIZ
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "batches" / "business-licenses.csv", folder)
    shutil.copy(FIXTURES / "bad" / "formula-cells.csv", folder)

    result = ingest_inbox(settle=0.0)

    assert result["files"] == 2
    by_file = {r["file"]: r for r in result["outcomes"]}
    assert by_file["formula-cells.csv"]["rejected"] == 2
    assert by_file["business-licenses.csv"]["status"] == "done"
    assert not any(p.is_file() for p in folder.iterdir())
    archived = {Path(r["archived"]).name for r in result["outcomes"]}
    assert archived == {"business-licenses.csv", "formula-cells.csv"}
    table = artifact("inbox")
    assert sorted(r["file"] for r in table) == ["business-licenses.csv", "formula-cells.csv"]
    assert ingest_inbox(settle=0.0)["files"] == 0
