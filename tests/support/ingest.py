"""Ingest helpers (no tests here): the fixture cases of fixtures/make_ingest.py, loaded as a
module, and :func:`read_all`, a whole upload read as a 营业执照 the way the reader tests read it.

``CASES.CASES`` are the bad inputs of fixtures/bad/, ``CASES.FORMATS`` the good files of
fixtures/formats/; the module also builds workbooks, PDFs and archives for the reader tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd

from registry.ingest.frames import ReadOptions
from registry.ingest.reader import read_rows
from registry.license.types import catalogue
from tests.conftest import FIXTURES


def load_cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_ingest", FIXTURES / "make_ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_ingest"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


CASES = load_cases()
OPTS = ReadOptions(license_type=catalogue()[CASES.BIZ])
"""How the reader tests read a file: as a 营业执照 upload."""


def read_all(path: Path, options: ReadOptions = OPTS, chunk_rows: int = 1000) -> pd.DataFrame:
    return pd.concat(list(read_rows(path, chunk_rows=chunk_rows, options=options)),
                     ignore_index=True)
