"""The ``licreg seal`` command line as a seal administrator runs it, on conftest's ``world``."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registry.cli import cli
from registry.config import Settings
from tests.conftest import PASSPHRASE


@pytest.fixture
def env(settings: Settings, world: Engine) -> dict[str, str]:
    return {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_ACTOR": "张三 (印章管理员)"}


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
