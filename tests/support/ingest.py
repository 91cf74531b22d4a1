"""The ingest fixture cases of fixtures/make_ingest.py, loaded as a module (no tests here).

``CASES.CASES`` are the bad inputs of fixtures/bad/, ``CASES.FORMATS`` the good files of
fixtures/formats/; the module also builds workbooks, PDFs and archives for the reader tests.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import FIXTURES


def load_cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_ingest", FIXTURES / "make_ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_ingest"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


CASES = load_cases()
