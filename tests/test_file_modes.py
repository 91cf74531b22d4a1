"""Everything licreg writes under LICREG_HOME is its owner's alone, whatever the umask.

The commands run as an operator runs them (``python -m registry.cli`` processes, real files)
started with umask 000; then every folder and file under LICREG_HOME is checked for group and
other bits, and the trust anchor for write bits.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, PASSPHRASE
from tests.support.province import serve_endpoint

pytestmark = pytest.mark.slow
MARKET = "11330100MB1703218R"
BIZ, FOOD = "11100000MB0143028R001", "11100000MB0143028R002"


@pytest.fixture
def umask_000() -> Iterator[None]:
    """This process, and so every process it starts, creates files with umask 000."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def licreg(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "registry.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _modes(home: Path) -> dict[str, int]:
    return {p.relative_to(home.parent).as_posix(): stat.S_IMODE(p.lstat().st_mode)
            for p in [home, *home.rglob("*")]}


def test_every_file_and_folder_is_private_under_umask_000(
        umask_000: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "var"
    env = {"LICREG_HOME": str(home), "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(),
           "LICREG_LANG": "en"}
    monkeypatch.delenv("LICREG_DATABASE_URL", raising=False)  # $LICREG_HOME/registry.db
    licreg(env, "init")
    licreg(env, "pki", "init")
    licreg(env, "init", "--demo")
    report = json.loads(licreg(env, "ingest", str(FIXTURES / "batches" / "business-licenses.csv"),
                               "--department", MARKET, "--type", BIZ, "--json"))
    ident = next(r["identifier"] for r in report["rows"] if r["outcome"] == "accepted")
    licreg(env, "inbox", "prepare")
    shutil.copy(FIXTURES / "batches" / "food-permits.csv", home / "inbox" / MARKET / FOOD)
    licreg(env, "inbox", "run", "--settle", "0")
    licreg(env, "log", "checkpoint")
    licreg(env, "pdf", "render")
    licreg(env, "export", ident, "--out", str(home / "exports" / "bundle"))
    licreg(env, "bulletin")
    with serve_endpoint(env) as url:
        licreg(env, "push", "--endpoint", url)

    # A registry in use has its -wal and -shm files: SQLite gives them the database's mode.
    with sqlite3.connect(home / "registry.db") as conn:
        conn.execute("CREATE TABLE held_open (x)")
        modes = _modes(home)
    conn.close()
    assert {"var/registry.db-wal", "var/registry.db-shm", "var/province/province.db",
            "var/keystore/root.key.pem", "var/keystore/log.key.pem",
            "var/exports/bundle/license.pdf", "var/archive"} <= set(modes)
    for folder in ("var/inbox", "var/archive", "var/files", "var/province", "var/bulletins"):
        assert any(p.startswith(folder + "/") for p in modes), folder  # something was made
    open_to_others = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert open_to_others == {}
    assert modes["var"] == 0o700
    assert modes["var/registry.db"] == 0o600
    assert modes["var/keystore/root.pem"] == 0o400  # the trust anchor: nobody may write it
    assert {m for p, m in modes.items() if p.endswith(".key.pem")} == {0o600}
