"""The weekly bulletin flow (flows/bulletin.py), run for real under the session harness: it
writes the bulletin files and publishes the bulletin as a markdown artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.city.demo import MARKET
from registry.config import Settings


@pytest.mark.prefect
@pytest.mark.slow
def test_flow_writes_the_bulletin_and_publishes_markdown(harness: None, demo_env: Settings,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.bulletin import ARTIFACT_KEY, weekly_bulletin

    monkeypatch.setenv("LICREG_LANG", "zh")  # what an operator reads by default
    result = weekly_bulletin(week="2026-W48", out=str(tmp_path / "b"))
    assert result["week"] == "2026-W48"
    assert [Path(p).name for p in result["files"]] == ["bulletin.html", "figures.csv",
                                                       "figures.xlsx", "trend.csv"]
    assert (result["active"], result["partial"], result["laggards"]) == (False, False, [])
    assert all(Path(p).is_file() for p in result["files"])
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])),
            sort=ArtifactSort.CREATED_DESC)
    assert found and found[0].type == "markdown"
    text = str(found[0].data)
    assert text.startswith("# 电子证照与电子印章工作周通报（2026-W48）")
    # nothing happened in W48: no places, no movement, nobody named (seals and templates:
    # 20 of the 85 points scored without a platform to measure sharing)
    assert f"| — | — | {MARKET.name} | 23.5 |" in text
    assert "本周全市没有" in text and "综合得分第一名" not in text
    assert "bulletin.html" in text
