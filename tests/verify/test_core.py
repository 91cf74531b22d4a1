"""The verifier's verdicts (DESIGN.md verdict table), its report, and export bundles.

Each negative case is named after its defect and asserts the specific sub-indication.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import registry.verify.core as verify_core
from registry.errors import ConfigError
from registry.license.canonical import canonical_bytes
from registry.license.codes import license_identifier
from registry.seal.making import make_seal, seal_picture_png
from registry.seal.pki import (
    CertifiedKey,
    create_test_pki,
    issue_signer,
    load_maker,
    load_root_cert,
    load_signer_key,
)
from registry.seal.signature import SealingContext, assemble, tbs_sign_der
from registry.seal.signer import SoftwareSigner
from registry.verify import (
    BUNDLE_FILES,
    CheckResult,
    CheckStatus,
    Indication,
    VerificationReport,
    Verifier,
    load_anchors,
    verify_bundle,
    write_bundle,
)
from registry.verify.report import CHECK_NAMES

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SIGNED_AT = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
PASS = b"test-only-passphrase"
TYPE = "11100000MB0143028R001"
OTHER_TYPE = "11100000MB0143028R002"
DEPT = "11330105002500287C"
OTHER_DEPT = "11330100002500000X"
PNG = seal_picture_png("某市市场监督管理局", "电子证照专用章", size_px=96)


@dataclasses.dataclass(frozen=True)
class World:
    root: x509.Certificate
    maker: CertifiedKey
    stranger_root: x509.Certificate
    seal: SealingContext
    """Seal of DEPT, authorized for TYPE, valid 2026-01-01 .. 2028-01-01, signer to 2029."""
    other_dept_seal: SealingContext
    """Seal of OTHER_DEPT, authorized for TYPE."""
    other_dept_signer: SoftwareSigner
    """The signer bound to ``other_dept_seal``."""
    short_signer_seal: SealingContext
    """Seal of DEPT whose signer certificate expires 2026-06-01 (the seal runs to 2028)."""
    forged_seal: SealingContext
    """Seal of DEPT whose signedValue is not the maker's."""


def _signer(ks: Path, es_id: str, dept: str, until: dt.datetime) -> SoftwareSigner:
    issued = issue_signer(
        ks,
        PASS,
        es_id=es_id,
        department_name=f"部门 {dept}",
        department_uscc=dept,
        now=NOW,
        not_after=until,
    )
    return SoftwareSigner(load_signer_key(ks, issued.key_file, PASS), issued.cert_der)


def _seal(maker: CertifiedKey, es_id: str, signer: SoftwareSigner) -> SealingContext:
    der = make_seal(
        maker=maker,
        es_id=es_id,
        kind=2,
        name="电子证照专用章",
        signer_cert_der=signer.certificate_der,
        authorized_types=[TYPE],
        created=NOW,
        valid_start=NOW,
        valid_end=NOW.replace(year=2028),
        picture_png=PNG,
    )
    return SealingContext(der, signer)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("verify")
    ks, other_ks = base / "keystore", base / "stranger"
    create_test_pki(ks, PASS, now=NOW)
    create_test_pki(other_ks, PASS, now=NOW)
    maker = load_maker(ks, PASS)
    until = NOW.replace(year=2029)
    forger = CertifiedKey(cert=maker.cert, key=ec.generate_private_key(ec.SECP256R1()))
    other_signer = _signer(ks, "S2", OTHER_DEPT, until)
    return World(
        root=load_root_cert(ks),
        maker=maker,
        stranger_root=load_root_cert(other_ks),
        seal=_seal(maker, "S1", _signer(ks, "S1", DEPT, until)),
        other_dept_seal=_seal(maker, "S2", other_signer),
        other_dept_signer=other_signer,
        short_signer_seal=_seal(maker, "S3", _signer(ks, "S3", DEPT, NOW.replace(month=6))),
        forged_seal=_seal(forger, "S4", _signer(ks, "S4", DEPT, until)),
    )


def _elements(
    *, type_code: str = TYPE, issuer: str = DEPT, serial: str = "20260001"
) -> dict[str, str]:
    return {
        "ZZBS": license_identifier(type_code, issuer, serial),
        "ZZLXDM": type_code,
        "ZZMC": "营业执照",
        "ZZBH": serial,
        "ZZBFJGDM": issuer,
        "CZZT": "示范市第一商贸有限公司",
        "CZZTDM": "91350100M000100Y43",
        "CZZTDMLXDM": "001",
    }


def _sealed(
    ctx: SealingContext,
    elements: dict[str, str],
    *,
    signed_at: dt.datetime = SIGNED_AT,
    property_info: str | None = None,
) -> tuple[bytes, bytes]:
    record = canonical_bytes(elements)
    data_hash = hashlib.sha256(record).digest()
    info = elements["ZZBS"] if property_info is None else property_info
    signature = ctx.sign(data_hash, signed_at, info)
    return record, ctx.assemble(signed_at, data_hash, info, signature)


