"""Random and mutated bytes fed to the text readers (CSV, JSON, JSON Lines) through
registry.ingest.reader.read_rows: each gives chunks of text a database can hold, or an
IngestError naming the file, never another exception, in bounded memory and time.

The mutations splice in what broke the readers before (issue 17): brackets 3,000 deep, a
5,000-digit number, a lone surrogate escape, a repeated key, a Big5 line, a quote, NUL and
undecodable bytes. Memory is measured with tracemalloc (the inputs are at most a few KB, the
bound is far above what reading them needs and far below what a runaway parse takes); time
by hypothesis's deadline.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.errors import IngestError
from registry.ingest.frames import EXTRA, LINE, PROBLEMS
from registry.ingest.reader import read_rows
from tests.conftest import FIXTURES
from tests.support.ingest import OPTS

PEAK_BYTES = 64 << 20
"""Memory one read of a few KB may take at most (tracemalloc's peak)."""

SEEDS = {
    ".csv": b"".join((FIXTURES / "batches" / "business-licenses.csv").read_bytes()
                     .splitlines(keepends=True)[:4]),
    ".json": (FIXTURES / "formats" / "business-licenses.json").read_bytes(),
    ".jsonl": (FIXTURES / "formats" / "business-licenses.jsonl").read_bytes(),
}
"""A good file of each format, a few rows long, to mutate."""

TRIGGERS = [b"[" * 3000, b'{"a":' * 3000, b"9" * 5000, b"-0." + b"1" * 5000, b"\\ud800",
            b'"\\udfff"', b'"ZZBH": "1", "ZZBH": "2", ', "臺北市貿易有限公司".encode("big5"),
            "示范市".encode("gbk"), b'"', b"\x00", b"\xff\xfe", b"\r", b"\n", b",", b"]", b"}",
            b"NaN", b"1e999999"]
"""Byte strings that broke, or could break, a reader."""


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _i in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "flip", "cut"]))
        if kind == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(TRIGGERS), st.binary(max_size=8)))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
    return bytes(data)


def read_bounded(data: bytes, suffix: str) -> None:
    """Read ``data`` as a file with ``suffix``; assert a result or an IngestError naming it,
    within PEAK_BYTES."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        error = ""
        try:
            chunks = list(read_rows(path, chunk_rows=3, options=OPTS))
        except IngestError as exc:  # the clear error; anything else fails the test
            error, chunks = str(exc), []
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak < PEAK_BYTES
    assert not error or str(path) in error
    for chunk in chunks:
        for column in chunk.columns:
            str(column).encode("utf-8")  # a column name the database can store
            if column in (LINE, PROBLEMS):
                continue
            for cell in chunk[column]:
                cells = cell if column == EXTRA else (cell,)
                for text in cells:
                    assert isinstance(text, str)
                    text.encode("utf-8")  # no lone surrogate left to fail a later stage


FAST = settings(max_examples=40, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("suffix", list(SEEDS))
@FAST
@given(data=st.data())
def test_mutated_files_read_or_fail_clearly(suffix: str, data: st.DataObject) -> None:
    read_bounded(data.draw(mutated(SEEDS[suffix])), suffix)


@pytest.mark.parametrize("suffix", list(SEEDS))
@FAST
@given(raw=st.one_of(st.binary(max_size=512),
                     st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_read_or_fail_clearly(suffix: str, raw: bytes) -> None:
    read_bounded(raw, suffix)
