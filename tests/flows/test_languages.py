"""What the flows say to operators, in Chinese by default and in English on request: the
served deployments' schedules, a malformed prefect.yaml, the sync flow's log line
(flows.serve, flows.sync)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.serve import PROJECT, read_project
from registry.errors import ConfigError
from registry.i18n import _, language


def test_schedules_are_described_in_the_readers_language() -> None:
    specs = {s.name: s for s in read_project(PROJECT)}
    with language("zh"):
        assert specs["incremental"].schedule_text() == "每 300 秒（Asia/Shanghai）"
        assert specs["ingest"].schedule_text() == "按需运行"
    with language("en"):
        assert specs["incremental"].schedule_text() == "every 300 s (Asia/Shanghai)"
        assert specs["ingest"].schedule_text() == "on demand"


def test_a_malformed_project_is_named_in_the_readers_language(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text("name: t\ndeployments:\n  - name: a\n    entrypoint: flows/sync.py:x\n",
                    "utf-8")
    with language("zh"), pytest.raises(ConfigError) as zh:
        read_project(path)
    with language("en"), pytest.raises(ConfigError) as en:
        read_project(path)
    assert str(zh.value) == (f"{path}：部署 'a'：'entrypoint' 应为 package.module:flow，"
                             f"实为 'flows/sync.py:x'")
    assert str(en.value) == (f"{path}: deployment 'a': 'entrypoint' must be "
                             f"package.module:flow, not 'flows/sync.py:x'")


def test_the_sync_flows_log_line_in_both_languages() -> None:
    summary = {"sent": 3, "accepted": 2, "duplicates": 0, "held": 0, "rejected": 1, "dead": 0,
               "drained": True}
    line = ("pushed {sent}: accepted {accepted}, duplicates {duplicates}, held {held}, "
            "rejected {rejected}, dead letters {dead}")
    with language("zh"):
        assert _(line, **summary) == "推送 3 条：接收 2，重复 0，暂存 0，拒收 1，死信 0"
    with language("en"):
        assert _(line, **summary) == ("pushed 3: accepted 2, duplicates 0, held 0, rejected 1, "
                                      "dead letters 0")
