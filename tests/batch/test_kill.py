"""``kill -9`` at every stage of a license's way: real ``licreg`` processes are sent SIGKILL
while reading, sealing and committing an ingest (worker processes busy), while rendering PDFs
and while pushing; after each kill no licreg process is left, and the same command run again
succeeds at once (no lease to wait out) with nothing lost and nothing twice.

The kill is ``LICREG_KILL_AT=STEP:N`` (registry.batch.pool.kill_point: SIGKILL to itself) and,
for the push, the sync's own hook (``LICREG_SYNC_CRASH_AT``, ``os._exit``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from registry.batch.pool import KILL_VAR
from registry.city.demo import MARKET
from registry.cli.sync import CRASH_EXIT, CRASH_VAR
from registry.db import make_engine, session_scope
from registry.db.models import Batch, License, OutboxEvent, SourceRow
from registry.mockprovince.process import start_endpoint
from registry.render.models import PdfRendition
from registry.seal.pki import load_root_cert
from tests.conftest import PASSPHRASE
from tests.support.batches import BIZ, row, write_csv
from tests.support.province import TOKENS, make_registry

pytestmark = pytest.mark.slow
ROWS = 10_001  # three chunks of 5,000: sealed by worker processes


def _ours(home: Path) -> list[int]:
    """Processes (other than this one) whose environment names this registry's home."""
    marker = f"LICREG_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
                    if state != "Z":
                        found.append(int(proc.name))
            except OSError:  # gone, or not ours
                continue
    return found


def _none_left(home: Path) -> None:
    deadline = time.monotonic() + 15  # the fork server notices its parent's death, then each
    while _ours(home) and time.monotonic() < deadline:  # worker gets SIGKILL from the kernel
        time.sleep(0.1)
    assert _ours(home) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG")
def test_killed_at_every_stage_then_run_again_leaves_everything_once(
        tmp_path: Path, db_url: str) -> None:
    settings = make_registry(tmp_path / "registry", db_url)
    home = settings.home
    env = {**os.environ, "LICREG_HOME": str(home), "LICREG_DATABASE_URL": db_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": "en"}
    env.pop(KILL_VAR, None)
    env.pop(CRASH_VAR, None)
    f = write_csv(tmp_path / "big.csv", *(row(n) for n in range(1, ROWS + 1)))

    def licreg(*args: str, kill: str | None = None,
               crash: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {**({KILL_VAR: kill} if kill else {}), **({CRASH_VAR: crash} if crash else {})}
        return subprocess.run([sys.executable, "-m", "registry.cli", *args],
                              env={**env, **extra}, capture_output=True, text=True,
                              timeout=300, check=False)

    ingest = ("ingest", str(f), "--department", MARKET.uscc, "--type", BIZ, "--json")
    for point in ("reading:2", "sealing:2", "committing:1"):
        killed = licreg(*ingest, kill=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        _none_left(home)
    done = licreg(*ingest)
    assert done.returncode == 0, done.stderr[-2000:]
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        (batch,) = s.scalars(select(Batch)).all()  # one batch, resumed by every run
        assert (batch.status, batch.rows_read, batch.accepted) == ("done", ROWS, ROWS)
        assert batch.leased_by is None
        assert s.scalar(select(func.count()).select_from(SourceRow)) == ROWS
        numbers = s.scalars(select(License.number)).all()
        assert len(numbers) == len(set(numbers)) == ROWS
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == ROWS

    killed = licreg("pdf", "render", "--limit", "600", "--workers", "2", kill="rendering:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    _none_left(home)
    again = licreg("pdf", "render", "--limit", "600", "--workers", "2")
    assert again.returncode == 0, again.stderr[-2000:]
    with session_scope(engine) as s:
        recorded = set(s.scalars(select(PdfRendition.path)))
        rendered = s.scalar(select(func.count()).select_from(PdfRendition))
    on_disk = {str(p.relative_to(settings.files)) for p in (settings.files / "pdf").rglob("*")
               if p.is_file()}
    assert rendered == len(recorded) >= 600 and on_disk == recorded  # no stray signed file

    anchors = tmp_path / "root.pem"
    anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    with start_endpoint(home=tmp_path / "province", anchors_path=anchors,
                        tokens=TOKENS) as url:
        push = ("sync", "run", "--endpoint", url, "--access-id", "city", "--batch-size", "500")
        env["LICREG_PROVINCE_TOKEN"] = TOKENS["city"]
        crashed = licreg(*push, crash="sent:2")
        assert crashed.returncode == CRASH_EXIT, crashed.stderr[-2000:]
        _none_left(home)
        pushed = licreg(*push)
        assert pushed.returncode == 0, pushed.stderr[-2000:]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent)
                        .where(OutboxEvent.acked_at.is_(None))) == 0
    engine.dispose()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG")
def test_sigterm_ends_the_batch_interrupted_and_the_rerun_resumes_it(
        tmp_path: Path, db_url: str) -> None:
    settings = make_registry(tmp_path / "registry", db_url)
    env = {**os.environ, "LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": db_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": "en"}
    env.pop(CRASH_VAR, None)
    f = write_csv(tmp_path / "big.csv", *(row(n) for n in range(1, ROWS + 1)))
    ingest = [sys.executable, "-m", "registry.cli", "ingest", str(f), "--department",
              MARKET.uscc, "--type", BIZ, "--json"]
    stopped = subprocess.run(ingest, env={**env, KILL_VAR: "committing:1:TERM"},
                             capture_output=True, text=True, timeout=300, check=False)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr
    _none_left(settings.home)
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        (batch,) = s.scalars(select(Batch)).all()
        assert batch.status == "failed" and batch.leased_by is None  # never left running
        assert batch.error.startswith("interrupted (SystemExit)")
        numbers = s.scalars(select(License.number)).all()
    assert len(numbers) == len(set(numbers)) <= ROWS  # what the workers had stored, once
    env.pop(KILL_VAR, None)
    done = subprocess.run(ingest, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    with session_scope(engine) as s:
        (batch,) = s.scalars(select(Batch)).all()
        assert (batch.status, batch.rows_read, batch.accepted) == ("done", ROWS, ROWS)
        assert s.scalar(select(func.count()).select_from(License)) == ROWS
    engine.dispose()
