"""verify_pdf: a rendition verified from the file alone, and every way of breaking it."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from registry.render.pdf.read import find_signature
from registry.verify.pdf import verify_pdf, verify_pdf_bytes
from registry.verify.report import CHECK_NAMES, CheckStatus, Indication
from tests.conftest import NOW
from tests.support.pdf import Kit, biz_elements, make_kit

AT = NOW + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("pdfverify"))


@pytest.fixture(scope="module")
def good(kit: Kit) -> bytes:
    return kit.pdf(biz_elements())


def verify(kit: Kit, data: bytes):  # type: ignore[no-untyped-def]
    return verify_pdf_bytes(data, anchors=[kit.root], at=AT, subject="license.pdf")


def test_a_fresh_rendition_passes_with_every_check(kit: Kit, good: bytes,
                                                   tmp_path: Path) -> None:
    (tmp_path / "license.pdf").write_bytes(good)
    report = verify_pdf(tmp_path / "license.pdf", anchors=[kit.root], at=AT)
    assert report.indication is Indication.PASSED
    assert report.sub_indication is None
    assert report.identifier == biz_elements()["ZZBS"]
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {**dict.fromkeys(CHECK_NAMES[:6], CheckStatus.VALID),
                        "status": CheckStatus.SKIPPED, "log_inclusion": CheckStatus.SKIPPED}
    assert "PAdES B-B" in report.check("signature").detail
    assert "signed by the seal's signer certificate" in report.check("authorization").detail


def test_any_changed_byte_in_the_signed_range_is_a_hash_failure(kit: Kit, good: bytes) -> None:
    found = find_signature(good)
    signed = [p for p in range(len(good)) if not found.contents_start <= p < found.contents_end]
    structural = [0, 9, good.index(b"/ByteRange") + 12, good.index(b"/LicenseRecord") + 3,
                  good.index(b"xref"), good.index(b"trailer") + 12, found.contents_start - 1,
                  found.contents_end, len(good) - 2]
    for position in structural + random.Random(7).sample(signed, 120):  # noqa: S311 - positions
        data = bytearray(good)
        data[position] ^= 0x20
        report = verify(kit, bytes(data))
        assert (report.indication, report.sub_indication) == (Indication.FAILED,
                                                              "HASH_FAILURE"), position


def test_a_byte_range_that_leaves_bytes_out_is_a_hash_failure(kit: Kit, good: bytes) -> None:
    found = find_signature(good)
    assert found.byte_range is not None
    _a, b, c, d = found.byte_range
    old = f"[0 {b} {c} {d}]".encode()
    new = f"[0 {b} {c} {d - 5}]".encode().ljust(len(old))
    report = verify(kit, good.replace(old, new))
    assert report.sub_indication == "HASH_FAILURE"
    assert "is not the whole file" in report.check("integrity").detail


def test_metadata_disagreeing_with_the_sealed_record_fails(kit: Kit) -> None:
    elements = biz_elements()
    shown = {**elements, "KZ_ZCZB": "9999万元"}  # the face and metadata say otherwise
    report = verify(kit, kit.pdf(elements, shown=shown))
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "HASH_FAILURE")
    assert "disagrees with the sealed record on KZ_ZCZB" in report.check("integrity").detail
    assert report.check("signature").status is CheckStatus.VALID  # the PDF itself is intact


def test_a_record_the_ses_signature_does_not_cover_fails(kit: Kit) -> None:
    sealed = biz_elements()
    _record, ses = kit.seal_record(sealed)
    other = {**sealed, "CZZT": "另一家公司"}
    forged = json.dumps(other, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    unsigned = kit.prepared().render(forged, ses, at=NOW, contents_size=kit.pades.reserve)
    report = verify(kit, kit.pades.sign(unsigned))
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "HASH_FAILURE")
    assert "differs from dataHash" in report.check("integrity").detail


def test_a_pdf_signed_by_another_key_is_not_authorized(kit: Kit, tmp_path: Path) -> None:
    other = make_kit(tmp_path, es_id="3301000000099")  # its own PKI and seal
    elements = biz_elements()
    record, ses = kit.seal_record(elements)  # sealed by kit's seal …
    unsigned = kit.prepared().render(record, ses, at=NOW, contents_size=other.pades.reserve)
    report = verify(kit, other.pades.sign(unsigned))  # … but PDF-signed by another
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "NOT_AUTHORIZED")
    assert "other than the seal's signer" in report.check("authorization").detail


def test_an_untrusted_root_is_indeterminate(kit: Kit, good: bytes, tmp_path: Path) -> None:
    stranger = make_kit(tmp_path)
    report = verify_pdf_bytes(good, anchors=[stranger.root], at=AT, subject="x")
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE,
                                                          "NO_CERTIFICATE_CHAIN_FOUND")


def test_a_damaged_cms_signature_fails(kit: Kit, good: bytes) -> None:
    found = find_signature(good)
    data = bytearray(good)
    # Flip a hex digit late in the CMS: inside the ECDSA signature value, outside the range.
    cms_hex_end = found.contents_start + 1 + 2 * len(found.cms_der)
    data[cms_hex_end - 10] = ord("0") if data[cms_hex_end - 10] != ord("0") else ord("1")
    report = verify(kit, bytes(data))
    assert report.indication is Indication.FAILED
    assert report.sub_indication in {"SIG_CRYPTO_FAILURE", "FORMAT_FAILURE"}
    assert report.check("integrity").status is CheckStatus.VALID  # the signed bytes are fine


@pytest.mark.parametrize(("name", "data"), [
    ("empty", b""),
    ("not a pdf", b"hello world"),
    ("unsigned pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"),
])
def test_what_is_not_a_signed_rendition_is_a_format_failure(kit: Kit, name: str,
                                                            data: bytes) -> None:
    report = verify(kit, data)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "FORMAT_FAILURE")


def test_a_missing_file_is_a_format_failure(kit: Kit, tmp_path: Path) -> None:
    report = verify_pdf(tmp_path / "nope.pdf", anchors=[kit.root], at=AT)
    assert report.sub_indication == "FORMAT_FAILURE"
    assert "cannot read" in report.reasons[0]


def _incremental_update(data: bytes) -> bytes:
    """The PDF with an incremental update appended (a changed title), as an editor saves it."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter(io.BytesIO(data), incremental=True)
    writer.add_metadata({"/Title": "changed after signing"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("damage", "words"), [
    ("truncated", "it was truncated"),
    ("incremental update", "bytes were added after the signed byte range (an incremental "
                           "update)"),
])
def test_a_damaged_pdf_in_a_bundle_gives_the_reason_it_gives_alone(
        kit: Kit, good: bytes, tmp_path: Path, damage: str, words: str) -> None:
    from cryptography import x509

    from registry.verify.bundle import write_bundle
    from registry.verify.inputs import verify_paths

    maker = x509.load_pem_x509_certificate((kit.keystore / "maker.pem").read_bytes())
    record, ses = kit.seal_record(biz_elements())
    write_bundle(tmp_path / "b", record=record, signature_der=ses, seal_der=kit.seal_der,
                 chain=[maker, kit.root])
    damaged = good[:-100] if damage == "truncated" else _incremental_update(good)
    (tmp_path / "b" / "license.pdf").write_bytes(damaged)
    alone = verify(kit, damaged)
    [in_bundle] = verify_paths([tmp_path / "b"], anchors=[kit.root], at=AT)
    assert (alone.indication, alone.sub_indication) == (Indication.FAILED, "HASH_FAILURE")
    assert words in alone.check("integrity").detail
    assert (in_bundle.indication, in_bundle.sub_indication) == (Indication.FAILED,
                                                                "HASH_FAILURE")
    integrity = in_bundle.check("integrity").detail
    assert integrity == f"license.pdf: {'; '.join(alone.reasons)}"
    assert words in integrity and "another license" not in integrity
    (tmp_path / "b" / "license.pdf").write_bytes(good)  # the same bundle with its good PDF
    [fine] = verify_paths([tmp_path / "b"], anchors=[kit.root], at=AT)
    assert fine.check("integrity").status is CheckStatus.VALID
