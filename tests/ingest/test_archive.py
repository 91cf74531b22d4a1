"""Archives (registry.ingest.archive): member names, limits checked before decompressing,
zip bombs, encrypted members, members in order, folders packed deterministically (no
database)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from registry.errors import ArchiveError, LimitError
from registry.ingest.archive import (
    check_zip,
    list_members,
    pack_folder,
    read_member,
    unsafe_name,
)
from registry.ingest.frames import LINE, PROBLEMS
from registry.ingest.limits import Limits
from registry.ingest.reader import read_rows
from tests.support.ingest import CASES, OPTS, read_all

M = CASES


@pytest.mark.parametrize(("name", "why"), [
    ("../x.pdf", "climbs out"), ("a/../../x.pdf", "climbs out"), ("/etc/x", "absolute"),
    ("C:/x.pdf", "drive letter"), ("a\\..\\x.pdf", "backslashes"), ("a\x00.pdf", "NUL"),
])
def test_unsafe_member_names(name: str, why: str) -> None:
    assert why in (unsafe_name(name) or "")


@pytest.mark.parametrize("name", ["a.pdf", "存量/营业执照 1.pdf", "a..b.pdf", ".hidden.pdf"])
def test_safe_member_names(name: str) -> None:
    assert unsafe_name(name) is None


def _zip(members: list[tuple[str, bytes]]) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(M.zip_bytes(members)))


def test_archive_limits_are_checked_before_decompressing() -> None:
    files = [(f"{i}.pdf", b"x" * 100) for i in range(5)]
    with pytest.raises(LimitError, match=r"more than 4 archive members \(5\)"):
        check_zip(_zip(files), file="z.zip", limits=Limits(max_members=4))
    with pytest.raises(LimitError, match="bytes uncompressed in one member"):
        check_zip(_zip(files), file="z.zip", limits=Limits(max_member_bytes=99))
    with pytest.raises(LimitError, match="bytes uncompressed in all members"):
        check_zip(_zip(files), file="z.zip", limits=Limits(max_uncompressed_bytes=499))
    assert len(check_zip(_zip(files), file="z.zip")) == 5


def test_zip_bomb_is_refused_by_ratio() -> None:
    with pytest.raises(ArchiveError, match=r"zip bomb, refused \(Limits.max_ratio is 200\)"):
        list_members(M.HERE / "bad" / "zip-bomb.zip")


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    raw = bytearray(M.zip_bytes([("a.pdf", b"%PDF")], deflate=False))
    # Set the "encrypted" flag bit in the local and central headers.
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        at = raw.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        raw[flag_at] |= 1
    path = tmp_path / "e.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="is encrypted"):
        list_members(path)


def test_members_in_name_order_without_litter() -> None:
    members = list_members(M.HERE / "formats" / "licenses.zip")
    assert [(m.line, m.name) for m in members] == [(1, "存量/1.pdf"), (2, "存量/2.pdf"),
                                                   (3, "存量/3.pdf")]


def test_archive_rows_and_chunks(tmp_path: Path) -> None:
    chunks = list(read_rows(M.HERE / "formats" / "licenses.zip", chunk_rows=2, options=OPTS))
    assert [c[LINE].tolist() for c in chunks] == [[1, 2], [3]]
    assert chunks[0].attrs["progress"] == (2, 3)
    assert chunks[0].attrs["source"]["members"][0] == [1, "存量/1.pdf",
                                                       chunks[0].attrs["source"]["members"][0][2]]
    assert chunks[1].loc[0, "CZZTDM"] == M.uscc(3)


def test_pack_folder_is_deterministic_and_refuses_symlinks(tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.pdf").write_bytes(b"B")
    (folder / "sub" / "a.pdf").write_bytes(b"A")
    (folder / ".DS_Store").write_bytes(b"junk")
    assert pack_folder(folder, tmp_path / "1.zip") == ["b.pdf", "sub/a.pdf"]
    pack_folder(folder, tmp_path / "2.zip")
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()
    (folder / "link.pdf").symlink_to(tmp_path / "1.zip")
    with pytest.raises(ArchiveError, match="symbolic link"):
        pack_folder(folder, tmp_path / "3.zip")


def test_a_member_inflating_past_its_entry_is_a_row_problem_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        df = read_all(M.HERE / "bad" / "lying-size.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # 2.pdf inflates to 32 MiB (zipfile.read took all of it at once)
    (problem,) = df[PROBLEMS].iloc[1]
    assert problem["code"] == "UNREADABLE_FILE"
    assert "does not match its directory entry (1000 bytes, CRC-32)" in problem["message"]
    assert df[PROBLEMS].iloc[0] == ()


def test_read_member_gives_the_bytes_and_counts_them() -> None:
    zf = _zip([("a.pdf", b"x" * 3_000_000)])
    assert read_member(zf, zf.getinfo("a.pdf")) == b"x" * 3_000_000
    assert read_member(zf, zf.getinfo("a.pdf"), keep=False) == b""
