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
import unicodedata
from collections import Counter
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import Encoding
from prefect import flow

from flows.ingest import ingest_and_seal
from flows.outcome import settled, summary
from flows.render import render_pdfs
from flows.sync import incremental_sync
from registry.city.demo import HEALTH, MARKET, create_demo_world, init_registry
from registry.clock import utc_now
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.i18n import N_, _, set_language
from registry.license.lifecycle import status_text
from registry.license.queries import list_licenses
from registry.mockprovince.process import city_credential, start_endpoint
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


_INDICATIONS = {"PASSED": N_("PASSED"), "FAILED": N_("FAILED"),
                "INDETERMINATE": N_("INDETERMINATE")}
"""A verdict as the demo's reader reads it (the code itself in English)."""


def say(text: str = "") -> None:
    print(text, flush=True)


def _padded(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - used, 0)


def _verdict(indication: str, width: int = 8) -> str:
    return _padded(_(_INDICATIONS[indication]) if indication in _INDICATIONS else indication,
                   width)


@flow(name="demo")
def demo() -> None:
    started = time.perf_counter()
    settings = Settings.from_env()
    set_language(settings.lang)
    engine = shared_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as session:
        created = create_demo_world(session, settings, now=utc_now())
    say(_("== registry in {home}", home=settings.home))
    for line in created or [_("demo world already present")]:
        say(f"   {line}")
    anchors = settings.home / "root.pem"
    anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))

    say(_("== ingest department batches (flow ingest-and-seal)"))
    for name, dept, type_code in DEMO_BATCHES:
        r = asyncio.run(settled(ingest_and_seal(str(FIXTURES / name), dept, type_code,
                                                uploader="demo", return_state=True)))
        again = _("  (same bytes as before: nothing new)") if r["already_ingested"] else ""
        say(_("   {file} rows {rows}: accepted {accepted} ({issued} new or changed), filtered "
              "{filtered}, rejected {rejected}{again}", file=format(name, "<26"),
              rows=format(r["rows_read"], ">3"), accepted=format(r["accepted"], ">3"),
              issued=format(r["issued"], ">2"), filtered=r["filtered"], rejected=r["rejected"],
              again=again))
    rendering = render_pdfs(return_state=True)
    rendered = summary(rendering)
    say(_("== PDF licenses rendered and signed (flow render-pdfs): {n}", n=rendered["rendered"]))
    if rendering.is_failed():
        say(rendering.message or "")
    with session_scope(engine) as session:
        checkpoint, made = sign_checkpoint(session, keystore=settings.keystore,
                                           passphrase=settings.require_passphrase(), now=utc_now())
    root = checkpoint.root_hash.hex()[:16]
    if made:
        say(_("== transparency log checkpoint: {n} leaves, root {root}…", n=checkpoint.tree_size,
              root=root))
    else:
        say(_("== transparency log checkpoint: {n} leaves, root {root}… (unchanged)",
              n=checkpoint.tree_size, root=root))

    with start_endpoint(home=settings.province_home, anchors_path=anchors,
                        credentials=[city_credential(settings)]) as url:
        say(_("== push to the mock provincial endpoint at {url} (flow incremental-sync)",
              url=url))
        os.environ["LICREG_PROVINCE_URL"] = url
        totals = summary(incremental_sync(return_state=True))
        say(_("   sent {sent}: accepted {accepted}, duplicates {duplicates}, rejected {rejected}",
              sent=totals["sent"], accepted=totals["accepted"],
              duplicates=totals["duplicates"], rejected=totals["rejected"]))
        stats = httpx.get(f"{url}/stats", timeout=10).json()
        held = _(", ").join(f"{status_text(k)} {n}"
                            for k, n in sorted(stats.get("by_status", {}).items()))
        say(_("   the province holds {n} license versions: {statuses}", n=stats["licenses"],
              statuses=held))

    say(_("== auditor: verify offline against the test root"))
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
        verdict = _verdict(verify_bundle(out / ident, anchors=trusted, at=now).indication)
        say(_("   {verdict} bundle {identifier} ({files})", verdict=verdict,
              identifier=ident[-24:], files=files))
    pdf = out / sample[0] / "license.pdf"
    say(_("   {verdict} {file} on its own",
          verdict=_verdict(verify_pdf(pdf, anchors=trusted, at=now).indication), file=pdf.name))
    tampered = out / "tampered"
    shutil.copytree(out / sample[0], tampered)
    record = json.loads((tampered / "license.json").read_bytes())
    record["CZZT"] = record["CZZT"] + "（改）"
    (tampered / "license.json").write_bytes(
        json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())
    report = verify_bundle(tampered, anchors=trusted, at=now)
    say(_("   {verdict} {code}  (a copy with 持证主体 edited)",
          verdict=_verdict(report.indication, 0), code=report.sub_indication))
    audit = audit_registry(engine, anchors=trusted, at=now, crls=())
    verdicts = Counter((r.indication, r.sub_indication or "") for r in audit.reports)
    found = _(", ").join(f"{n} {_verdict(v, 0)}" + (f" {sub}" if sub else "")
                         for (v, sub), n in sorted(verdicts.items()))
    say(_("   whole registry: {n} licenses, log {leaves} leaves: {verdicts}", n=audit.licenses,
          leaves=audit.log_size, verdicts=found))
    say(_("== done in {seconds} s; bundles in {folder}",
          seconds=format(time.perf_counter() - started, ".1f"), folder=out))


if __name__ == "__main__":
    demo()
