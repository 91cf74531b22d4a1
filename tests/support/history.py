"""A registry with a history of weeks, made through the real commands (no tests here).

The command line reads the time from ``registry.cli._common.now``, which every command module
imported; :class:`PinnedClock` sets it in each of them, and writes the same instant to the
file the mock platform process reads its clock from (``--clock-file``, TEST ONLY), so that
the registry's steps and the platform's use log fall in the weeks a test chooses.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry.bulletin import IsoWeek
from registry.cli import cli

__all__ = ["CLI_MODULES", "PinnedClock", "licreg", "tuesday"]

CLI_MODULES = ("registry.cli.setup", "registry.cli.ingest", "registry.cli.license",
               "registry.cli.sync", "registry.cli.seal", "registry.cli.log",
               "registry.cli.audit", "registry.cli.bulletin")
"""The command modules whose ``now`` the clock pins."""


class PinnedClock:
    """The time of the commands and of the platform process, set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, file: Path) -> None:
        self.file = file
        self.at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for name in CLI_MODULES:
            monkeypatch.setattr(importlib.import_module(name), "now", lambda: self.at)

    def set(self, at: dt.datetime) -> None:
        self.at = at
        self.file.write_text(at.isoformat(), encoding="utf-8")


def tuesday(week: IsoWeek, hours: int = 0) -> dt.datetime:
    """Tuesday 10:00 Beijing time of ``week``, plus ``hours``."""
    return week.start + dt.timedelta(days=1, hours=10 + hours)


def licreg(env: dict[str, str], *args: str) -> Result:
    """``licreg ARGS`` in-process; the command must succeed."""
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result
