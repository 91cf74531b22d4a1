"""The seal lifecycle: every transition and every refused one, the SESeal made, authorization at
sealing time, revocation in the seal-maker's CRL, and the ``licreg seal`` commands.

Runs on SQLite and (when reachable) PostgreSQL through conftest's ``world``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from registry.batch.run import ingest_file
from registry.city.demo import HEALTH, MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Department, License, Seal, Template
from registry.errors import NotAuthorizedError, SealError, SealTransitionError
from registry.license.codes import org_code_check, uscc_check
from registry.license.queries import signature_der
from registry.license.types import catalogue
from registry.seal.crl import MAKER_CRL, load_crls, revocation_of, revoke_certificate
from registry.seal.kinds import load_seal_kinds, seal_kind
from registry.seal.lifecycle import (
    APPLICATION_STEPS,
    SEAL_STEPS,
    SealApplication,
    apply_for_seal,
    approve_application,
    authorize_seal,
    cancel_seal,
    file_seal,
    make_seal_from,
    reject_application,
    remake_seal,
    report_seal_lost,
    resume_seal,
    suspend_seal,
)
from registry.seal.making import parse_seal, seal_picture_png
from registry.seal.pki import create_test_pki, issue_signer, load_maker, load_root_cert
from registry.seal.queries import active_seal_for, find_seal, seal_detail, seal_history
from registry.template.layout import default_layout
from registry.template.lifecycle import bind_template, layout_of, make_template, publish_template
from registry.verify.core import Verifier
from tests.conftest import NOW, PASSPHRASE
from tests.seal.conftest import run

BIZ = "11100000MB0143028R001"
FOOD = "11100000MB0143028R002"
DOCTOR = "11100000MB15645531001"
T0 = NOW - dt.timedelta(days=10)
"""When the tests' own seals are applied for (the demo world was made at NOW - 30 days)."""
HEADER = ("证照编号,持证主体,持证主体代码,颁证日期,有效期起始日期,有效期截止日期,涉密,类型,"
          "法定代表人,注册资本,成立日期,住所,经营范围")

# Which steps each seal / application status allows, written out independently of the code.
ALLOWED_SEAL_STEPS = {
    "made": {"file", "report-lost", "cancel", "remake"},
    "filed": {"authorize", "report-lost", "cancel", "remake"},
    "active": {"authorize", "suspend", "report-lost", "cancel", "remake"},
    "suspended": {"resume", "report-lost", "cancel", "remake"},
    "lost": {"cancel", "remake"},
    "cancelled": set(),
}
ALLOWED_APPLICATION_STEPS = {
    "applied": {"approve", "reject"},
    "approved": {"make"},
    "rejected": set(),
    "made": set(),
}


# -- helpers --------------------------------------------------------------------------------------


def dept_id(session: Session, uscc: str = MARKET.uscc) -> int:
    found = session.scalar(select(Department.id).where(Department.uscc == uscc))
    assert found is not None
    return found


def who(at: dt.datetime) -> dict[str, Any]:
    return {"actor": "测试 印章管理员", "reason": "测试", "at": at}


def keys(settings: Settings) -> dict[str, Any]:
    return {"keystore": settings.keystore, "passphrase": PASSPHRASE}


def applied(session: Session, *, types: tuple[str, ...] = (BIZ, FOOD), at: dt.datetime = T0,
            name: str = MARKET.seal_name) -> SealApplication:
    return apply_for_seal(session, department_id=dept_id(session), kind=2, name=name,
                          purpose="行政审批专用章", type_codes=types,
                          valid_until=at + dt.timedelta(days=3 * 365), **who(at))


def made(session: Session, settings: Settings, *, types: tuple[str, ...] = (BIZ, FOOD),
         at: dt.datetime = T0) -> Seal:
    app = applied(session, types=types, at=at)
    approve_application(session, app.id, **who(at))
    return make_seal_from(session, app.id, **keys(settings), **who(at))


def active(session: Session, settings: Settings, *, types: tuple[str, ...] = (BIZ, FOOD),
           authorize: tuple[str, ...] | None = None, at: dt.datetime = T0,
           until: dt.datetime | None = None) -> Seal:
    seal = made(session, settings, types=types, at=at)
    file_seal(session, seal.id, **who(at))
    return authorize_seal(session, seal.id, type_codes=authorize or types, valid_from=at,
                          valid_to=until or seal.valid_end, **who(at))


