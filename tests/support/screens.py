"""Headless Chromium screenshots of the pages licreg writes (no tests here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["screenshot_or_skip"]


def screenshot_or_skip(html: Path, png: Path, *, width: int = 1280, height: int = 2000) -> None:
    """Open ``html`` in headless Chromium and save a ``width`` × ``height`` screenshot; skip
    without Chromium (fail when ``LICREG_REQUIRE_CHROMIUM`` is set)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("LICREG_REQUIRE_CHROMIUM"):
            pytest.fail("LICREG_REQUIRE_CHROMIUM is set but chromium is not installed")
        pytest.skip("chromium is not installed (scripts/system-deps.sh installs it)")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={png}", f"--window-size={width},{height}", html.as_uri()],
        check=True, capture_output=True, timeout=120)