def _verify(
    world: World,
    record: bytes,
    der: bytes,
    *,
    anchors: list[x509.Certificate] | None = None,
    **kw: Any,
) -> VerificationReport:
    verifier = Verifier(anchors=[world.root] if anchors is None else anchors, at=AT)
    return verifier.verify(record, der, subject="test", **kw)


def _statuses(report: VerificationReport) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in report.checks}


# -- PASSED -----------------------------------------------------------------------------------


def test_good_license_passes(world: World) -> None:
    elements = _elements()
    record, der = _sealed(world.seal, elements)
    report = _verify(world, record, der)
    assert report.indication is Indication.PASSED
    assert report.sub_indication is None
    assert report.reasons == ()
    assert report.identifier == elements["ZZBS"]
    assert report.validation_time == AT
    assert tuple(c.name for c in report.checks) == CHECK_NAMES
    assert _statuses(report) == {
        "format": CheckStatus.VALID,
        "integrity": CheckStatus.VALID,
        "signature": CheckStatus.VALID,
        "seal": CheckStatus.VALID,
        "signer_certificate": CheckStatus.VALID,
        "authorization": CheckStatus.VALID,
        "status": CheckStatus.SKIPPED,
        "log_inclusion": CheckStatus.SKIPPED,
    }
    assert "no revocation info" in report.check("signer_certificate").detail


def test_maker_as_anchor_passes(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    report = _verify(world, record, der, anchors=[world.maker.cert])
    assert report.indication is Indication.PASSED


# -- FAILED -----------------------------------------------------------------------------------


def test_edited_element_is_hash_failure(world: World) -> None:
    elements = _elements()
    _, der = _sealed(world.seal, elements)
    edited = canonical_bytes({**elements, "CZZT": "另一家公司"})
    report = _verify(world, edited, der)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "HASH_FAILURE")
    assert report.check("integrity").status is CheckStatus.INVALID
    # Later checks still ran: the signature itself is intact.
    assert report.check("signature").status is CheckStatus.VALID


def test_signature_for_another_license_is_hash_failure(world: World) -> None:
    elements = _elements()
    other_id = license_identifier(TYPE, DEPT, "20269999")
    record, der = _sealed(world.seal, elements, property_info=other_id)
    report = _verify(world, record, der)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "HASH_FAILURE")
    assert other_id in report.check("integrity").detail


def test_record_not_json_is_hash_failure(world: World) -> None:
    record = b"not json"
    data_hash = hashlib.sha256(record).digest()
    signature = world.seal.sign(data_hash, SIGNED_AT, "X")
    der = world.seal.assemble(SIGNED_AT, data_hash, "X", signature)
    report = _verify(world, record, der)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "HASH_FAILURE")
    assert report.check("authorization").status is CheckStatus.SKIPPED


def test_flipped_signature_byte_is_sig_crypto_failure(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    flipped = der[:-1] + bytes([der[-1] ^ 0x01])
    report = _verify(world, record, flipped)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "SIG_CRYPTO_FAILURE")
    assert report.check("signature").status is CheckStatus.INVALID


def test_changed_signing_time_is_sig_crypto_failure(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    moved = der.replace(b"20260301083000Z", b"20260301083001Z", 1)
    assert moved != der
    report = _verify(world, record, moved)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "SIG_CRYPTO_FAILURE")


def test_forged_seal_is_sig_crypto_failure(world: World) -> None:
    record, der = _sealed(world.forged_seal, _elements())
    report = _verify(world, record, der)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "SIG_CRYPTO_FAILURE")
    assert report.check("seal").status is CheckStatus.INVALID
    assert report.check("signature").status is CheckStatus.VALID


def test_type_not_authorized(world: World) -> None:
    record, der = _sealed(world.seal, _elements(type_code=OTHER_TYPE))
    report = _verify(world, record, der)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "NOT_AUTHORIZED")
    assert OTHER_TYPE in report.check("authorization").detail


def test_other_departments_seal_is_not_authorized(world: World) -> None:
    record, der = _sealed(world.other_dept_seal, _elements(issuer=DEPT))
    report = _verify(world, record, der)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "NOT_AUTHORIZED")
    assert OTHER_DEPT in report.check("authorization").detail


