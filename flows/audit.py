"""Flow: the registry audit (``licreg verify --registry``), daily and on demand.

One task runs :func:`registry.verify.registry_audit.audit_registry` (every license verified,
the database reconciled with the transparency log) against the trust anchors in ``anchors``
(a PEM file; default the key store's root) and the key store's CRLs, and records the run
(:func:`registry.verify.audit_runs.record_audit_run`: the weekly bulletin ranks departments on
the last one). The flow publishes a markdown artifact (key ``registry-audit``) with the counts
and the first reports that did not pass, and ends:

- **Completed** when every report PASSED;
- **Failed** when any report FAILED: something is wrong with a license, a seal or the log;
- **Completed**, named ``Indeterminate``, when none failed but some are INDETERMINATE. Such a
  verdict says the audit could not decide, not that it found a defect, and most often it is
  transient or expected: leaves written since the last checkpoint (``LOG_NOT_CHECKPOINTED``,
  gone after the next ``checkpoint`` run) or licenses no longer in force. A Failed run every
  day for those would teach operators to ignore Failed. The state's name and message still
  set it apart in the UI (filter on the name), and the artifact lists the codes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from prefect import State, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from flows.outcome import failed
from registry.clock import china_text, utc_now
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.i18n import _
from registry.seal.crl import load_crls
from registry.seal.pki import load_root_cert
from registry.verify.audit_runs import record_audit_run
from registry.verify.bundle import load_anchors
from registry.verify.registry_audit import audit_registry
from registry.verify.report import Indication, indication_text, overall

__all__ = ["ARTIFACT_KEY", "INDETERMINATE_STATE", "PROBLEMS_SHOWN", "audit_task",
           "registry_audit"]

ARTIFACT_KEY = "registry-audit"
"""Every run publishes a new version of this artifact."""
INDETERMINATE_STATE = "Indeterminate"
"""The name of a Completed run whose audit was INDETERMINATE."""
PROBLEMS_SHOWN = 20
"""Reports that did not pass listed in the artifact (``licreg verify --registry`` has all)."""


@task(name="audit-registry", cache_policy=NO_CACHE)
def audit_task(anchors: str | None, workers: int | None) -> dict[str, Any]:
    """Audit the registry now, record the run; the verdict, counts and first problems."""
    settings = Settings.from_env()
    engine = shared_engine(settings.database_url)
    trusted = load_anchors(Path(anchors)) if anchors else [load_root_cert(settings.keystore)]
    at = utc_now()
    audit = audit_registry(engine, anchors=trusted, at=at, crls=load_crls(settings.keystore),
                           workers=workers)
    with session_scope(engine) as session:
        run_id = record_audit_run(session, audit, at=at, recorded_at=utc_now()).id
    counts = Counter(str(r.indication) for r in audit.reports)
    problems = [r for r in audit.reports if r.indication is not Indication.PASSED]
    verdict = overall(counts)
    return {
        "verdict": str(verdict), "at": at.isoformat(), "audit_run": run_id,
        "reports": len(audit.reports), "licenses": audit.licenses,
        "passed": counts[Indication.PASSED], "failed": counts[Indication.FAILED],
        "indeterminate": counts[Indication.INDETERMINATE], "log_size": audit.log_size,
        "log_pending": audit.log_pending, "checkpoints": audit.checkpoints,
        "valid_checkpoints": audit.valid_checkpoints,
        "codes": dict(Counter(f"{r.indication} {r.sub_indication}" for r in problems)),
        "problems": [{"subject": r.subject, "verdict": r.headline(),
                      "reason": r.reasons[0] if r.reasons else ""}
                     for r in problems[:PROBLEMS_SHOWN]],
    }


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _markdown(result: dict[str, Any], headline: str) -> str:
    lines = [f"# {headline}", "",
             _("Validation time {at}; {licenses} licenses; log: {size} leaves in checkpoints, "
               "{pending} pending; {checkpoints} checkpoints ({valid} valid); audit run {run}.",
               at=china_text(dt.datetime.fromisoformat(result["at"]), seconds=True),
               licenses=result["licenses"],
               size=result["log_size"], pending=result["log_pending"],
               checkpoints=result["checkpoints"], valid=result["valid_checkpoints"],
               run=result["audit_run"]), "",
             _row(_("verdict"), _("reports")), "|---|---:|"]
    lines += [_row(indication_text(i), result[i.lower()]) for i in Indication]
    if result["codes"]:
        lines += ["", _row(_("code"), _("reports")), "|---|---:|"]
        lines += [_row(code, n) for code, n in result["codes"].items()]
    if result["problems"]:
        lines += ["", _("The first {n} reports that did not pass (all of them: `licreg verify "
                        "--registry`):", n=len(result["problems"])), "",
                  _row(_("subject"), _("verdict"), _("reason")), "|---|---|---|"]
        lines += [_row(p["subject"], p["verdict"], p["reason"]) for p in result["problems"]]
    return "\n".join(lines) + "\n"


@flow(name="registry-audit")
def registry_audit(anchors: str | None = None,
                   workers: int | None = None) -> dict[str, Any] | State[Any]:
    """Audit the whole registry against ``anchors`` (a PEM file; default the key store's
    root); Failed when any report FAILED, Completed named Indeterminate when some were
    INDETERMINATE and none failed (see the module docstring)."""
    result = audit_task(anchors, workers)
    verdict = result["verdict"]
    codes = _(", ").join(f"{code} {n}" for code, n in result["codes"].items())
    headline = _("registry audit {verdict}: {k} of {n} reports ({codes})",
                 verdict=indication_text(verdict), k=result[verdict.lower()],
                 n=result["reports"], codes=codes) if codes else _(
        "registry audit {verdict}: {n} reports", verdict=indication_text(verdict),
        n=result["reports"])
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=_markdown(result, headline),
                             description=headline)
    if verdict == Indication.FAILED:
        return failed(headline, result)
    if verdict == Indication.INDETERMINATE:
        return Completed(name=INDETERMINATE_STATE, message=headline, data=result)
    return result
