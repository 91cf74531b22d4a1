"""The encoding of a department file (registry.ingest.encoding), decided from the whole file:
UTF-8 with or without a BOM, GBK read as GB18030, undecodable bytes named by their offset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from registry.errors import IngestError, UndecodableFileError
from registry.ingest.encoding import detect_encoding
from registry.ingest.frames import EXTRA, LINE
from registry.ingest.reader import read_rows
from tests.conftest import REPO

BATCHES = REPO / "fixtures" / "batches"


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "batch.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read_all(path: Path, **kwargs: int) -> pd.DataFrame:
    return pd.concat(list(read_rows(path, **kwargs)), ignore_index=True)


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("business-licenses.csv", "utf-8"),
        ("business-licenses-gbk.csv", "gb18030"),
        ("food-permits.csv", "utf-8-sig"),
        ("physicians.csv", "utf-8"),
    ],
)
def test_fixture_encodings(name: str, encoding: str) -> None:
    assert detect_encoding(BATCHES / name) == encoding


CONTENT = "证照编号,持证主体\nA001,示范市恒信科技有限公司\n"


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_each_encoding_reads_the_same(tmp_path: Path, encoding: str, detected: str) -> None:
    path = write(tmp_path, CONTENT, encoding=encoding)
    assert detect_encoding(path) == detected
    df = read_all(path)
    assert list(df.columns) == ["证照编号", "持证主体", LINE, EXTRA]
    assert df.loc[0, "持证主体"] == "示范市恒信科技有限公司"


def test_gb18030_only_characters(tmp_path: Path) -> None:
    # 𠮷 (U+20BB7) is outside GBK: GB18030 writes it in four bytes.
    path = write(tmp_path, "持证主体\n𠮷野家餐饮店\n", encoding="gb18030")
    with pytest.raises(UnicodeEncodeError):
        "𠮷".encode("gbk")
    assert detect_encoding(path) == "gb18030"
    assert read_all(path).loc[0, "持证主体"] == "𠮷野家餐饮店"


def test_ascii_only_file_is_utf8(tmp_path: Path) -> None:
    assert detect_encoding(write(tmp_path, "ZZBH\nA1\n")) == "utf-8"


@pytest.mark.parametrize("block_size", [1, 3, 7, 1 << 20])
def test_undecodable_file_names_the_file_and_the_byte_offset(
    tmp_path: Path, block_size: int
) -> None:
    good = "证照编号,持证主体\nA001,示范市\n".encode()
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"\xff" + b"tail\n")
    with pytest.raises(UndecodableFileError) as info:
        detect_encoding(path, block_size=block_size)
    assert info.value.offset == len(good)
    assert f"byte offset {len(good)}" in str(info.value)
    assert "0xFF" in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, IngestError)


def test_undecodable_file_is_refused_before_any_row(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"ZZBH\n" + b"A1\n" * 1000 + b"\x80\n")
    with pytest.raises(UndecodableFileError):
        read_rows(path, chunk_rows=10)  # raised by the call itself, not while iterating


def test_utf16_file_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffZZBH\tCZZT\n", encoding="utf-16-le")
    with pytest.raises(UndecodableFileError, match="UTF-16"):
        detect_encoding(path)


BIG5 = "臺北市戊貿易有限公司,臺北市中正區重慶南路一段122號\n"


def test_big5_lines_in_a_gbk_file_are_refused_naming_them(tmp_path: Path) -> None:
    gbk = "持证主体,住所\n示范市甲贸易有限公司,示范市湖滨路1号\n"
    path = tmp_path / "batch.csv"
    path.write_bytes(gbk.encode("gbk") + BIG5.encode("big5") + gbk.split("\n")[1].encode("gbk")
                     + b"\n" + BIG5.encode("big5"))
    with pytest.raises(UndecodableFileError, match=r"mixed encodings: 2 lines look like Big5 "
                       r"\(traditional Chinese\) pasted into a GBK file \(lines 3, 5\); the first "
                       r"read as GBK says '籓.*', as Big5 '臺北市戊貿易有限公司,") as info:
        read_rows(path)
    assert info.value.offset == len(gbk.encode("gbk"))
    assert str(path) in str(info.value)
    with pytest.raises(UndecodableFileError, match=r"\(lines 3, 5\)"):
        detect_encoding(path, block_size=7)  # lines cut across blocks


@pytest.mark.parametrize("name", ["堃喆犇淼", "𠮷野家餐饮店", "欧阳喆"])
def test_rare_characters_in_a_gbk_file_are_not_big5(tmp_path: Path, name: str) -> None:
    # Characters outside GB2312 (GBK extensions, GB18030's four-byte ones) in a name or two.
    path = write(tmp_path, f"持证主体,住所\n{name},示范市湖滨路1号\n甲,乙\n", encoding="gb18030")
    assert detect_encoding(path) == "gb18030"
    assert detect_encoding(path, block_size=7) == "gb18030"  # lines cut across blocks
