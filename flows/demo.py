"""The demo: `make demo` runs this.

It sets up the demo world under LICREG_HOME (default ./var), starts the mock provincial endpoint
in its own process, runs the ingest flow on the department files in fixtures/batches/, renders
and signs the PDF licenses, signs a transparency-log checkpoint, runs the push flow, then
verifies as an auditor would: exported bundles, a PDF on its own, a tampered copy, and the whole
registry. It stops the endpoint and prints what happened. Run it again: nothing is ingested,
rendered or pushed twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import Encoding
from prefect import flow

from flows.ingest import ingest_and_seal
from flows.render import render_pdfs
from flows.sync import incremental_sync
from registry.city.demo import HEALTH, MARKET, create_demo_world, init_registry
from registry.clock import utc_now
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN, Settings
from registry.db import session_scope, shared_engine
from registry.license.queries import list_licenses
from registry.mockprovince.process import start_endpoint
from registry.seal.pki import load_root_cert
from registry.tlog.checkpoint import sign_checkpoint
from registry.verify.bundle import load_anchors, verify_bundle
from registry.verify.export import export_bundle
from registry.verify.pdf import verify_pdf
from registry.verify.registry_audit import audit_registry

__all__ = ["demo", "say"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "batches"
DEMO_BATCHES = (
    ("business-licenses.csv", MARKET.uscc, "11100000MB0143028R001"),
    ("business-licenses-gbk.csv", MARKET.uscc, "11100000MB0143028R001"),
    ("food-permits.csv", MARKET.uscc, "11100000MB0143028R002"),
    ("physicians.csv", HEALTH.uscc, "11100000MB15645531001"),
)


def say(text: str = "") -> None:
    print(text, flush=True)


@flow(name="demo")
def demo() -> None:
    started = time.perf_counter()
    settings = Settings.from_env()
    engine = shared_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as session:
        created = create_demo_world(session, settings, now=utc_now())
    say(f"== registry in {settings.home}")
    for line in created or ["demo world already present"]:
        say(f"   {line}")
    anchors = settings.home / "root.pem"
    anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))

    say("== ingest department batches (flow ingest-and-seal)")
    for name, dept, type_code in DEMO_BATCHES:
        r = asyncio.run(ingest_and_seal(str(FIXTURES / name), dept, type_code, uploader="demo"))
        again = "  (same bytes as before: nothing new)" if r["already_ingested"] else ""
        say(f"   {name:<26} rows {r['rows_read']:>3}: accepted {r['accepted']:>3} "
            f"({r['issued']:>2} new or changed), filtered {r['filtered']}, "
            f"rejected {r['rejected']}{again}")
    rendered = render_pdfs()
    say(f"== PDF licenses rendered and signed (flow render-pdfs): {rendered['rendered']}")
    with session_scope(engine) as session:
        checkpoint, made = sign_checkpoint(session, keystore=settings.keystore,
                                           passphrase=settings.require_passphrase(), now=utc_now())
    say(f"== transparency log checkpoint: {checkpoint.tree_size} leaves, root "
        f"{checkpoint.root_hash.hex()[:16]}…{'' if made else ' (unchanged)'}")

    with start_endpoint(home=settings.province_home, anchors_path=anchors,
                        tokens={DEFAULT_ACCESS_ID: DEFAULT_TOKEN}) as url:
        say(f"== push to the mock provincial endpoint at {url} (flow incremental-sync)")
        os.environ["LICREG_PROVINCE_URL"] = url
        totals = incremental_sync()
        say(f"   sent {totals['sent']}: accepted {totals['accepted']}, duplicates "
            f"{totals['duplicates']}, rejected {totals['rejected']}")
        stats = httpx.get(f"{url}/stats", timeout=10).json()
        say(f"   the province holds {stats['licenses']} license versions: "
            f"{json.dumps(stats.get('by_status', {}), ensure_ascii=False)}")

    say("== auditor: verify offline against the test root")
    out = settings.home / "demo-exports"
    shutil.rmtree(out, ignore_errors=True)
    trusted = load_anchors(anchors)
    now = utc_now()
    with session_scope(engine) as session:
        sample = [r["identifier"] for r in list_licenses(session, limit=2)]
        for ident in sample:
            export_bundle(session, ident, out / ident, settings=settings, at=now)
    for ident in sample:
        files = ", ".join(sorted(p.name for p in (out / ident).iterdir()))
        say(f"   {verify_bundle(out / ident, anchors=trusted, at=now).indication:<8} "
            f"bundle {ident[-24:]} ({files})")
    pdf = out / sample[0] / "license.pdf"
    say(f"   {verify_pdf(pdf, anchors=trusted, at=now).indication:<8} {pdf.name} on its own")
    tampered = out / "tampered"
    shutil.copytree(out / sample[0], tampered)
    record = json.loads((tampered / "license.json").read_bytes())
    record["CZZT"] = record["CZZT"] + "（改）"
    (tampered / "license.json").write_bytes(
        json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())
    report = verify_bundle(tampered, anchors=trusted, at=now)
    say(f"   {report.indication} {report.sub_indication}  (a copy with 持证主体 edited)")
    audit = audit_registry(engine, anchors=trusted, at=now, crls=())
    verdicts = Counter(f"{r.indication}" + (f" {r.sub_indication}" if r.sub_indication else "")
                       for r in audit.reports)
    say(f"   whole registry: {audit.licenses} licenses, log {audit.log_size} leaves: "
        + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
    say(f"== done in {time.perf_counter() - started:.1f} s; bundles in {out}")


if __name__ == "__main__":
    demo()