def seal_step(session: Session, settings: Settings, step: str, seal_id: int,
              at: dt.datetime) -> Seal:
    """Run one lifecycle step by its name, with plausible arguments."""
    if step == "authorize":
        return authorize_seal(session, seal_id, type_codes=[BIZ], valid_from=at,
                              valid_to=at + dt.timedelta(days=30), **who(at))
    simple: dict[str, Callable[..., Seal]] = {"file": file_seal, "suspend": suspend_seal,
                                              "resume": resume_seal}
    if step in simple:
        return simple[step](session, seal_id, **who(at))
    revoking: dict[str, Callable[..., Seal]] = {"report-lost": report_seal_lost,
                                                "cancel": cancel_seal, "remake": remake_seal}
    return revoking[step](session, seal_id, **keys(settings), **who(at))


def holder(n: int) -> str:
    """A valid USCC: GB 11714 organization-code segment and GB 32100 check character."""
    org = f"MA2{n:05d}"
    body = f"91330100{org}{org_code_check(org)}"
    return body + uscc_check(body)


def csv_file(path: Path, *numbers: int) -> Path:
    rows = [f"3301000000{n:05d},示范市第{n}商贸有限公司,{holder(n)},2024-01-05,2024/1/5,长期,"
            f"否,有限责任公司,张{n},100万元,2020年3月1日,示范市湖滨路{n}号,日用百货销售"
            for n in numbers]
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def ingest(engine: Engine, settings: Settings, path: Path, at: dt.datetime) -> Any:
    return ingest_file(engine, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                       uploader="clerk", at=at, today=at.date())


def licenses(engine: Engine) -> list[License]:
    with session_scope(engine) as s:
        return list(s.scalars(select(License).order_by(License.id)))


# -- the demo world and the step tables -----------------------------------------------------------


def test_demo_world_seals_went_through_every_step(world: Engine) -> None:
    with session_scope(world) as s:
        for demo in (MARKET, HEALTH):
            seal = s.scalars(select(Seal).where(Seal.department_id == dept_id(s, demo.uscc))).one()
            assert seal.status == "active"
            steps = seal_history(s, seal_id=seal.id, application_id=int(seal_detail(
                s, seal.es_id)["application"]["id"]))
            assert [(h.step, h.from_status, h.to_status) for h in steps] == [
                ("apply", None, "applied"), ("approve", "applied", "approved"),
                ("make", "approved", "made"), ("file", "made", "filed"),
                ("authorize", "filed", "active")]
            assert all(h.actor.strip() and h.reason.strip() for h in steps)
            assert steps[-1].detail["type_codes"] == sorted(demo.type_codes)
            assert {h.at for h in steps} == {NOW - dt.timedelta(days=30)}


def test_step_tables_match_the_lifecycle() -> None:
    derived = {status: {step for step, (start, _) in SEAL_STEPS.items() if status in start}
               for status in ALLOWED_SEAL_STEPS}
    assert derived == ALLOWED_SEAL_STEPS
    derived_app = {status: {step for step, (start, _) in APPLICATION_STEPS.items()
                            if status in start} for status in ALLOWED_APPLICATION_STEPS}
    assert derived_app == ALLOWED_APPLICATION_STEPS


def test_every_seal_transition_and_every_refused_one(world: Engine, settings: Settings) -> None:
    """Walk made → filed → active → suspended → active → lost → cancelled; at each status every
    step the status does not allow is refused, naming the seal, the status and the step, and
    changes nothing."""
    path = [("file", "filed"), ("authorize", "active"), ("suspend", "suspended"),
            ("resume", "active"), ("report-lost", "lost"), ("cancel", "cancelled")]
    at = T0
    with session_scope(world) as s:
        seal = made(s, settings, at=at)
        es_id = seal.es_id
        assert seal.status == "made"
        for step, after in [*path, (None, None)]:
            status = seal.status
            for refused in sorted(set(SEAL_STEPS) - ALLOWED_SEAL_STEPS[status]):
                at += dt.timedelta(minutes=1)
                with pytest.raises(SealTransitionError) as caught:
                    seal_step(s, settings, refused, seal.id, at)
                message = str(caught.value)
                assert f"cannot {refused} seal {es_id}" in message
                assert f"it is {status};" in message
                assert s.get_one(Seal, seal.id).status == status
            if step is None:
                break
            at += dt.timedelta(minutes=1)
            seal = seal_step(s, settings, step, seal.id, at)
            assert seal.status == after
        history = seal_history(s, seal_id=seal.id)
    assert [(h.step, h.to_status) for h in history] == [("make", "made"), *path]
    assert [h.at for h in history] == sorted(h.at for h in history)
    lost = history[-2]
    assert lost.detail["crl_reason"] == "keyCompromise"
    # cancelling a lost seal keeps the revocation of the loss
    assert history[-1].detail["revoked_at"] == lost.detail["revoked_at"]


