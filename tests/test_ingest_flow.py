"""The ingest flow under a real Prefect harness: any format, a table artifact per batch with its
reasons, a failed file reported (not crashed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registry.config import Settings
from registry.world import MARKET
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

    report = ingest_and_seal(str(FIXTURES / "bad" / "formula-cells.csv"), MARKET.uscc, BIZ)
    assert (report["status"], report["rejected"], report["accepted"]) == ("done", 2, 1)
    assert report["reasons"] == {"FORMULA": 2}
    table = {row["what"]: row["rows"] for row in artifact(f"batch-{report['batch_id']}")}
    assert table["rows read"] == 3 and table["reason FORMULA"] == 2

    xlsx = ingest_and_seal(str(FIXTURES / "formats" / "business-licenses.xlsx"), MARKET.uscc,
                           BIZ, mapping=str(FIXTURES / "mappings" / "market-bureau-xlsx.json"))
    assert (xlsx["status"], xlsx["accepted"]) == ("done", 3)


def test_flow_reports_a_refused_file_without_crashing(harness: None,
                                                      demo_env: Settings) -> None:
    from flows.ingest import ingest_and_seal

    report = ingest_and_seal(str(FIXTURES / "bad" / "traversal.zip"), MARKET.uscc, BIZ)
    assert report["status"] == "failed" and "path traversal" in report["error"]
    rows = artifact(f"batch-{report['batch_id']}")
    assert any(str(r["what"]).startswith("failed: traversal.zip") for r in rows)
