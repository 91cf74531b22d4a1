"""PDF uploads (registry.ingest.pdf): form fields, the text layer read by the type's rule, a
signed record taken verbatim, PDFs that cannot be read and why (no database)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from registry.errors import StockPdfError
from registry.ingest.frames import LINE, PROBLEMS, ReadOptions
from registry.ingest.pdf import RECORD_KEY, read_pdf
from registry.license.canonical import canonical_bytes
from registry.license.types import catalogue
from tests.support.ingest import CASES, OPTS, read_all
from tests.support.pdf import biz_elements, make_kit

M = CASES
BIZ = M.BIZ


def test_form_fields_map_titles_codes_and_the_mapping() -> None:
    data = M.form_pdf({"证照编号": "1", "CZZT": "甲", "企业代码": "X", "备注": "b"})
    fields = read_pdf(data, file="f.pdf",
                      options=ReadOptions(license_type=catalogue()[BIZ],
                                          mapping={"企业代码": "CZZTDM"}))
    assert fields == {"ZZBH": "1", "CZZT": "甲", "CZZTDM": "X", "备注": "b"}


def test_text_layer_uses_the_type_rule() -> None:
    r = M.row(5)
    fields = read_pdf(M.text_pdf(M.face_lines(r)), file="t.pdf", options=OPTS)
    assert fields["CZZTDM"] == r["持证主体代码"] and fields["CZZT"] == r["持证主体"]
    assert (fields["ZZYXQQSRQ"], fields["ZZYXQJZRQ"]) == ("2020-03-01", "长期")
    assert fields["ZZBFRQ"] == "2024-01-05" and fields["ZZBH"] == r["证照编号"]


def test_default_text_rule_reads_title_colon_value() -> None:
    lines = ["证照编号：1", "持证主体： 王芳", "性别：男"]
    fields = read_pdf(M.text_pdf(lines), file="t.pdf",
                      options=ReadOptions(license_type=catalogue()["11100000MB15645531001"]))
    assert fields == {"ZZBH": "1", "CZZT": "王芳", "KZ_XB": "男"}


def test_signed_record_wins_over_the_form_and_is_taken_verbatim() -> None:
    record = {"ZZLXDM": BIZ, "ZZBH": "1", "CZZT": "甲", "ZZYXQJZRQ": "长期"}
    data = M.record_pdf(json.dumps(record, ensure_ascii=False).encode(),
                        visible={"证照编号": "something else"})
    assert read_pdf(data, file="r.pdf", options=OPTS) == record


@pytest.mark.parametrize(("name", "message"), [
    ("truncated.pdf", "truncated: the file has no %%EOF"),
    ("encrypted.pdf", "encrypted: a password is needed"),
    ("not-a-pdf.pdf", "not a PDF"),
    ("empty-form.pdf", "no license found in it"),
    ("wrong-type.pdf", "a license of type 11100000MB0143028R002, not 11100000MB0143028R001"),
])
def test_unreadable_pdfs_say_why(name: str, message: str) -> None:
    with pytest.raises(StockPdfError, match=message) as info:
        read_pdf((M.HERE / "bad" / name).read_bytes(), file=name, options=OPTS)
    assert str(info.value).startswith(name)


def test_malformed_record_is_unreadable() -> None:
    data = M.form_pdf({}, info={RECORD_KEY: "{not json"})
    with pytest.raises(StockPdfError, match="/LicenseRecord is not JSON"):
        read_pdf(data, file="r.pdf", options=OPTS)


def test_pdf_garbage_between_header_and_eof_is_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "g.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    df = read_all(path)
    assert df[PROBLEMS].iloc[0][0]["code"] == "UNREADABLE_FILE"
    assert len(df) == 1 and df[LINE].tolist() == [1]


@pytest.mark.parametrize(("name", "what"), [
    ("javascript.pdf", "it holds JavaScript"),
    ("launch.pdf", "it holds a /Launch action (it starts a program)"),
    ("embedded-file.pdf", "it holds an embedded file ('invoice.exe')"),
])
def test_active_content_is_refused_with_its_own_code(name: str, what: str) -> None:
    with pytest.raises(StockPdfError, match=f"active content: {re.escape(what)}") as info:
        read_pdf((M.HERE / "bad" / name).read_bytes(), file=name, options=OPTS)
    assert info.value.code == "ACTIVE_CONTENT"


def test_a_signed_product_pdf_with_its_own_attachments_is_not_active(tmp_path: Path) -> None:
    elements = biz_elements()
    data = make_kit(tmp_path).pdf(elements)
    assert read_pdf(data, file="p.pdf", options=OPTS) == json.loads(canonical_bytes(elements))


def test_active_content_hidden_behind_escaped_names_is_found() -> None:
    data = (M.HERE / "bad" / "javascript.pdf").read_bytes()
    hidden = data.replace(b"/JavaScript", b"/J#61vaScript").replace(b"/JS ", b"/J#53 ")
    assert b"/JavaScript" not in hidden and b"/JS " not in hidden
    with pytest.raises(StockPdfError, match="active content") as info:
        read_pdf(hidden, file="x.pdf", options=OPTS)
    assert info.value.code == "ACTIVE_CONTENT"