@pytest.mark.parametrize("status", ["made", "filed", "active", "suspended", "lost"])
def test_cancel_and_remake_are_allowed_from_every_live_status(
    world: Engine, settings: Settings, status: str
) -> None:
    steps = {"made": [], "filed": ["file"], "active": ["file", "authorize"],
             "suspended": ["file", "authorize", "suspend"], "lost": ["report-lost"]}[status]
    with session_scope(world) as s:
        first, second = made(s, settings), made(s, settings)
        for seal in (first, second):
            for i, step in enumerate(steps):
                seal_step(s, settings, step, seal.id, T0 + dt.timedelta(minutes=i + 1))
            assert seal.status == status
        later = T0 + dt.timedelta(hours=1)
        assert cancel_seal(s, first.id, **keys(settings), **who(later)).status == "cancelled"
        new = remake_seal(s, second.id, **keys(settings), **who(later))
        assert (second.status, new.status) == ("cancelled", "made")
        assert first.revoked_at is not None
        assert second.revoked_at is not None


def test_every_application_transition_and_every_refused_one(world: Engine,
                                                            settings: Settings) -> None:
    def run(s: Session, step: str, app_id: int) -> SealApplication | Seal:
        if step == "make":
            return make_seal_from(s, app_id, **keys(settings), **who(T0))
        return {"approve": approve_application, "reject": reject_application}[step](
            s, app_id, **who(T0))

    with session_scope(world) as s:
        kept, dropped = applied(s), applied(s)
        assert (kept.status, dropped.status) == ("applied", "applied")
        for app, path in ((kept, ["approve", "make"]), (dropped, ["reject"])):
            for step in [*path, None]:
                status = app.status
                for refused in sorted(set(APPLICATION_STEPS) - ALLOWED_APPLICATION_STEPS[status]):
                    with pytest.raises(SealTransitionError,
                                       match=rf"cannot {refused} seal application {app.id} "
                                             rf"\(.+\): it is {status};"):
                        run(s, refused, app.id)
                    assert app.status == status
                if step is not None:
                    run(s, step, app.id)
        assert (kept.status, dropped.status) == ("made", "rejected")
        steps = [h.step for h in seal_history(s, application_id=dropped.id)]
        assert steps == ["apply", "reject"]
        assert s.scalar(select(func.count()).select_from(Seal).where(
            Seal.name == MARKET.seal_name)) == 2  # the demo seal and the one just made


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "另一个局行政审批专用章"}, "must begin with the department's name"),
    ({"kind": 99}, r"unknown seal kind 99; known kinds: 1 official \(法定名称章\)"),
    ({"type_codes": [DOCTOR]}, "does not issue license type 11100000MB15645531001"),
    ({"type_codes": []}, "at least one license type"),
    ({"type_codes": ["11100000MB0143028R999"]}, "unknown license type"),
    ({"valid_until": T0 - dt.timedelta(days=1)}, "has expired already"),
    ({"actor": " "}, "needs the person or office"),
    ({"reason": ""}, "needs a reason"),
])
def test_an_application_is_checked(world: Engine, change: dict[str, Any], message: str) -> None:
    with session_scope(world) as s:
        args: dict[str, Any] = {"department_id": dept_id(s), "kind": 2,
                                "name": MARKET.seal_name, "purpose": "行政审批专用章",
                                "type_codes": [BIZ], "valid_until": T0 + dt.timedelta(days=99),
                                **who(T0)}
        with pytest.raises(SealError, match=message):
            apply_for_seal(s, **(args | change))


# -- making: keys, certificate, image, SESeal -----------------------------------------------------


