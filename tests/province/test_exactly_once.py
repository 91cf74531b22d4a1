"""Exactly once in effect: the sync process is killed at every named point of a batch and run
again; the platform (a real process, injecting faults) ends with exactly the registry's
licenses, versions and statuses — none missing, none twice. On PostgreSQL four sync workers
run at once and never push the same event twice (the platform's request log says so).

The kill is ``os._exit`` from inside the sync (``LICREG_SYNC_CRASH_AT=STEP:N``): no cleanup,
no rollback, no goodbye to the database or the platform, as with ``kill -9``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from registry.cli.sync import CRASH_EXIT, CRASH_VAR
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import License, OutboxEvent
from registry.license import lifecycle as lc
from registry.mockprovince.process import start_endpoint
from registry.province.client import ProvinceClient
from registry.province.reconcile import reconcile
from registry.province.syncstate import SyncRun
from registry.seal.pki import load_root_cert
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import seal_synthetic
from tests.support.province import AUTH, TOKENS, make_registry

pytestmark = pytest.mark.slow
FAULTS = ["error_rate=0.1", "partial_rate=0.15", "duplicate_ack_rate=0.2", "reset_rate=0.1",
          "rate_limit_rate=0.05", "retry_after=0.2", "seed=7"]  # fmt: skip


class Scene:
    """A registry with sealed licenses and the environment its commands run in."""

    def __init__(self, home: Path, db_url: str, n: int) -> None:
        self.settings: Settings = make_registry(home / "registry", db_url, n=n)
        self.engine = make_engine(db_url)
        self.anchors = home / "root.pem"
        self.anchors.write_bytes(load_root_cert(self.settings.keystore).public_bytes(Encoding.PEM))
        self.province = home / "province"
        self.env = {**os.environ, "LICREG_HOME": str(self.settings.home),
                    "LICREG_DATABASE_URL": db_url,
                    "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}  # fmt: skip
        self.env.pop(CRASH_VAR, None)

    def ids(self) -> list[str]:
        with Session(self.engine) as s:
            return list(s.scalars(select(License.identifier).where(License.status != "SUPERSEDED")
                                  .order_by(License.id)))  # fmt: skip

    def licreg(
        self, url: str, *args: str, crash: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "LICREG_PROVINCE_TOKEN": TOKENS["city"],
               **({CRASH_VAR: crash} if crash else {})}
        command = [sys.executable, "-m", "registry.cli", "sync", *args, "--endpoint", url,
                   "--access-id", "city", "--timeout", "3",
                   "--attempts", "8"]  # fmt: skip
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180,
                              check=False)  # fmt: skip

    def pending(self) -> int:
        with Session(self.engine) as s:
            return len(s.scalars(select(OutboxEvent.id).where(
                OutboxEvent.acked_at.is_(None))).all())  # fmt: skip

    def settle(self, url: str) -> None:
        """Run the sync until nothing is pending (faults may leave a few items per run)."""
        for _ in range(8):
            if not self.pending():
                return
            done = self.licreg(url, "run", "--batch-size", "7", "--concurrency", "2")
            assert done.returncode in (0, 1), done.stderr
        assert self.pending() == 0

    def platform_log(self) -> list[list[Any]]:
        """Every item the platform received: [ZZBS, version, eventSeq, operateType, result,
        code], in order."""
        engine = create_engine(f"sqlite:///{self.province / 'province.db'}")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT detail FROM request_log ORDER BY id")).scalars()
            found = [d for row in rows for d in (json.loads(row) if isinstance(row, str) else row)]
        engine.dispose()
        return found


@pytest.fixture
def scene(tmp_path: Path, db_url: str) -> Scene:
    return Scene(tmp_path, db_url, n=40)


def steps(scene: Scene, round_no: int) -> None:
    """New events between the kills: a status change, a change, a cancel, a renewal."""
    ids = scene.ids()
    at = NOW + dt.timedelta(hours=1 + round_no)
    with session_scope(scene.engine) as s:
        lc.suspend(s, ids[round_no], at=at, actor="t")
        lc.change(s, scene.settings, ids[10 + round_no], changes={"KZ_FDDBR": f"变更{round_no}"},
                  at=at, actor="t")  # fmt: skip
        lc.cancel(s, ids[20 + round_no], at=at, actor="t")
        lc.renew(s, scene.settings, ids[30 + round_no], valid_to="20460512", at=at, actor="t")
        if round_no:
            lc.unsuspend(s, ids[round_no - 1], at=at, actor="t")


def test_killed_at_every_point_then_run_again_leaves_exactly_the_registry(
    scene: Scene,
) -> None:
    with start_endpoint(home=scene.province, anchors_path=scene.anchors, tokens=TOKENS,
                        faults=FAULTS) as url:  # fmt: skip
        for round_no, point in enumerate(("claimed", "sent", "recording", "committed")):
            steps(scene, round_no)
            before = scene.pending()
            # small batches, so the second batch exists in every round (≥ 5 new events)
            killed = scene.licreg(url, "run", "--batch-size", "2", "--concurrency", "2",
                                  crash=f"{point}:2")  # fmt: skip
            assert killed.returncode == CRASH_EXIT, (before, killed.stdout, killed.stderr)
            assert f"ending the process at {point}" in killed.stderr
            assert 0 < scene.pending() <= before  # nothing lost, something left to do
            scene.settle(url)
        # the full sync, killed after its second page, resumes from its checkpoint
        killed = scene.licreg(url, "full", "--batch-size", "9", crash="committed:2")
        assert killed.returncode == CRASH_EXIT, killed.stderr
        resumed = scene.licreg(url, "full", "--batch-size", "9", "--json")
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        assert summary["resumed_from"] > 0 and summary["finished"]
        with httpx.Client(base_url=url, timeout=10) as http:
            client = ProvinceClient(http, access_id="city", access_token=TOKENS["city"],
                                    max_attempts=8)  # fmt: skip
            with Session(scene.engine) as s:
                report = reconcile(s, client, repair=False, at=NOW)
            stored = {lic.identifier: http.get(f"/api/v1/licenses/{lic.identifier}",
                                               headers=AUTH).json()
                      for lic in _licenses(scene)}  # fmt: skip
    assert report.in_sync, report.to_dict()
    licenses = _licenses(scene)
    # 40 issued + a change and a renewal (new versions) in each of the four rounds
    assert report.counts["registry"] == report.counts["platform"] == len(licenses) == 48
    for lic in licenses:
        assert (stored[lic.identifier]["version"], stored[lic.identifier]["status"]) == (
            lic.version, lic.status), lic.identifier  # fmt: skip
    # every event was applied at most once, however often it was sent
    log = scene.platform_log()
    applied = Counter((ident, seq) for ident, _v, seq, _op, result, _c in log
                      if result == "ACCEPTED" and seq is not None)  # fmt: skip
    assert applied and max(applied.values()) == 1
    resent = Counter((ident, seq) for ident, _v, seq, *_ in log if seq is not None)
    assert max(resent.values()) > 1  # the kills and faults did make it send some twice
    with Session(scene.engine) as s:
        assert s.scalars(select(OutboxEvent).where(OutboxEvent.dead_at.is_not(None))).all() == []
        states = Counter(s.scalars(select(SyncRun.state)))
    assert states["failed"] >= 5 and states["running"] == 0  # the killed runs, closed later


def _licenses(scene: Scene) -> list[License]:
    with Session(scene.engine) as s:
        found = list(s.scalars(select(License).order_by(License.id)))
        s.expunge_all()
        return found


def test_four_workers_on_postgres_never_push_the_same_event_twice(scene: Scene) -> None:
    if scene.engine.dialect.name != "postgresql":
        pytest.skip("several workers at once need row locks (PostgreSQL); SQLite runs one")
    seal_synthetic(scene.settings, 360, at=NOW, start=1000)
    with start_endpoint(home=scene.province, anchors_path=scene.anchors, tokens=TOKENS) as url:
        env = {**scene.env, "LICREG_PROVINCE_TOKEN": TOKENS["city"]}
        command = [sys.executable, "-m", "registry.cli", "sync", "run", "--endpoint", url,
                   "--access-id", "city", "--batch-size", "20",
                   "--concurrency", "1"]  # fmt: skip
        workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = [w.communicate(timeout=180) for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs
        stats = httpx.get(f"{url}/stats", timeout=10).json()
    with Session(scene.engine) as s:
        event_ids = set(s.scalars(select(OutboxEvent.id)))
        runs = [r.summary for r in s.scalars(select(SyncRun).where(SyncRun.kind == "incremental"))]
    assert scene.pending() == 0
    sent = Counter(seq for _i, _v, seq, *_ in scene.platform_log())
    assert set(sent) == event_ids and len(event_ids) == 400
    assert max(sent.values()) == 1  # no event pushed twice
    assert sum(1 for r in runs if r and r["sent"]) >= 2  # the workers really shared the work
    assert stats["licenses"] == 400
