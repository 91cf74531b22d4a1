"""Long commands draw a progress bar on stderr when it is a terminal, and never with ``--json``
or when stderr is not a terminal: the real ``licreg`` on a pseudo-terminal (python's ``pty``)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from registry.city.demo import MARKET
from registry.cli.terminal import columns
from registry.config import Settings
from registry.mockprovince.process import start_endpoint
from registry.seal.pki import load_root_cert
from tests.conftest import FIXTURES, PASSPHRASE
from tests.support.batches import BIZ
from tests.support.province import TOKENS, free_port, make_registry, token_file

pytestmark = pytest.mark.slow


def licreg(reg: Settings, *args: str, terminal: bool = True,
           width: int = 0) -> tuple[int, str, str]:
    """``licreg ARGS`` in a process of its own, stderr on a pseudo-terminal of ``width``
    columns (0: unset, COLUMNS says 100) or a pipe: (exit code, stdout, what stderr showed)."""
    env = {**os.environ, "LICREG_HOME": str(reg.home), "LICREG_DATABASE_URL": reg.database_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": "en", "COLUMNS": "100"}
    command = [sys.executable, "-m", "registry.cli", *args]
    with tempfile.TemporaryFile() as out:
        if not terminal:
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, timeout=300, check=False)
            out.seek(0)
            return done.returncode, out.read().decode(), done.stderr.decode()
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=follower,
                                stdin=subprocess.DEVNULL)
        os.close(follower)
        shown = bytearray()
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every writer of the terminal has gone
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        code = proc.wait(timeout=300)
        out.seek(0)
        return code, out.read().decode(), shown.decode()


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo world with a dozen sealed licenses, its trust anchor in root.pem."""
    settings = make_registry(tmp_path_factory.mktemp("progress") / "var", n=12)
    _anchors(settings).write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    return settings


@pytest.fixture(scope="module")
def endpoint(reg: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_endpoint(home=tmp_path_factory.mktemp("province"), anchors_path=_anchors(reg),
                        tokens=TOKENS) as url:
        yield url


def _bar(shown: str, label: str) -> bool:
    """Whether a finished bar labelled ``label`` was drawn: the label, then 100%."""
    return label in shown and "100%" in shown.split(label, 1)[1]


def test_checkpoint_render_verify_draw_a_bar_on_a_terminal_and_none_with_json(
        reg: Settings, tmp_path: Path) -> None:
    code, out, shown = licreg(reg, "log", "checkpoint")
    assert code == 0 and out.startswith("signed checkpoint #1: 12 leaves")
    assert _bar(shown, "signing a log checkpoint")
    code, out, shown = licreg(reg, "log", "checkpoint", "--json")
    assert code == 0 and json.loads(out)["created"] is False
    assert shown == ""

    code, out, shown = licreg(reg, "pdf", "render", "--workers", "0", "--limit", "6")
    assert code == 0 and out.startswith("rendered 6 PDFs")
    assert _bar(shown, "rendering PDFs")
    code, out, shown = licreg(reg, "pdf", "render", "--workers", "0", "--json")
    assert code == 0 and json.loads(out)["rendered"] == 6 and shown == ""

    code, out, shown = licreg(reg, "verify", "--registry", "--anchors", str(_anchors(reg)))
    assert code == 0, out
    assert _bar(shown, "verifying the registry")
    code, out, shown = licreg(reg, "verify", "--registry", "--anchors", str(_anchors(reg)),
                              "--json")
    assert code == 0 and len(json.loads(out)) == 12 and shown == ""
    ident = json.loads(out)[0]["identifier"]
    code, out, shown = licreg(reg, "verify", "--registry", "--anchors", str(_anchors(reg)),
                              terminal=False)
    assert code == 0 and shown == ""  # stderr a pipe: no bar, no label

    bundles = tmp_path / "bundles"
    assert licreg(reg, "export", ident, "--out", str(bundles / "one"))[0] == 0
    code, out, shown = licreg(reg, "verify", str(bundles), "--anchors", str(_anchors(reg)))
    assert code == 0 and _bar(shown, "verifying")
    code, out, shown = licreg(reg, "verify", str(bundles), "--anchors", str(_anchors(reg)),
                              "--json")
    assert code == 0 and json.loads(out)["indication"] == "PASSED" and shown == ""


def test_push_and_full_sync_draw_a_bar_on_a_terminal_and_none_with_json(
        reg: Settings, endpoint: str, tmp_path: Path) -> None:
    auth = ("--endpoint", endpoint, "--access-id", "city", "--token-file", token_file(tmp_path))
    code, out, shown = licreg(reg, "push", *auth, "--json")
    assert code == 0 and json.loads(out)["accepted"] == 12 and shown == ""
    code, out, shown = licreg(reg, "sync", "full", *auth, "--batch-size", "5")
    assert code == 0 and out.startswith("pushed 12: accepted 0, duplicates 12")
    assert _bar(shown, "full sync to the province")
    code, out, shown = licreg(reg, "sync", "full", *auth, "--restart", "--json")
    assert code == 0 and json.loads(out)["duplicates"] == 12 and shown == ""
    code, out, shown = licreg(reg, "sync", "run", *auth)
    assert code == 0 and out.startswith("sent 0:")
    assert "pushing to the province" in shown  # nothing pending: the bar opens and closes
    listed = json.loads(licreg(reg, "license", "list", "--json")[1])
    for lic in listed[:3]:
        assert licreg(reg, "license", "suspend", lic["identifier"], "--json")[0] == 0
    code, out, shown = licreg(reg, "push", *auth, "--batch-size", "1")
    assert code == 0 and out.startswith("sent 3: accepted 3")
    assert _bar(shown, "pushing to the province") and "33%" in shown  # one of three batches


def test_a_big_ingest_draws_its_bar_and_none_with_json(reg: Settings, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"  # over a mebibyte: the ingest's bar (its header fails at once)
    header = (FIXTURES / "batches" / "physicians.csv").read_text("utf-8").splitlines()[0]
    big.write_text(header + "\n" + ("x," * 40 + "\n") * 14_000, encoding="utf-8")
    assert big.stat().st_size > 1 << 20
    args = ("ingest", str(big), "--department", MARKET.uscc, "--type", BIZ)
    code, _out, shown = licreg(reg, *args)
    assert code == 1 and "ingesting big.csv" in shown
    code, out, shown = licreg(reg, *args, "--json")
    assert code == 1 and json.loads(out)["status"] == "failed" and shown == ""


def test_a_chinese_bar_fits_a_narrow_terminal(reg: Settings) -> None:
    """Click counts a Chinese character as one column; the bar is narrowed so the line fits
    (a line that wraps is redrawn below itself, a new line per update)."""
    nobody = f"http://127.0.0.1:{free_port()}"
    _code, _out, shown = licreg(reg, "--lang", "zh", "sync", "run", "--endpoint", nobody,
                                "--attempts", "1", width=50)
    assert "向省级平台推送  [" in shown
    frames = re.sub(r"\x1b\[\?25[lh]", "", shown).replace("\n", "\r").split("\r")
    bars = [f.rstrip() for f in frames if "[" in f and "%" in f]
    assert bars and all(columns(f) <= 50 for f in bars), bars


def _anchors(reg: Settings) -> Path:
    return reg.home / "root.pem"