def test_made_seal_is_a_gbt38540_seal_signed_by_the_maker(world: Engine,
                                                          settings: Settings) -> None:
    with session_scope(world) as s:
        seal = made(s, settings)
        es_id, seal_der, cert_der = seal.es_id, seal.seal_der, seal.cert_der
        key_file = seal.key_file
        valid_start, valid_end = seal.valid_start, seal.valid_end
    info = parse_seal(seal_der)  # checks ES / version 4 and DER
    assert (info.es_id, info.name, info.kind, info.vendor_id) == (
        es_id, MARKET.seal_name, 2, "LICREG")
    assert es_id == "330100MB17032180002"  # division + USCC body + the department's 2nd seal
    assert info.cert_list_type == 1
    assert info.cert_list == (cert_der,)
    assert info.created == info.valid_start == valid_start == T0.replace(microsecond=0)
    assert info.valid_end == valid_end == (T0 + dt.timedelta(days=3 * 365)).replace(microsecond=0)
    assert info.authorized_types == (BIZ, FOOD)
    # the picture: the red round seal, PNG with transparency, 40 mm (业务专用章)
    assert info.picture_type == "PNG"
    assert info.picture_mm == (40, 40)
    assert info.picture_data == seal_picture_png(MARKET.name, "行政审批专用章", diameter_mm=40)
    # the maker's signature over DER(SES_SealInfo), with the keystore's maker certificate
    maker = load_maker(settings.keystore, PASSPHRASE).cert
    assert x509.load_der_x509_certificate(info.maker_cert_der) == maker
    key = maker.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(info.signed_value, info.sealinfo_der, ec.ECDSA(hashes.SHA256()))
    # the signer certificate: issued by the maker, TEST ONLY, naming the department
    signer = x509.load_der_x509_certificate(cert_der)
    signer.verify_directly_issued_by(maker)
    assert signer.subject.rfc4514_string().startswith(f"CN=TEST ONLY seal {es_id},")
    assert signer.not_valid_after_utc == valid_end
    # the key: encrypted PKCS#8, mode 0600, in a keystore marked TEST ONLY
    key_path = settings.keystore / key_file
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert "TEST ONLY" in (settings.keystore / "README.TEST-ONLY").read_text()


def test_a_tampered_seal_fails_the_maker_signature(world: Engine, settings: Settings) -> None:
    with session_scope(world) as s:
        info = parse_seal(made(s, settings).seal_der)
    maker = load_maker(settings.keystore, PASSPHRASE).cert.public_key()
    assert isinstance(maker, ec.EllipticCurvePublicKey)
    forged = "示范市市场监督管理局伪造专用章".encode()
    tampered = info.sealinfo_der.replace(MARKET.seal_name.encode(), forged)
    assert tampered != info.sealinfo_der
    with pytest.raises(InvalidSignature):
        maker.verify(info.signed_value, tampered, ec.ECDSA(hashes.SHA256()))


def test_making_with_a_wrong_passphrase_changes_nothing(world: Engine, settings: Settings) -> None:
    with session_scope(world) as s:
        app = applied(s)
        approve_application(s, app.id, **who(T0))
        app_id = app.id
    with pytest.raises(SealError, match="wrong keystore passphrase"), session_scope(world) as s:
        make_seal_from(s, app_id, keystore=settings.keystore, passphrase=b"wrong", **who(T0))
    with session_scope(world) as s:
        assert s.get_one(SealApplication, app_id).status == "approved"


def test_seal_kinds_come_from_the_data_file() -> None:
    kinds = load_seal_kinds()
    assert {k.code: (k.key, k.name, k.diameter_mm) for k in kinds.values()} == {
        1: ("official", "法定名称章", 42), 2: ("business", "业务专用章", 40),
        3: ("internal", "内设机构章", 40), 4: ("branch", "分支机构章", 40)}
    assert seal_kind("2") == seal_kind("business") == seal_kind("业务专用章") == kinds[2]
    with pytest.raises(SealError, match="unknown seal kind 'stamp'"):
        seal_kind("stamp")


# -- authorization and status at sealing time -----------------------------------------------------


def test_authorization_is_checked_against_the_seal_and_its_validity(world: Engine,
                                                                    settings: Settings) -> None:
    with session_scope(world) as s:
        seal = made(s, settings, types=(BIZ,))
        file_seal(s, seal.id, **who(T0))
        with pytest.raises(SealError, match=rf"seal {seal.es_id} .+ was made for "
                                            rf"{BIZ}, not for license type {FOOD}"):
            authorize_seal(s, seal.id, type_codes=[FOOD], valid_from=T0, valid_to=NOW, **who(T0))
        with pytest.raises(SealError, match="must lie within seal"):
            authorize_seal(s, seal.id, type_codes=[BIZ], valid_from=T0,
                           valid_to=seal.valid_end + dt.timedelta(seconds=1), **who(T0))
        assert seal.status == "filed"  # refused authorizations change nothing


def test_sealing_needs_an_authorization_for_the_type_at_the_time(world: Engine,
                                                                 settings: Settings) -> None:
    until = NOW + dt.timedelta(days=1)
    with session_scope(world) as s:
        seal = active(s, settings, types=(BIZ, FOOD), authorize=(BIZ,), until=until)
        assert active_seal_for(s, seal.id, BIZ, at=NOW) is seal
        with pytest.raises(NotAuthorizedError) as caught:
            active_seal_for(s, seal.id, FOOD, at=NOW)
        assert str(caught.value) == (
            f"seal {seal.es_id} ({MARKET.seal_name}) has no authorization for license type "
            f"{FOOD} at 2026-11-27 16:00:00 Beijing time")
        late = until + dt.timedelta(seconds=1)
        with pytest.raises(NotAuthorizedError, match=rf"no authorization for license type {BIZ} "
                                                     rf"at .+ \(its authorization runs "):
            active_seal_for(s, seal.id, BIZ, at=late)
        # re-authorizing extends the period and is recorded
        authorize_seal(s, seal.id, type_codes=[BIZ], valid_from=T0, valid_to=seal.valid_end,
                       **who(NOW))
        assert active_seal_for(s, seal.id, BIZ, at=late) is seal
        assert [h.step for h in seal_history(s, seal_id=seal.id)][-2:] == ["authorize",
                                                                            "authorize"]


