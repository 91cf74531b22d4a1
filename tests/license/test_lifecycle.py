"""License lifecycle after issue: each step writes its version or status, its history row, its
outbox event and its log leaf in one transaction (registry.license.lifecycle, ``licreg license …``).

Runs on SQLite and PostgreSQL (conftest's ``world``); licenses are sealed exactly as ingest
seals them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from registry.city.demo import HEALTH, MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import License, OutboxEvent
from registry.errors import LifecycleError
from registry.license import lifecycle as lc
from registry.license.codes import license_identifier, parse_license_identifier
from registry.license.lifecycle import LicenseChange
from registry.seal.pki import load_root_cert
from registry.seal.signature import assemble
from registry.tlog.leaves import parse_leaf
from registry.tlog.models import LogLeaf
from registry.verify.core import Verifier
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import seal_synthetic

AT = NOW + dt.timedelta(hours=1)
BIZ = "11100000MB0143028R001"


def seal(
    settings: Settings, n: int = 3, *, start: int = 0, valid_to: str = "20360512"
) -> list[str]:
    """Seal ``n`` licenses as ingest does; their identifiers."""
    seal_synthetic(settings, n, at=NOW, start=start, valid_to=valid_to)
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        found = list(s.scalars(select(License.identifier).order_by(License.id)))[-n:]
    engine.dispose()
    return found


def row(engine: Engine, identifier: str) -> License:
    with Session(engine) as s:
        lic = s.scalars(select(License).where(License.identifier == identifier)).one()
        s.expunge(lic)
        return lic


def events_of(engine: Engine, identifier: str) -> list[tuple[str, str | None]]:
    with Session(engine) as s:
        return [(op, status) for op, status in s.execute(
            select(OutboxEvent.operate_type, OutboxEvent.status)
            .join(License, License.id == OutboxEvent.license_id)
            .where(License.identifier == identifier).order_by(OutboxEvent.id))]  # fmt: skip


def leaves_of(engine: Engine, identifier: str) -> list[tuple[str, str]]:
    with Session(engine) as s:
        datas = s.scalars(select(LogLeaf.data).where(LogLeaf.identifier == identifier)
                          .order_by(LogLeaf.id))  # fmt: skip
        return [(leaf.operate_type, leaf.status) for leaf in map(parse_leaf, datas)]


def verify(engine: Engine, settings: Settings, identifier: str) -> str:
    lic = row(engine, identifier)
    from registry.db.models import Seal

    with Session(engine) as s:
        seal_row = s.get_one(Seal, lic.seal_id)
        der = assemble(seal_row.seal_der, seal_row.cert_der, lic.signed_at, lic.data_hash,
                       lic.identifier, lic.signature)  # fmt: skip
    report = Verifier(anchors=[load_root_cert(settings.keystore)], at=AT).verify(
        lic.record, der, subject=identifier
    )
    return str(report.indication)


# -- status-only steps -----------------------------------------------------------------------


def test_suspend_writes_status_event_leaf_and_history_in_one_go(
    world: Engine, settings: Settings
) -> None:
    (ident,) = seal(settings, 1)
    with session_scope(world) as s:
        result = lc.suspend(s, ident, at=AT, actor="clerk-7", reason="整改期间")
    assert (result.status, result.operate_type, result.previous_status) == (
        "SUSPENDED", "03", "VALID")  # fmt: skip
    assert row(world, ident).status == "SUSPENDED"
    assert events_of(world, ident) == [("01", "VALID"), ("03", "SUSPENDED")]
    assert leaves_of(world, ident)[-1] == ("03", "SUSPENDED")
    with Session(world) as s:
        change = s.scalars(select(LicenseChange)).one()
    assert (change.action, change.from_status, change.to_status, change.actor, change.reason,
            change.at) == ("suspend", "VALID", "SUSPENDED", "clerk-7", "整改期间", AT)  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "status", "events"),
    [
        (["suspend", "unsuspend"], "VALID", [("03", "SUSPENDED"), ("06", "VALID")]),
        (["revoke"], "REVOKED", [("05", "REVOKED")]),
        (["suspend", "withdraw"], "WITHDRAWN", [("03", "SUSPENDED"), ("05", "WITHDRAWN")]),
        (["cancel"], "CANCELLED", [("05", "CANCELLED")]),
        (["transfer_out"], "TRANSFERRED_OUT", [("05", "TRANSFERRED_OUT")]),
        (["transfer_out", "cancel_transfer_out"], "VALID",
         [("05", "TRANSFERRED_OUT"), ("10", "VALID")]),
    ],
    ids=["unsuspend", "revoke", "withdraw", "cancel", "transfer-out", "cancel-transfer-out"],
)  # fmt: skip
def test_status_steps_follow_the_code_tables(
    world: Engine, settings: Settings, steps: list[str], status: str,
    events: list[tuple[str, str]],
) -> None:  # fmt: skip
    (ident,) = seal(settings, 1)
    for step in steps:
        with session_scope(world) as s:
            lc.change_status(s, ident, step, at=AT, actor="clerk")
    assert row(world, ident).status == status
    assert events_of(world, ident)[1:] == events


@pytest.mark.parametrize(
    ("first", "step", "status"),
    [(None, "unsuspend", "VALID"), ("cancel", "suspend", "CANCELLED"),
     ("revoke", "cancel", "REVOKED"), (None, "cancel_transfer_out", "VALID")],
)  # fmt: skip
def test_refused_step_names_license_status_and_step_and_writes_nothing(
    world: Engine, settings: Settings, first: str | None, step: str, status: str
) -> None:
    (ident,) = seal(settings, 1)
    if first:
        with session_scope(world) as s:
            lc.change_status(s, ident, first, at=AT, actor="clerk")
    before = len(events_of(world, ident))
    refused = rf"{lc.step_text(step)} of {ident} refused: it is {status}"
    with pytest.raises(LifecycleError, match=refused), session_scope(world) as s:
        lc.change_status(s, ident, step, at=AT, actor="clerk")
    assert row(world, ident).status == status
    assert len(events_of(world, ident)) == before


def test_a_failure_after_the_step_rolls_back_status_event_and_leaf(
    world: Engine, settings: Settings
) -> None:
    (ident,) = seal(settings, 1)
    leaves = len(leaves_of(world, ident))

    def suspend_then_fail() -> None:
        with session_scope(world) as s:
            lc.suspend(s, ident, at=AT, actor="clerk")
            raise RuntimeError("something later in the same transaction failed")

    with pytest.raises(RuntimeError, match="later in the same transaction"):
        suspend_then_fail()
    assert row(world, ident).status == "VALID"
    assert events_of(world, ident) == [("01", "VALID")]
    assert len(leaves_of(world, ident)) == leaves


def test_expire_only_once_the_end_date_has_passed(world: Engine, settings: Settings) -> None:
    (ident,) = seal(settings, 1, valid_to="20261126")
    with pytest.raises(LifecycleError, match="valid until 20261126"), session_scope(world) as s:
        lc.expire(s, ident, today=dt.date(2026, 11, 26), at=AT, actor="clerk")
    with session_scope(world) as s:
        result = lc.expire(s, ident, today=dt.date(2026, 11, 27), at=AT, actor="clerk")
    assert (result.status, result.operate_type) == ("EXPIRED", "04")


def test_expiry_sweep_expires_exactly_the_due_licenses(world: Engine, settings: Settings) -> None:
    due = seal(settings, 3, start=0, valid_to="20261120")
    later = seal(settings, 2, start=10, valid_to="20261127")
    forever = seal(settings, 1, start=20, valid_to="长期")
    with session_scope(world) as s:
        lc.suspend(s, due[0], at=AT, actor="clerk")
        lc.cancel(s, due[1], at=AT, actor="clerk")  # already ended another way
    with session_scope(world) as s:
        sweep = lc.expire_due(s, today=dt.date(2026, 11, 27), at=AT, limit=1)
    assert sweep.expired == 1  # the limit
    with session_scope(world) as s:
        rest = lc.expire_due(s, today=dt.date(2026, 11, 27), at=AT)
    with session_scope(world) as s:
        assert lc.expire_due(s, today=dt.date(2026, 11, 27), at=AT).expired == 0
    assert sorted(sweep.identifiers + rest.identifiers) == sorted([due[0], due[2]])
    assert [row(world, i).status for i in due] == ["EXPIRED", "CANCELLED", "EXPIRED"]
    assert all(row(world, i).status == "VALID" for i in later + forever)
    assert events_of(world, due[0])[-1] == ("04", "EXPIRED")
    assert leaves_of(world, due[2])[-1] == ("04", "EXPIRED")


# -- new versions ----------------------------------------------------------------------------


def test_change_seals_a_new_version_linked_to_its_predecessor(
    world: Engine, settings: Settings
) -> None:
    (ident,) = seal(settings, 1)
    with session_scope(world) as s:
        result = lc.change(s, settings, ident, changes={"CZZT": "示范市新名称有限公司",
                                                        "KZ_FDDBR": "李四"},
                           at=AT, actor="clerk", reason="名称变更")  # fmt: skip
    new, old = row(world, result.identifier), row(world, ident)
    assert (result.operate_type, result.previous, old.status, new.status) == (
        "09", ident, "SUPERSEDED", "VALID")  # fmt: skip
    before, after = parse_license_identifier(ident), parse_license_identifier(new.identifier)
    assert (after.serial, after.issuer_code, before.version, after.version) == (
        before.serial, before.issuer_code, "001", "002")  # fmt: skip
    assert new.predecessor == ident
    elements = json.loads(new.record)
    assert (elements["CZZT"], elements["KZ_FDDBR"], elements["ZZBS"]) == (
        "示范市新名称有限公司", "李四", new.identifier)  # fmt: skip
    assert new.signed_at == AT.replace(microsecond=0)
    assert verify(world, settings, new.identifier) == "PASSED"
    assert events_of(world, new.identifier) == [("09", "VALID")]
    assert leaves_of(world, new.identifier) == [("09", "VALID")]
    with pytest.raises(LifecycleError, match="superseded by a later version"), \
            session_scope(world) as s:  # fmt: skip
        lc.suspend(s, ident, at=AT, actor="clerk")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ZZBH": "OTHER"}, "ZZBH: it identifies the license"),
        ({"ZZBFJG": "别的机关"}, "ZZBFJG: it is derived"),
        ({"NOPE": "x"}, "NOPE: it is not an element"),
        ({"ZZYXQJZRQ": "2036-05-12"}, "must be a date yyyyMMdd"),
        ({"CZZTDM": "91330102MAT9HT4560"}, "not a valid 统一社会信用代码"),
        ({"CZZT": ""}, "is required"),
        ({"CZZT": "示范市基准测试0有限公司"}, "nothing would change"),
        ({"CZZT": "示范\x1b[2J公司"}, r"control character U\+001B"),
        ({"CZZT": "示范\u200b公司"}, r"invisible or control character U\+200B"),
        ({"KZ_JYFW": "+cmd|' /C calc'!A0"}, "starts like a spreadsheet formula"),
        ({"ZZYXQJZRQ": "99991231"}, "must be between"),
    ],
    ids=["number", "derived", "unknown", "date", "holder-code", "required", "no-op",
         "escape", "zero-width", "formula", "implausible-date"],
)
def test_change_refuses_what_would_make_a_wrong_license(
    world: Engine, settings: Settings, changes: dict[str, str], message: str
) -> None:
    (ident,) = seal(settings, 1)
    with pytest.raises(LifecycleError, match=message), session_scope(world) as s:
        lc.change(s, settings, ident, changes=changes, at=AT, actor="clerk")
    assert row(world, ident).status == "VALID"
    with Session(world) as s:
        assert s.scalar(select(func.count()).select_from(License)) == 1


def test_renew_extends_the_end_date_also_of_an_expired_license(
    world: Engine, settings: Settings
) -> None:
    (ident,) = seal(settings, 1, valid_to="20261120")
    with pytest.raises(LifecycleError, match="already valid until 20261120"), \
            session_scope(world) as s:  # fmt: skip
        lc.renew(s, settings, ident, valid_to="20261101", at=AT, actor="clerk")
    with session_scope(world) as s:
        lc.expire_due(s, today=dt.date(2026, 11, 27), at=AT)
    with session_scope(world) as s:
        result = lc.renew(s, settings, ident, valid_to="20311120", valid_from="20261127",
                          at=AT, actor="clerk")  # fmt: skip
    new = row(world, result.identifier)
    assert (result.operate_type, result.previous_status, new.valid_to) == (
        "02", "EXPIRED", "20311120")  # fmt: skip
    assert json.loads(new.record)["ZZYXQQSRQ"] == "20261127"
    assert events_of(world, new.identifier) == [("02", "VALID")]
    assert verify(world, settings, new.identifier) == "PASSED"


def test_transfer_in_reissues_a_foreign_license_under_this_department(
    world: Engine, settings: Settings, tmp_path: Path
) -> None:
    (local,) = seal(settings, 1)
    foreign = json.loads(row(world, local).record)
    foreign_id = license_identifier(BIZ, "91350100M000100Y43", "20240001", "003")
    foreign.update(ZZBS=foreign_id, ZZBFJG="TEST ONLY 外省市场监督管理局",
                   ZZBFJGDM="91350100M000100Y43", ZZBH="FOREIGN-0001")  # fmt: skip
    with session_scope(world) as s:
        result = lc.transfer_in(s, settings, elements=foreign, department_uscc=MARKET.uscc,
                                predecessor=foreign_id, at=AT, actor="clerk")  # fmt: skip
    new = row(world, result.identifier)
    elements = json.loads(new.record)
    assert (result.operate_type, new.predecessor, new.version) == ("08", foreign_id, "004")
    assert (elements["ZZBFJGDM"], elements["ZZBFJG"], elements["ZZBH"]) == (
        MARKET.uscc, MARKET.name, "FOREIGN-0001")  # fmt: skip
    assert verify(world, settings, new.identifier) == "PASSED"
    assert events_of(world, new.identifier) == [("08", "VALID")]
    with pytest.raises(LifecycleError, match="holds it already"), session_scope(world) as s:
        lc.transfer_in(s, settings, elements=foreign, department_uscc=MARKET.uscc,
                       predecessor=foreign_id, at=AT, actor="clerk")  # fmt: skip
    with pytest.raises(LifecycleError, match="does not issue"), session_scope(world) as s:
        lc.transfer_in(s, settings, elements={**foreign, "ZZBH": "FOREIGN-0002"},
                       department_uscc=HEALTH.uscc, predecessor=foreign_id, at=AT,
                       actor="clerk")  # fmt: skip


def test_history_lists_every_step_of_every_version(world: Engine, settings: Settings) -> None:
    (ident,) = seal(settings, 1)
    with session_scope(world) as s:
        lc.suspend(s, ident, at=AT, actor="a", reason="r1")
        lc.unsuspend(s, ident, at=AT, actor="b")
        new = lc.change(s, settings, ident, changes={"KZ_FDDBR": "王五"}, at=AT, actor="c")
        lc.cancel(s, new.identifier, at=AT, actor="d", reason="歇业")
    with Session(world) as s:
        steps = lc.history(s, ident)
    assert [(h["action"], h["identifier"], h["actor"]) for h in steps] == [
        ("suspend", ident, "a"), ("unsuspend", ident, "b"), ("change", new.identifier, "c"),
        ("cancel", new.identifier, "d")]  # fmt: skip
    assert steps[2]["related"] == ident and steps[3]["reason"] == "歇业"


def test_history_shows_the_whole_chain_from_any_version(world: Engine, settings: Settings,
                                                        tmp_path: Path) -> None:
    """Two ordinary 变更 re-uploads (batches, no lifecycle step), then a suspension of 003:
    asked about any of the three versions, the history is the same chain."""
    from tests.verify.test_registry_audit import CSV, ingest

    ingest(world, settings)
    lines = CSV.read_text(encoding="utf-8").splitlines()
    for n, capital in enumerate(("200万元人民币", "300万元人民币"), 1):
        (tmp_path / f"c{n}.csv").write_text(
            "\n".join([lines[0], lines[1].replace("100万元人民币", capital)]) + "\n",
            encoding="utf-8")
        ingest(world, settings, tmp_path / f"c{n}.csv", at=NOW + dt.timedelta(hours=n))
    with Session(world) as s:
        v1 = s.scalars(select(License.identifier).order_by(License.id)).first()
        v2, v3 = list(s.scalars(select(License.identifier).order_by(License.id)))[-2:]
    assert [v[-5:-2] for v in (v1, v2, v3)] == ["001", "002", "003"]
    with session_scope(world) as s:
        lc.suspend(s, v3, at=AT, actor="clerk", reason="整改")
    for asked in (v3, v2, v1):
        with Session(world) as s:
            versions = lc.chain(s, asked)
        assert [(v["identifier"], v["status"], v["predecessor"], v["asked"]) for v in versions] == [
            (v1, "SUPERSEDED", None, asked == v1), (v2, "SUPERSEDED", v1, asked == v2),
            (v3, "SUSPENDED", v2, asked == v3)]
        assert [[step["action"] for step in v["steps"]] for v in versions] == [[], [], ["suspend"]]
    code, out = run(settings, "license", "history", v3)
    assert code == 0
    assert "no lifecycle steps since issue" not in out.splitlines()[-1]
    shown = out.splitlines()
    assert [line.split("  ")[0] for line in shown if not line.startswith(" ")] == [v1, v2, v3]
    assert shown[2].startswith(f"{v2}  SUPERSEDED  sealed ") and shown[2].endswith(
        f" from batch 2, replaces {v1}")
    assert shown[4].endswith(f", replaces {v2}  ← this version")
    assert shown[5].startswith("    ")
    assert "suspension  03  VALID → SUSPENDED  by clerk  «整改»" in shown[5]
    as_json = json.loads(run(settings, "license", "history", v1, "--json")[1])
    assert [v["asked"] for v in as_json] == [True, False, False]


# -- the command line -------------------------------------------------------------------------


def run(settings: Settings, *args: str) -> tuple[int, str]:
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}  # fmt: skip
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_cli_steps_print_one_line_and_refusals_exit_1(world: Engine, settings: Settings) -> None:
    (ident,) = seal(settings, 1)
    code, out = run(settings, "license", "suspend", ident, "--reason", "整改", "--actor", "clerk")
    assert (code, out) == (
        0, f"{ident}  VALID → SUSPENDED  (03 suspension; queued for the province)\n")
    code, out = run(settings, "license", "suspend", ident)
    assert code == 1
    assert out.startswith(f"error: suspension of {ident} refused: it is SUSPENDED")
    code, out = run(settings, "license", "unsuspend", ident, "--json")
    assert json.loads(out)["status"] == "VALID"
    code, out = run(settings, "license", "change", ident, "--set", "KZ_FDDBR=赵六", "--json")
    changed = json.loads(out)
    assert (code, changed["operate_type"], changed["previous"]) == (0, "09", ident)
    code, out = run(settings, "license", "history", ident)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5  # two versions, each with its steps below it
    assert lines[0].startswith(f"{ident}  SUPERSEDED  sealed ") and lines[0].endswith(
        "  ← this version")
    assert "suspension" in lines[1] and "VALID → SUSPENDED" in lines[1] and "«整改»" in lines[1]
    assert lines[3].startswith(f"{changed['identifier']}  VALID  sealed ")
    assert lines[3].endswith(f", replaces {ident}")
    assert f"new version (replaces {ident})" in lines[4]


def test_cli_expire_due_and_renew(world: Engine, settings: Settings) -> None:
    (ident,) = seal(settings, 1, valid_to="20261101")
    code, out = run(settings, "license", "expire-due", "--today", "20261127")
    assert (code, out) == (0, "1 license past its end date before 20261127 is now EXPIRED "
                              "(queued for the province)\n")  # fmt: skip
    code, out = run(settings, "license", "renew", ident, "--until", "20311101", "--json")
    assert code == 0 and json.loads(out)["operate_type"] == "02"
    code, out = run(settings, "license", "renew", json.loads(out)["identifier"], "--until", "x1")
    assert code == 1 and "must be a date yyyyMMdd" in out


def test_a_change_waits_for_a_batch_storing_its_type(world: Engine, settings: Settings) -> None:
    """A new version by hand is stored under its type's lock, as a batch stores one: while a
    batch of that type holds the lock, the change waits, then goes on after it."""
    import threading

    from registry.license.issue import lock_type

    (ident,) = seal(settings, 1)
    type_code = row(world, ident).type_code
    other = make_engine(settings.database_url)
    done: list[str] = []

    def change() -> None:
        with session_scope(other) as s:
            done.append(lc.change(s, settings, ident, changes={"KZ_ZS": "示范市新址1号"}, at=AT,
                                  actor="clerk").identifier)

    try:
        with session_scope(world) as holder:
            lock_type(holder, type_code)  # a batch of this type between its judging and store
            worker = threading.Thread(target=change)
            worker.start()
            worker.join(timeout=2)
            assert worker.is_alive() and done == []  # waiting for the lock
        worker.join(timeout=60)
        assert done and int(row(world, done[0]).version) == int(row(world, ident).version) + 1
    finally:
        other.dispose()