def test_signer_outside_cert_list_is_not_authorized(world: World) -> None:
    # Seal S1 embedded, but signed by S2's key and certificate (S1's certList holds only S1).
    elements = _elements()
    record = canonical_bytes(elements)
    data_hash = hashlib.sha256(record).digest()
    intruder = world.other_dept_signer
    tbs = tbs_sign_der(world.seal.seal_der, SIGNED_AT, data_hash, elements["ZZBS"])
    signature = intruder.sign_digest(hashlib.sha256(tbs).digest())
    der = assemble(
        world.seal.seal_der,
        intruder.certificate_der,
        SIGNED_AT,
        data_hash,
        elements["ZZBS"],
        signature,
    )
    report = _verify(world, record, der)
    assert report.check("signature").status is CheckStatus.VALID
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "NOT_AUTHORIZED")
    assert "certList" in report.check("authorization").detail


def test_signed_before_certificate_existed_is_not_yet_valid(world: World) -> None:
    before = NOW - dt.timedelta(days=1)
    record, der = _sealed(world.seal, _elements(), signed_at=before)
    report = _verify(world, record, der)
    # The seal is also out of bounds (INDETERMINATE), but FAILED wins.
    assert report.check("seal").status is CheckStatus.INDETERMINATE
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "NOT_YET_VALID")


# -- INDETERMINATE ----------------------------------------------------------------------------


def test_unrelated_anchor_is_no_chain(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    report = _verify(world, record, der, anchors=[world.stranger_root])
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert report.check("signer_certificate").status is CheckStatus.INDETERMINATE


def test_signing_after_seal_valid_end_is_out_of_bounds(world: World) -> None:
    late = dt.datetime(2028, 6, 1, tzinfo=dt.UTC)  # seal ends 2028-01-01, signer cert 2029
    record, der = _sealed(world.seal, _elements(), signed_at=late)
    report = _verify(world, record, der)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication == "OUT_OF_BOUNDS_NO_POE"
    assert report.check("seal").status is CheckStatus.INDETERMINATE
    assert report.check("signer_certificate").status is CheckStatus.VALID


def test_signing_after_signer_certificate_expired_is_out_of_bounds(world: World) -> None:
    late = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)  # signer cert ended 2026-06-01
    record, der = _sealed(world.short_signer_seal, _elements(), signed_at=late)
    report = _verify(world, record, der)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication == "OUT_OF_BOUNDS_NO_POE"
    assert report.check("signer_certificate").status is CheckStatus.INDETERMINATE
    assert report.check("seal").status is CheckStatus.VALID


# -- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "indication", "sub", "check_status", "reason"),
    [
        ("VALID", Indication.PASSED, None, CheckStatus.VALID, "ok"),
        ("REVOKED", Indication.FAILED, "REVOKED", CheckStatus.INVALID, "LICENSE_REVOKED"),
        ("CANCELLED", Indication.FAILED, "REVOKED", CheckStatus.INVALID, "LICENSE_CANCELLED"),
        ("WITHDRAWN", Indication.FAILED, "REVOKED", CheckStatus.INVALID, "LICENSE_WITHDRAWN"),
        (
            "SUSPENDED",
            Indication.INDETERMINATE,
            "LICENSE_SUSPENDED",
            CheckStatus.INVALID,
            "LICENSE_SUSPENDED",
        ),
    ],
)
def test_license_status(
    world: World,
    status: str,
    indication: Indication,
    sub: str | None,
    check_status: CheckStatus,
    reason: str,
) -> None:
    record, der = _sealed(world.seal, _elements())
    report = _verify(world, record, der, status=status)
    assert (report.indication, report.sub_indication) == (indication, sub)
    assert (report.check("status").status, report.check("status").reason) == (check_status, reason)


# -- format -----------------------------------------------------------------------------------


def test_garbage_is_format_failure_and_skips_the_rest(world: World) -> None:
    report = _verify(world, b"{}", b"\x30\x03\x02\x01\x04")
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "FORMAT_FAILURE")
    assert report.identifier is None
    assert [c.status for c in report.checks[1:]] == [CheckStatus.SKIPPED] * 7


def test_unsupported_algorithm_is_format_failure(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    sha256_oid = bytes.fromhex("06082a8648ce3d040302")
    at = der.rfind(sha256_oid)
    sha384 = der[:at] + bytes.fromhex("06082a8648ce3d040303") + der[at + len(sha256_oid) :]
    report = _verify(world, record, sha384)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "FORMAT_FAILURE")
    assert "1.2.840.10045.4.3.3" in report.reasons[0]


def test_version_one_is_format_failure(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    v1 = der.replace(b"\x02\x01\x04", b"\x02\x01\x01", 1)
    report = _verify(world, record, v1)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "FORMAT_FAILURE")
    assert "version 1" in report.reasons[0]


# -- caching ----------------------------------------------------------------------------------