def test_ingest_refuses_an_unauthorized_seal_and_a_suspended_one(
    world: Engine, settings: Settings, tmp_path: Path
) -> None:
    with session_scope(world) as s:
        seal = active(s, settings, types=(BIZ,), until=NOW + dt.timedelta(hours=1))
        t = make_template(s, type_code=BIZ, department_id=dept_id(s), **who(T0))
        bind_template(s, t.id, seal_id=seal.id, **who(T0))
        publish_template(s, t.id, **who(T0))
        seal_id = seal.id
    assert ingest(world, settings, csv_file(tmp_path / "a.csv", 1), NOW).issued == 1
    with pytest.raises(NotAuthorizedError, match=f"no authorization for license type {BIZ}"):
        ingest(world, settings, csv_file(tmp_path / "b.csv", 2), NOW + dt.timedelta(hours=2))
    with session_scope(world) as s:
        authorize_seal(s, seal_id, type_codes=[BIZ], valid_from=T0,
                       valid_to=NOW + dt.timedelta(days=9), **who(NOW))
        suspend_seal(s, seal_id, **who(NOW + dt.timedelta(hours=3)))
    with pytest.raises(SealError, match=r"is suspended and cannot seal"):
        ingest(world, settings, csv_file(tmp_path / "c.csv", 3), NOW + dt.timedelta(hours=4))
    with session_scope(world) as s:
        resume_seal(s, seal_id, **who(NOW + dt.timedelta(hours=5)))
    report = ingest(world, settings, csv_file(tmp_path / "d.csv", 4), NOW + dt.timedelta(hours=6))
    assert report.issued == 1
    assert [lic.seal_id for lic in licenses(world)] == [seal_id, seal_id]


# -- revocation -----------------------------------------------------------------------------------


