"""Property tests: random and mutated bytes fed to the binary readers (.xlsx, .pdf, .zip)
through their public entry, :func:`registry.ingest.reader.read_rows`, give chunks or an
:class:`~registry.errors.IngestError`, never another exception, within bounded memory.

The mutations start from real fixture files: bytes flipped, cut or inserted anywhere in the
file, and (so that the parsers behind the zip layer are reached, not only the CRC check) the
same done to one member of a package, which is then zipped again (no database).
"""

from __future__ import annotations

import io
import tempfile
import tracemalloc
import zipfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.errors import IngestError
from registry.ingest.reader import read_rows
from tests.support.ingest import CASES, OPTS

M = CASES
SEEDS = {
    ".xlsx": [M.HERE / "formats" / "business-licenses.xlsx", M.HERE / "bad" / "number-codes.xlsx"],
    ".pdf": [M.HERE / "formats" / "form.pdf", M.HERE / "formats" / "text.pdf"],
    ".zip": [M.HERE / "formats" / "licenses.zip"],
}
MAX_PEAK = 64 << 20
"""Python memory one read may take: the seeds are a few KB, so anything near this is a leak
of the kind the limits exist for (a member inflated whole, a sheet padded to its dimension)."""

SETTINGS = settings(max_examples=25, deadline=timedelta(seconds=5), derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _read(data: bytes, suffix: str) -> None:
    """Read ``data`` as a file of ``suffix`` to the end: chunks or an IngestError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            for _ in read_rows(path, chunk_rows=50, options=OPTS):
                pass
        except IngestError as exc:
            assert str(exc).startswith(str(path))  # names the file  # noqa: PT017 - its text
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak < MAX_PEAK


edits = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.floats(0, 1),
                           st.binary(min_size=1, max_size=16)), min_size=1, max_size=6)
"""Edits to a byte string: at a relative position, flip a byte, cut there, or insert bytes."""


def _mutate(data: bytes, changes: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, extra in changes:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= extra[0] or 0xFF
        elif kind == "cut":
            del out[at:]
        else:
            out[at:at] = extra
    return bytes(out)


def _mutate_member(data: bytes, pick: float, changes: list[tuple[str, float, bytes]]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    k = min(int(pick * len(members)), len(members) - 1)
    members[k] = (members[k][0], _mutate(members[k][1], changes))
    return M.zip_bytes(members)


@SETTINGS
@given(seed=st.sampled_from(SEEDS[".xlsx"] + SEEDS[".pdf"] + SEEDS[".zip"]), changes=edits)
def test_mutated_files_give_rows_or_a_clear_error(seed: Path, changes: list[tuple[str, float,
                                                                                  bytes]]) -> None:
    _read(_mutate(seed.read_bytes(), changes), seed.suffix)


@SETTINGS
@given(seed=st.sampled_from(SEEDS[".xlsx"] + SEEDS[".zip"]), pick=st.floats(0, 1),
       changes=edits)
def test_packages_with_a_mutated_member_give_rows_or_a_clear_error(
        seed: Path, pick: float, changes: list[tuple[str, float, bytes]]) -> None:
    _read(_mutate_member(seed.read_bytes(), pick, changes), seed.suffix)


@SETTINGS
@given(suffix=st.sampled_from(sorted(SEEDS)), data=st.binary(max_size=4096),
       head=st.sampled_from([b"", b"PK\x03\x04", b"%PDF-1.7\n"]))
def test_random_bytes_give_rows_or_a_clear_error(suffix: str, data: bytes, head: bytes) -> None:
    _read(head + data + (b"\n%%EOF\n" if head.startswith(b"%PDF") else b""), suffix)