def test_seal_and_chain_work_is_cached(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"parse_seal": 0, "issued_by": 0}

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        return wrapper

    monkeypatch.setattr(verify_core, "parse_seal", counting("parse_seal", verify_core.parse_seal))
    monkeypatch.setattr(verify_core, "_issued_by", counting("issued_by", verify_core._issued_by))
    verifier = Verifier(anchors=[world.root], at=AT)
    for serial in ("20260001", "20260002", "20260003"):
        record, der = _sealed(world.seal, _elements(serial=serial))
        report = verifier.verify(record, der, subject=serial)
        assert report.indication is Indication.PASSED
    assert calls["parse_seal"] == 1
    assert calls["issued_by"] == 3  # signer→maker, maker→root, then maker→root for the seal


# -- the report -------------------------------------------------------------------------------


def test_report_has_no_truth_value(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    report = _verify(world, record, der)
    with pytest.raises(TypeError, match="no truth value"):
        bool(report)


def test_report_to_dict_is_json(world: World) -> None:
    record, der = _sealed(world.seal, _elements())
    data = json.loads(json.dumps(_verify(world, record, der, status="REVOKED").to_dict()))
    assert data["indication"] == "FAILED"
    assert data["sub_indication"] == "REVOKED"
    assert data["validation_time"] == "2026-06-01T00:00:00+00:00"
    assert [c["name"] for c in data["checks"]] == list(CHECK_NAMES)
    assert data["checks"][6] == {  # the codes, and their words beside them
        "name": "status",
        "title": "status",
        "status": "INVALID",
        "status_text": "invalid",
        "reason": "LICENSE_REVOKED",
        "reason_text": "license REVOKED",
        "detail": "the license status is REVOKED",
    }
    assert data["reasons"] == ["status: the license status is REVOKED"]


def test_failed_wins_over_earlier_indeterminate() -> None:
    report = VerificationReport.from_checks(
        subject="s",
        identifier=None,
        validation_time=AT,
        checks=[
            CheckResult("seal", CheckStatus.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE", "late"),
            CheckResult("authorization", CheckStatus.INVALID, "NOT_AUTHORIZED", "wrong type"),
            CheckResult("status", CheckStatus.SKIPPED, "no status source", "none"),
        ],
    )
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "NOT_AUTHORIZED")
    assert report.reasons == ("seal: late", "authorization: wrong type")


def test_verifier_needs_an_aware_time(world: World) -> None:
    with pytest.raises(ValueError, match="aware"):
        Verifier(anchors=[world.root], at=dt.datetime(2026, 1, 1))


# -- bundles ----------------------------------------------------------------------------------


def _bundle(world: World, out: Path) -> bytes:
    record, der = _sealed(world.seal, _elements())
    write_bundle(
        out,
        record=record,
        signature_der=der,
        seal_der=world.seal.seal_der,
        chain=[world.maker.cert, world.root],
    )
    return record


def test_bundle_round_trip(world: World, tmp_path: Path) -> None:
    record = _bundle(world, tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        [*BUNDLE_FILES, "manifest.json"])
    assert (tmp_path / "b" / "license.json").read_bytes() == record
    assert len(load_anchors(tmp_path / "b" / "chain.pem")) == 2
    report = verify_bundle(tmp_path / "b", anchors=[world.root], at=AT)
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE,
                                                          "LOG_PROOF_MISSING")
    assert [c.name for c in report.checks if c.status is not CheckStatus.VALID] == [
        "status", "log_inclusion"]  # everything else was checked and holds
    assert report.subject == str(tmp_path / "b")


def test_bundle_with_missing_file_is_format_failure(world: World, tmp_path: Path) -> None:
    _bundle(world, tmp_path / "b")
    (tmp_path / "b" / "seal.der").unlink()
    report = verify_bundle(tmp_path / "b", anchors=[world.root], at=AT)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "FORMAT_FAILURE")
    assert "seal.der" in report.reasons[0]


def test_bundle_with_other_seal_is_format_failure(world: World, tmp_path: Path) -> None:
    _bundle(world, tmp_path / "b")
    (tmp_path / "b" / "seal.der").write_bytes(world.other_dept_seal.seal_der)
    report = verify_bundle(tmp_path / "b", anchors=[world.root], at=AT)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "FORMAT_FAILURE")
    assert "differs" in report.reasons[0]


def test_bundle_with_edited_record_is_hash_failure(world: World, tmp_path: Path) -> None:
    record = _bundle(world, tmp_path / "b")
    (tmp_path / "b" / "license.json").write_bytes(record.replace("示范".encode(), "假冒".encode()))
    report = verify_bundle(tmp_path / "b", anchors=[world.root], at=AT)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "HASH_FAILURE")


def test_load_anchors_rejects_non_pem(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"junk\.pem"):
        load_anchors(tmp_path / "junk.pem")
    with pytest.raises(ConfigError, match="cannot read"):
        load_anchors(tmp_path / "absent.pem")
