"""The registry and the platform the aggregation tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.config import Settings
from tests.support.province import Platform, make_registry, platform


@pytest.fixture
def reg(tmp_path: Path, db_url: str) -> Settings:
    """A registry with 6 sealed licenses (6 pending 新发 events)."""
    return make_registry(tmp_path / "registry", db_url, n=6)


@pytest.fixture
def plat(reg: Settings) -> Iterator[Platform]:
    """The mock platform in process, trusting ``reg``'s root."""
    yield from platform(reg)