def test_a_license_sealed_before_cancellation_still_verifies(
    world: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Sealed at NOW, seal cancelled at NOW+1h: the license PASSES (the current Verifier does not
    read CRLs; the CRL puts the revocation after the signing time, which is what a CRL-aware
    verifier checks), and sealing after the cancellation is refused."""
    ingest(world, settings, csv_file(tmp_path / "a.csv", 1, 2), NOW)
    cancelled_at = NOW + dt.timedelta(hours=1)
    with session_scope(world) as s:
        seal = s.scalars(select(Seal).where(Seal.es_id == "330100MB17032180001")).one()
        cancel_seal(s, seal.id, **keys(settings), actor="示范市市场监督管理局",
                    reason="机构调整，注销印章", at=cancelled_at)
        assert seal.revoked_at == cancelled_at
        assert seal.revocation_reason == "cessationOfOperation"
    sealed = licenses(world)
    assert len(sealed) == 2
    anchors = [load_root_cert(settings.keystore)]
    verifier = Verifier(anchors=anchors, at=NOW + dt.timedelta(hours=2))
    with session_scope(world) as s:
        for lic in sealed:
            seal = s.get_one(Seal, lic.seal_id)
            report = verifier.verify(lic.record, signature_der(lic, seal), subject=lic.identifier)
            assert report.indication == "PASSED", report
            revoked = revocation_of(x509.load_der_x509_certificate(seal.cert_der),
                                    load_crls(settings.keystore),
                                    issuer=load_maker(settings.keystore, PASSPHRASE).cert)
            assert revoked == cancelled_at
            assert revoked > lic.signed_at
    with pytest.raises(SealError, match=r"330100MB17032180001 .+ is cancelled and "
                                        r"cannot seal"):
        ingest(world, settings, csv_file(tmp_path / "b.csv", 3), NOW + dt.timedelta(hours=2))
    assert len(licenses(world)) == 2


def test_remake_gives_a_new_key_and_esid_and_revokes_the_old(
    world: Engine, settings: Settings, tmp_path: Path
) -> None:
    ingest(world, settings, csv_file(tmp_path / "a.csv", 1), NOW)
    later = NOW + dt.timedelta(hours=1)
    with session_scope(world) as s:
        old = find_seal(s, "330100MB17032180001")
        old_template = s.scalars(select(Template).where(Template.type_code == BIZ)).one()
        report_seal_lost(s, old.id, **keys(settings), actor="办公室", reason="U盾遗失", at=later)
        new = remake_seal(s, old.id, **keys(settings), actor="制章单位", reason="遗失补制",
                          at=later + dt.timedelta(minutes=5))
        assert (old.status, new.status) == ("cancelled", "made")
        assert new.es_id == "330100MB17032180002"
        assert new.es_id != old.es_id
        assert new.cert_der != old.cert_der
        assert new.key_file != old.key_file
        assert parse_seal(new.seal_der).authorized_types == (BIZ, FOOD)
        assert (old.revocation_reason, old.revoked_at) == ("keyCompromise", later)
        detail = seal_detail(s, new.es_id)
        assert detail["seal"]["replaces"] == old.es_id
        assert seal_detail(s, old.es_id)["seal"]["replaced_by"] == new.es_id
        assert find_seal(s, str(detail["application"]["id"])).id == new.id
        new_id, old_template_id = new.id, old_template.id
    # the template bound to the lost seal no longer seals; a new version bound to the new seal does
    with pytest.raises(SealError, match="is cancelled"):
        ingest(world, settings, csv_file(tmp_path / "b.csv", 2), later + dt.timedelta(hours=1))
    with session_scope(world) as s:
        at = later + dt.timedelta(hours=2)
        file_seal(s, new_id, **who(at))
        authorize_seal(s, new_id, type_codes=[BIZ], valid_from=at, valid_to=NOW.replace(
            year=NOW.year + 2), **who(at))
        t = make_template(s, type_code=BIZ, department_id=dept_id(s), **who(at))
        bind_template(s, t.id, seal_id=new_id, **who(at))
        publish_template(s, t.id, **who(at))
        new_template_id = t.id
    ingest(world, settings, csv_file(tmp_path / "c.csv", 3), later + dt.timedelta(hours=3))
    first, second = licenses(world)
    assert (first.template_id, second.template_id) == (old_template_id, new_template_id)
    assert second.seal_id == new_id != first.seal_id


def test_crl_entries_are_signed_kept_and_not_repeated(tmp_path: Path) -> None:
    ks = tmp_path / "ks"
    create_test_pki(ks, PASSPHRASE, now=T0)
    assert load_crls(ks) == []
    certs = [issue_signer(ks, PASSPHRASE, es_id=f"S{i}", department_name="测试局",
                          department_uscc=MARKET.uscc, now=T0, not_after=NOW).cert_der
             for i in range(2)]
    first = revoke_certificate(ks, PASSPHRASE, certs[0], at=T0 + dt.timedelta(hours=1),
                               reason=x509.ReasonFlags.key_compromise)
    again = revoke_certificate(ks, PASSPHRASE, certs[0], at=T0 + dt.timedelta(hours=5),
                               reason=x509.ReasonFlags.cessation_of_operation)
    assert first == again == T0.replace(microsecond=0) + dt.timedelta(hours=1)
    revoke_certificate(ks, PASSPHRASE, certs[1], at=T0 + dt.timedelta(hours=2),
                       reason=x509.ReasonFlags.superseded)
    (crl,) = load_crls(ks)
    maker = load_maker(ks, PASSPHRASE).cert
    key = maker.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(key)
    assert crl.issuer == maker.subject
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    reasons = {e.serial_number: e.extensions.get_extension_for_class(x509.CRLReason).value.reason
               for e in crl}
    parsed = [x509.load_der_x509_certificate(c) for c in certs]
    assert reasons == {parsed[0].serial_number: x509.ReasonFlags.key_compromise,
                       parsed[1].serial_number: x509.ReasonFlags.superseded}
    assert revocation_of(parsed[1], [crl], issuer=maker) == T0.replace(
        microsecond=0) + dt.timedelta(hours=2)
    assert (ks / MAKER_CRL).is_file()


def test_revocation_of_ignores_crls_of_other_issuers_and_bad_signatures(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for ks in (ours, theirs):
        create_test_pki(ks, PASSPHRASE, now=T0)
    cert_der = issue_signer(ours, PASSPHRASE, es_id="S1", department_name="测试局",
                            department_uscc=MARKET.uscc, now=T0, not_after=NOW).cert_der
    cert = x509.load_der_x509_certificate(cert_der)
    with pytest.raises(SealError, match="was not issued by the seal-maker CA"):
        revoke_certificate(theirs, PASSPHRASE, cert_der, at=T0, reason=x509.ReasonFlags.superseded)
    revoke_certificate(ours, PASSPHRASE, cert_der, at=T0, reason=x509.ReasonFlags.superseded)
    crls = load_crls(ours)
    assert revocation_of(cert, crls) == T0.replace(microsecond=0)
    # the same CRL checked against another maker's key does not count
    assert revocation_of(cert, crls, issuer=load_maker(theirs, PASSPHRASE).cert) is None
    other = x509.load_der_x509_certificate(issue_signer(
        ours, PASSPHRASE, es_id="S2", department_name="测试局", department_uscc=MARKET.uscc,
        now=T0, not_after=NOW).cert_der)
    assert revocation_of(other, crls) is None


# -- an existing registry upgrades ----------------------------------------------------------------


def test_a_registry_at_0001_with_seals_and_licenses_upgrades(db_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from registry.db import MIGRATIONS, make_engine, migrate

    eng = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with eng.begin() as conn:
        conn.execute(text(
            "INSERT INTO departments (id, name, uscc, division_code) VALUES "
            "(1, '示范市市场监督管理局', '11330100MB1703218R', '330100')"))
        conn.execute(text(
            "INSERT INTO seals (id, es_id, department_id, name, kind, status, key_file, cert_der, "
            "seal_der, valid_start, valid_end, created_at) VALUES (1, 'OLD1', 1, 'x', 2, 'active',"
            " 'k', :b, :b, :t, :t, :t)"), {"b": b"\x00", "t": NOW})
        conn.execute(text(
            "INSERT INTO license_types (code, name, authority_name, authority_code, schema_sha256)"
            " VALUES (:c, '营业执照', 'x', '11100000MB0143028R', 'h')"), {"c": BIZ})
        conn.execute(text(
            "INSERT INTO templates (id, type_code, department_id, version, status, seal_id, "
            "schema_sha256, created_at) VALUES (1, :c, 1, 1, 'published', 1, 'h', :t)"),
            {"c": BIZ, "t": NOW})
        conn.execute(text(
            "INSERT INTO licenses (id, identifier, type_code, department_id, number, holder_code, "
            "version, status, valid_to, record, data_hash, seal_id, template_id, signed_at, "
            "signature, created_at) VALUES (1, 'L1', :c, 1, 'N1', 'H', '001', 'VALID', "
            "'长期', :b, :b, 1, 1, :t, :b, :t)"), {"c": BIZ, "b": b"\x00", "t": NOW})
    migrate(eng)
    with session_scope(eng) as s:
        seal = s.get_one(Seal, 1)
        assert (seal.es_id, seal.status, seal.revoked_at) == ("OLD1", "active", None)
        assert seal_history(s, seal_id=1) == []
        template = s.get_one(Template, 1)
        assert (template.layout, template.numbering, template.seal_id) == (None, None, 1)
        assert layout_of(template, catalogue()[BIZ]) == default_layout(catalogue()[BIZ])
        assert s.get_one(License, 1).template_id == 1
    eng.dispose()


# -- the command line -----------------------------------------------------------------------------


def test_cli_walks_a_seal_through_its_life(env: dict[str, str]) -> None:
    r = run(env, "seal", "apply", "--department", MARKET.uscc, "--kind", "official",
            "--name", MARKET.name, "--type", BIZ, "--valid-until", "2030-12-31",
            "--reason", "申请法定名称章")
    assert r.exit_code == 0, r.output
    assert r.output == (f"application 3: applied for {MARKET.name} (法定名称章) for {BIZ}, "
                        f"valid until 2030-12-31 23:59:59 Beijing time\n")
    assert run(env, "seal", "approve", "3", "--reason", "同意").output == (
        f"application 3 ({MARKET.name}): approved\n")
    r = run(env, "seal", "make", "3", "--by", "制章单位", "--reason", "制作")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"seal 330100MB17032180002 ({MARKET.name}): made from application "
                               f"3; valid ")
    assert r.output.endswith("; image 42 x 42 mm. Next: file it, then authorize it.\n")
    r = run(env, "seal", "authorize", "3", "--reason", "too early")
    assert r.exit_code == 1
    assert ("error: cannot authorize seal 330100MB17032180002 "
            f"({MARKET.name}): it is made; authorize needs a seal that is filed or "
            f"active") in r.output
    assert run(env, "seal", "file", "330100MB17032180002", "--reason", "备案").output == (
        f"seal 330100MB17032180002 ({MARKET.name}): made → filed\n")
    r = run(env, "seal", "authorize", "3", "--until", "2029-06-30", "--reason", "授权")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"seal 330100MB17032180002 ({MARKET.name}): filed → active; "
                               f"authorized for {BIZ} from ")
    assert r.output.endswith(" until 2029-06-30 23:59:59 Beijing time\n")  # a China day
    for step, change in (("suspend", "active → suspended"), ("resume", "suspended → active")):
        assert run(env, "seal", step, "3", "--reason", step).output == (
            f"seal 330100MB17032180002 ({MARKET.name}): {change}\n")
    r = run(env, "seal", "cancel", "3", "--reason", "注销")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"seal 330100MB17032180002 ({MARKET.name}): active → cancelled; "
                               f"certificate revoked at ")
    assert r.output.endswith(" (cessationOfOperation)\n")

    shown = run(env, "seal", "show", "330100MB17032180002").output
    lines = shown.splitlines()
    assert lines[0] == f"seal 330100MB17032180002  {MARKET.name}"
    assert "  status        cancelled" in lines
    assert "  kind          1 法定名称章" in lines
    history = lines[lines.index("history") + 1:]
    assert [line.split()[4] for line in history] == [  # after "<day> <time> Beijing time"
        "apply", "approve", "make", "file", "authorize", "suspend", "resume", "cancel"]
    assert "制章单位: 制作" in history[2]
    assert "张三 (印章管理员): 申请法定名称章" in history[0]
    as_json = json.loads(run(env, "seal", "show", "3", "--json").output)
    assert as_json["seal"]["status"] == "cancelled"
    assert [h["actor"] for h in as_json["history"]][2] == "制章单位"
    listed = json.loads(run(env, "seal", "list", "--json", "--status", "cancelled").output)
    assert [(r["es_id"], r["application_id"]) for r in listed] == [("330100MB17032180002", 3)]
    crl = run(env, "seal", "crl").output
    assert crl.startswith("seal 330100MB17032180002  certificate ")
    assert crl.rstrip().endswith("cessationOfOperation")


def test_cli_reject_and_remake(env: dict[str, str]) -> None:
    run(env, "seal", "apply", "--department", MARKET.uscc, "--kind", "2", "--name",
        MARKET.seal_name, "--purpose", "行政审批专用章", "--type", BIZ, "--reason", "再申请")
    r = run(env, "seal", "reject", "3", "--reason", "重复申请")
    assert r.output == f"application 3 ({MARKET.seal_name}): rejected\n"
    r = run(env, "seal", "make", "3", "--reason", "x")
    assert r.exit_code == 1
    assert "cannot make seal application 3" in r.output
    assert "it is rejected" in r.output
    shown = run(env, "seal", "show", "3").output.splitlines()
    assert shown[0] == f"application 3  {MARKET.seal_name}"
    assert shown[-1].split()[4:7] == ["reject", "applied", "→"]
    r = run(env, "seal", "remake", "330100MB17032180001", "--reason", "密钥更新")
    assert r.exit_code == 0, r.output
    revoked = r.output.split("revoked at ")[1].split(" (")[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Beijing time", revoked)
    assert r.output.splitlines() == [
        f"seal 330100MB17032180001 ({MARKET.seal_name}): active → cancelled; certificate "
        f"revoked at {revoked} (superseded)",
        f"seal 330100MB17032180002 ({MARKET.seal_name}): made. Next: file it, authorize it, and "
        f"bind new template versions to it.",
    ]
    listed = run(env, "seal", "list").output.splitlines()
    assert [line.split()[:2] for line in listed] == [
        ["330100MB17032180001", "cancelled"], ["330100MB17041220001", "active"],
        ["application", "3"], ["330100MB17032180002", "made"]]


def test_cli_needs_the_passphrase_to_make_or_revoke(env: dict[str, str]) -> None:
    no_key = {k: v for k, v in env.items() if k != "LICREG_KEY_PASSPHRASE"}
    no_key["LICREG_KEY_PASSPHRASE"] = ""
    for args in (("make", "1"), ("cancel", "330100MB17032180001"),
                 ("report-lost", "330100MB17032180001"), ("remake", "330100MB17032180001")):
        r = run(no_key, "seal", *args, "--reason", "x")
        assert r.exit_code == 1
        assert r.output.startswith("error: LICREG_KEY_PASSPHRASE is not set: the "
                                   "keystore under ")
    assert run(env, "seal", "list", "--status", "active").output.count("active") == 2


def test_cli_needs_who_and_why(env: dict[str, str]) -> None:
    anonymous = {k: v for k, v in env.items() if k != "LICREG_ACTOR"}
    r = CliRunner().invoke(cli, ["seal", "suspend", "330100MB17032180001", "--reason", "x"],
                           env=anonymous | {"LICREG_ACTOR": ""})
    assert r.exit_code == 2
    assert "Missing option '--by'" in r.output
    r = run(env, "seal", "suspend", "330100MB17032180001")
    assert r.exit_code == 2
    assert "Missing option '--reason'" in r.output
