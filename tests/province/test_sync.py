"""The incremental sync (registry.province.sync): outbox events pushed in batches and acked,
rejections, resends, dead letters, unsettled items, the status report, run bookkeeping,
lifecycle events, and the ``licreg sync`` commands. SQLite and PostgreSQL (conftest's
``db_url``).

The first registry's rows (department, license type, seal, template, licenses, outbox events)
are built by hand, with real sealed licenses; the platform is ``create_app`` behind a FastAPI
TestClient, which is an httpx.Client, so the real ProvinceClient and the real verification run
end to end without a socket. The second is the demo world with synthetic licenses sealed as
ingest seals them (:mod:`tests.support.province`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import (
    Base,
    Department,
    License,
    LicenseTypeRow,
    OutboxEvent,
    Seal,
    Template,
)
from registry.errors import AggregationError
from registry.license import lifecycle as lc
from registry.license.canonical import canonical_bytes
from registry.license.codes import license_identifier
from registry.mockprovince.faults import Faults
from registry.mockprovince.process import start_endpoint
from registry.mockprovince.server import create_app
from registry.province.client import ProvinceClient
from registry.province.sync import PushSummary, push_pending, retry_dead, sync_status
from registry.province.syncstate import SyncRun
from registry.seal.making import make_seal
from registry.seal.pki import (
    create_test_pki,
    issue_signer,
    load_maker,
    load_root_cert,
    load_signer_key,
)
from registry.seal.signature import SealingContext
from registry.seal.signer import SoftwareSigner
from tests.support import province
from tests.support.province import (
    AT,
    AUTH,
    Platform,
    cli_run,
    events,
    licenses_ids,
    province_client,
    report,
    sync,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SIGNED_AT = NOW + dt.timedelta(hours=1)
PUSHED_AT = NOW + dt.timedelta(hours=2)
PASSPHRASE = b"TEST-ONLY-passphrase"
TYPE_CODE = "11100000MB0143028R001"
DEPT_NAME = "TEST ONLY 福州市市场监督管理局"
DEPT_USCC = "91350100M000100Y43"
TOKENS = {"city": "TEST-ONLY-token"}
ES_ID = "TESTSEAL0001"


@dataclass(frozen=True)
class Keys:
    keystore: Path
    seal_der: bytes
    cert_der: bytes
    key_file: str
    context: SealingContext


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    keystore = tmp_path_factory.mktemp("sync") / "keystore"
    create_test_pki(keystore, PASSPHRASE, now=NOW)
    end = NOW + dt.timedelta(days=365)
    signer = issue_signer(
        keystore, PASSPHRASE, es_id=ES_ID, department_name=DEPT_NAME,
        department_uscc=DEPT_USCC, now=NOW, not_after=end,
    )  # fmt: skip
    seal_der = make_seal(
        maker=load_maker(keystore, PASSPHRASE), es_id=ES_ID, kind=1, name="证照专用章",
        signer_cert_der=signer.cert_der, authorized_types=[TYPE_CODE], created=NOW,
        valid_start=NOW, valid_end=end, picture_png=b"\x89PNG\r\n\x1a\n TEST ONLY",
    )  # fmt: skip
    key = load_signer_key(keystore, signer.key_file, PASSPHRASE)
    context = SealingContext(seal_der, SoftwareSigner(key, signer.cert_der))
    return Keys(keystore, seal_der, signer.cert_der, signer.key_file, context)


class Registry:
    """A registry database with one department, one seal and one template."""

    def __init__(self, engine: Engine, keys: Keys) -> None:
        self.engine = engine
        self.keys = keys
        with Session(engine) as s:
            dept = Department(name=DEPT_NAME, uscc=DEPT_USCC, division_code="350100")
            s.add(dept)
            s.add(
                LicenseTypeRow(
                    code=TYPE_CODE, name="营业执照", authority_name="TEST ONLY",
                    authority_code="11100000MB0143028R", schema_sha256="0" * 64,
                )
            )  # fmt: skip
            s.flush()
            seal = Seal(
                es_id=ES_ID, department_id=dept.id, name="证照专用章", kind=1, status="active",
                key_file=keys.key_file, cert_der=keys.cert_der, seal_der=keys.seal_der,
                valid_start=NOW, valid_end=NOW + dt.timedelta(days=365), created_at=NOW,
            )  # fmt: skip
            s.add(seal)
            s.flush()
            template = Template(
                type_code=TYPE_CODE, department_id=dept.id, version=1, status="bound",
                seal_id=seal.id, schema_sha256="0" * 64, created_at=NOW,
            )  # fmt: skip
            s.add(template)
            s.commit()
            self.dept_id, self.seal_id, self.template_id = dept.id, seal.id, template.id

    def add_license(
        self,
        serial: str,
        *,
        status: str = "VALID",
        operate_type: str = "01",
        tamper: bool = False,
    ) -> int:
        """Seal a license, store it with an outbox event; return the event id.

        ``tamper`` edits the stored record after sealing (the platform must refuse it).
        """
        ident = license_identifier(TYPE_CODE, DEPT_USCC, serial)
        elements = {
            "ZZMC": "营业执照", "ZZLXDM": TYPE_CODE, "ZZBH": f"TEST{serial}", "ZZBS": ident,
            "ZZBFJG": DEPT_NAME, "ZZBFJGDM": DEPT_USCC, "ZZBFRQ": "20251201",
            "CZZT": "TEST ONLY 某某商行", "CZZTDM": "91350100M000100Y43",
            "CZZTDMLX": "统一社会信用代码", "CZZTDMLXDM": "001",
            "ZZYXQQSRQ": "20251201", "ZZYXQJZRQ": "长期",
        }  # fmt: skip
        record = canonical_bytes(elements)
        data_hash = hashlib.sha256(record).digest()
        signature = self.keys.context.sign(data_hash, SIGNED_AT, ident)
        if tamper:
            record = canonical_bytes({**elements, "CZZT": "TEST ONLY 篡改商行"})
        with Session(self.engine) as s:
            lic = License(
                identifier=ident, type_code=TYPE_CODE, department_id=self.dept_id,
                number=f"TEST{serial}", holder_code="91350100M000100Y43", version="001",
                predecessor=None, status=status, valid_to="长期", record=record,
                data_hash=data_hash, seal_id=self.seal_id, template_id=self.template_id,
                signed_at=SIGNED_AT, signature=signature, batch_id=None, created_at=NOW,
            )  # fmt: skip
            s.add(lic)
            s.flush()
            event = OutboxEvent(license_id=lic.id, operate_type=operate_type, created_at=NOW)
            s.add(event)
            s.commit()
            return event.id

    def event(self, event_id: int) -> OutboxEvent:
        with Session(self.engine) as s:
            found = s.get(OutboxEvent, event_id)
            assert found is not None
            s.expunge(found)
            return found


@pytest.fixture
def registry(keys: Keys, db_url: str) -> Iterator[Registry]:
    """A fresh registry on SQLite and, when reachable, PostgreSQL (conftest's ``db_url``)."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    yield Registry(engine, keys)
    engine.dispose()


@pytest.fixture
def platform(keys: Keys, tmp_path: Path) -> TestClient:
    # A file, as the platform's own: pushes run in parallel threads, and an in-memory SQLite
    # database is one connection that their transactions would share.
    app = create_app(
        db_url=f"sqlite:///{tmp_path / 'platform.db'}",
        anchors=[load_root_cert(keys.keystore)],
        tokens=TOKENS,
        clock=lambda: PUSHED_AT,
    )
    return TestClient(app)


@pytest.fixture
def client(platform: TestClient) -> ProvinceClient:
    return ProvinceClient(platform, access_id="city", access_token=TOKENS["city"])


def run(registry: Registry, client: ProvinceClient, *, batch_size: int = 500) -> PushSummary:
    with Session(registry.engine) as session:
        return push_pending(session, client, batch_size=batch_size, at=PUSHED_AT)


def status(registry: Registry) -> dict[str, int]:
    with Session(registry.engine) as session:
        return sync_status(session)


def test_all_pending_events_are_pushed_in_batches_and_acked(
    registry: Registry, client: ProvinceClient, platform: TestClient
) -> None:
    ids = [registry.add_license(f"A{i}") for i in range(5)]
    assert status(registry) == {"pending": 5, "acked": 0, "failing": 0}
    summary = run(registry, client, batch_size=2)
    assert summary == PushSummary(
        sent=5, accepted=5, duplicates=0, rejected=0, batches=3, reasons={}
    )
    assert status(registry) == {"pending": 0, "acked": 5, "failing": 0}
    assert all(registry.event(i).acked_at == PUSHED_AT for i in ids)
    stats = platform.get("/stats").json()
    assert (stats["licenses"], stats["requests"]) == (5, 3)


def test_pushed_item_is_the_exact_sealed_license(
    registry: Registry, client: ProvinceClient, platform: TestClient
) -> None:
    registry.add_license("A1")
    run(registry, client)
    with Session(registry.engine) as s:
        lic = s.scalars(select(License)).one()
    stored = platform.get(f"/api/v1/licenses/{lic.identifier}", headers=AUTH).json()
    assert stored["elements"] == json.loads(lic.record)
    assert canonical_bytes(stored["elements"]) == lic.record
    assert (stored["operateType"], stored["certState"], stored["version"]) == ("01", "01", "001")
    assert stored["associatedZZBS"] is None


def test_push_again_sends_nothing(
    registry: Registry, client: ProvinceClient, platform: TestClient
) -> None:
    registry.add_license("A1")
    run(registry, client)
    assert run(registry, client) == PushSummary(
        sent=0, accepted=0, duplicates=0, rejected=0, batches=0, reasons={}
    )
    assert platform.get("/stats").json()["requests"] == 1


def test_rejected_item_stays_pending_with_last_error(
    registry: Registry, client: ProvinceClient
) -> None:
    good = registry.add_license("A1")
    bad = registry.add_license("A2", tamper=True)
    summary = run(registry, client)
    assert (summary.sent, summary.accepted, summary.rejected) == (2, 1, 1)
    assert summary.reasons == {"HASH_FAILURE": 1}
    assert registry.event(good).acked_at == PUSHED_AT
    event = registry.event(bad)
    assert event.acked_at is None
    assert event.attempts == 1
    assert event.last_error is not None
    assert event.last_error.startswith("HASH_FAILURE: ")
    assert status(registry) == {"pending": 1, "acked": 1, "failing": 1}
    # a later run tries it again (and only it)
    again = run(registry, client)
    assert (again.sent, again.rejected) == (1, 1)
    assert registry.event(bad).attempts == 2


def test_resend_after_lost_bookkeeping_counts_as_delivered(
    registry: Registry, client: ProvinceClient
) -> None:
    """A crash after the push and before the commit: the resend comes back DUPLICATE."""
    registry.add_license("A1")
    registry.add_license("A2")

    class CrashAfterPush(Exception):
        pass

    class Crashing:
        def push(self, items: list[dict[str, Any]]) -> Any:
            client.push(items)  # the platform stores them ...
            raise CrashAfterPush  # ... and the sender dies before recording the acks

    with pytest.raises(CrashAfterPush):
        run(registry, Crashing())  # type: ignore[arg-type]
    assert status(registry)["pending"] == 2
    summary = run(registry, client)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (0, 2, 0)
    assert status(registry) == {"pending": 0, "acked": 2, "failing": 0}


def test_status_event_carries_the_current_status(
    registry: Registry, client: ProvinceClient, platform: TestClient
) -> None:
    registry.add_license("A1")
    run(registry, client)
    with Session(registry.engine) as s:
        lic = s.scalars(select(License)).one()
        lic.status = "SUSPENDED"
        s.add(OutboxEvent(license_id=lic.id, operate_type="03", created_at=PUSHED_AT))
        s.commit()
        ident = lic.identifier
    summary = run(registry, client)
    assert (summary.sent, summary.accepted) == (1, 1)
    stored = platform.get(f"/api/v1/licenses/{ident}", headers=AUTH).json()
    assert (stored["status"], stored["certState"], stored["operateType"]) == (
        "SUSPENDED",
        "02",
        "03",
    )


def test_unbuildable_event_is_recorded_not_sent(registry: Registry, client: ProvinceClient) -> None:
    event = registry.add_license("A1", status="MISLAID")
    summary = run(registry, client)
    assert (summary.sent, summary.batches, summary.rejected) == (0, 0, 1)
    assert summary.reasons == {"LOCAL_BUILD_FAILURE": 1}
    last_error = registry.event(event).last_error
    assert last_error is not None
    assert "MISLAID" in last_error


def test_refused_credentials_raise_and_record_nothing(registry: Registry) -> None:
    registry.add_license("A1")
    refusing = httpx.Client(
        transport=httpx.MockTransport(lambda _r: httpx.Response(401)), base_url="http://p"
    )
    client = ProvinceClient(refusing, access_id="city", access_token="wrong")
    with pytest.raises(AggregationError, match="refused accessId"):
        run(registry, client)
    assert status(registry) == {"pending": 1, "acked": 0, "failing": 0}


def test_commits_per_batch_even_inside_session_scope(
    registry: Registry, client: ProvinceClient
) -> None:
    """The platform goes away after the first batch: that batch stays recorded."""
    ids = [registry.add_license(f"A{i}") for i in range(4)]

    class DiesAfterOneBatch:
        calls = 0

        def push(self, items: list[dict[str, Any]]) -> Any:
            self.calls += 1
            if self.calls > 1:
                raise AggregationError("gave up pushing: HTTP 503")
            return client.push(items)

    with (
        pytest.raises(AggregationError, match="HTTP 503"),
        session_scope(registry.engine) as session,
    ):
        push_pending(session, DiesAfterOneBatch(), batch_size=2, at=PUSHED_AT)  # type: ignore[arg-type]
    assert [registry.event(i).acked_at for i in ids] == [PUSHED_AT, PUSHED_AT, None, None]


def test_max_batches_stops_early(registry: Registry, client: ProvinceClient) -> None:
    for i in range(5):
        registry.add_license(f"A{i}")
    with Session(registry.engine) as session:
        summary = push_pending(session, client, batch_size=2, max_batches=2, at=PUSHED_AT)
    assert (summary.sent, summary.batches) == (4, 2)
    assert status(registry) == {"pending": 1, "acked": 4, "failing": 0}


def test_events_claimed_by_another_sync_are_skipped_on_postgres(
    registry: Registry, client: ProvinceClient
) -> None:
    if registry.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED claims exist on PostgreSQL only; SQLite has a single writer")
    ids = [registry.add_license(f"A{i}") for i in range(4)]
    with Session(registry.engine) as other:
        # another sync run holds the first two events
        other.execute(
            select(OutboxEvent.id).where(OutboxEvent.id.in_(ids[:2])).with_for_update()
        ).all()
        summary = run(registry, client)
        other.rollback()
    assert summary.sent == 2
    assert [registry.event(i).acked_at for i in ids] == [None, None, PUSHED_AT, PUSHED_AT]


# -- the demo world: dead letters, unsettled items, the report, runs, lifecycle events -------------



def tamper(reg: Settings, license_id: int) -> None:
    """Edit a stored record after sealing: the platform must refuse it (HASH_FAILURE)."""
    engine = make_engine(reg.database_url)
    with session_scope(engine) as s:
        lic = s.get_one(License, license_id)
        lic.record = lic.record.replace("示范市".encode(), "伪造市".encode(), 1)
    engine.dispose()


def test_rejected_events_become_dead_letters_after_max_attempts_and_can_be_retried(
    reg: Settings, plat: Platform
) -> None:
    tamper(reg, 2)
    client = province_client(plat.http)
    first = sync(reg, client, batch_size=4, max_attempts=2)
    assert (first.sent, first.accepted, first.rejected, first.dead) == (6, 5, 1, 0)
    assert first.batches == 2
    assert first.reasons == {"HASH_FAILURE": 1}
    second = sync(reg, client, max_attempts=2)
    assert (second.sent, second.rejected, second.dead) == (1, 1, 1)
    status = report(reg)
    assert (status["pending"], status["dead"], status["acked"]) == (0, 1, 5)
    assert status["dead_reasons"] == {"HASH_FAILURE": 1}
    assert sync(reg, client).sent == 0  # dead letters wait for a person
    engine = make_engine(reg.database_url)
    with session_scope(engine) as s:
        assert retry_dead(s, at=AT) == 1
    engine.dispose()
    assert (report(reg)["pending"], report(reg)["dead"]) == (1, 0)
    event = next(e for e in events(make_engine(reg.database_url)) if e.license_id == 2)
    assert (event.attempts, event.last_error) == (0, event.last_error)
    assert event.last_error is not None and event.last_error.startswith("HASH_FAILURE: ")


def test_items_without_a_clear_answer_stay_pending_uncharged(
    reg: Settings, plat: Platform
) -> None:
    gen = province.platform(reg, faults=Faults(partial_rate=1.0, seed=1))
    partial = next(gen)
    summary = sync(reg, province_client(partial.http, max_attempts=1), batch_size=6)
    assert summary.unsettled == 6 - summary.accepted
    assert summary.unsettled > 0 and summary.rejected == 0
    engine = make_engine(reg.database_url)
    pending = [e for e in events(engine) if e.acked_at is None]
    assert len(pending) == summary.unsettled
    assert all(e.attempts == 0 and e.dead_at is None for e in pending)
    gen.close()


def test_report_shows_lag_in_flight_and_the_runs(reg: Settings, plat: Platform) -> None:
    seen: list[dict[str, Any]] = []

    def look(step: str) -> None:
        if step == "sent" and not seen:
            seen.append(report(reg))

    before = report(reg, at=province.NOW + dt.timedelta(minutes=30))
    assert (before["pending"], before["in_flight"], before["lag_seconds"]) == (6, 0, 1800.0)
    summary = sync(reg, province_client(plat.http), batch_size=2, concurrency=2, on_step=look)
    assert summary.accepted == 6
    (during,) = seen
    assert during["in_flight"] == 4  # two batches of two in flight
    assert [r["kind"] for r in during["running"]] == ["incremental"]
    after = report(reg)
    assert (after["pending"], after["in_flight"], after["lag_seconds"]) == (0, 0, 0.0)
    assert after["last_run"]["state"] == "done"
    assert after["last_run"]["summary"]["accepted"] == 6


def test_a_live_sync_keeps_a_second_one_out_on_sqlite(reg: Settings, plat: Platform) -> None:
    engine = make_engine(reg.database_url)
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL workers run side by side, kept apart by row locks")
    with session_scope(engine) as s:
        s.add(SyncRun(kind="incremental", host=socket.gethostname(), pid=os.getpid(),
                      started_at=AT, heartbeat_at=AT, in_flight=3, state="running"))
    with pytest.raises(AggregationError, match="another incremental sync is running"):
        sync(reg, province_client(plat.http))
    with session_scope(engine) as s:  # that process died: its run is closed, the next one goes
        s.execute(update(SyncRun).values(pid=2**22 + 17))
    assert sync(reg, province_client(plat.http)).accepted == 6
    with Session(engine) as s:
        states = [(r.state, r.error) for r in s.scalars(select(SyncRun).order_by(SyncRun.id))]
    assert states[0] == ("failed", "the process ended without finishing the run")
    engine.dispose()


def test_lifecycle_events_reach_the_platform_with_their_own_status(
    reg: Settings, plat: Platform
) -> None:
    engine = make_engine(reg.database_url)
    with Session(engine) as s:
        ids = list(s.scalars(select(License.identifier).order_by(License.id)))
    with session_scope(engine) as s:
        lc.revoke(s, ids[0], at=AT, actor="t")
        lc.withdraw(s, ids[1], at=AT, actor="t")
        lc.transfer_out(s, ids[2], at=AT, actor="t")
        renewed = lc.renew(s, reg, ids[3], valid_to="20460512", at=AT, actor="t")
    sync(reg, province_client(plat.http), batch_size=3)
    stored = {i: plat.stored(i) for i in (*ids[:4], renewed.identifier)}
    assert [(stored[i]["status"], stored[i]["certState"]) for i in ids[:4]] == [  # type: ignore[index]
        ("REVOKED", "03"), ("WITHDRAWN", "07"), ("TRANSFERRED_OUT", "06"), ("SUPERSEDED", "01")]
    new = stored[renewed.identifier]
    assert new is not None
    assert (new["operateType"], new["associatedZZBS"], new["status"]) == ("02", ids[3], "VALID")
    engine.dispose()


# -- the commands, against the real endpoint -------------------------------------------------------


@pytest.mark.slow
def test_sync_commands_with_hmac_against_the_real_endpoint(reg: Settings, tmp_path: Path) -> None:
    anchors = tmp_path / "root.pem"
    anchors.write_bytes(load_root_cert(reg.keystore).public_bytes(Encoding.PEM))
    keys = {"other": "TEST-ONLY-hmac-key"}
    with start_endpoint(home=tmp_path / "province", anchors_path=anchors, tokens=province.TOKENS,
                        hmac_keys=keys) as url:  # fmt: skip
        auth = ("--endpoint", url, "--access-id", "other",
                "--token-file", province.token_file(tmp_path, keys["other"]), "--auth", "hmac")
        code, out = cli_run(reg, "sync", "status")
        assert code == 0 and out.startswith("pending 6 (failing 0), in flight 0, dead 0, "
                                            "acknowledged 0\n")  # fmt: skip
        code, out = cli_run(reg, "sync", "run", *auth, "--batch-size", "4")
        assert (code, out) == (0, "sent 6: accepted 6, duplicates 0, held 0, rejected 0 in 2 "
                                  "batches\n")  # fmt: skip
        code, out = cli_run(reg, "sync", "full", *auth, "--json")
        assert code == 0 and json.loads(out)["duplicates"] == 6
        code, out = cli_run(reg, "sync", "reconcile", *auth)
        assert code == 0 and out.startswith("registry 6 versions, platform 6: matched 6, "
                                            "missing 0")  # fmt: skip
        ident = licenses_ids(make_engine(reg.database_url))[0]
        assert cli_run(reg, "license", "suspend", ident)[0] == 0
        code, out = cli_run(reg, "sync", "run", "--endpoint", url,
                            "--token-file", province.token_file(tmp_path, "wrong"))
        assert code == 1 and "refused accessId" in out
        code, out = cli_run(reg, "sync", "status", "--json")
        status = json.loads(out)
        assert (status["pending"], status["acked"], status["last_run"]["state"]) == (1, 6,
                                                                                       "failed")
        code, out = cli_run(reg, "push", "--endpoint", url, "--access-id", "city", "--json",
                            LICREG_PROVINCE_TOKEN=province.TOKENS["city"])
        assert code == 0 and json.loads(out)["accepted"] == 1
    code, out = cli_run(reg, "sync", "retry")
    assert (code, out) == (0, "revived 0 dead letters; they go out with the next `licreg sync "
                              "run`\n")  # fmt: skip
