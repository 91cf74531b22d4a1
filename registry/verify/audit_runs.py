"""What each ``licreg verify --registry`` found, kept: totals and counts per department.

A registry audit (:func:`registry.verify.registry_audit.audit_registry`) returns one report
per license and per log finding, then is gone. The weekly bulletin ranks departments on
"the verification pass rate from the last audit run", so every audit run is recorded here:
its validation time, its totals, and per issuing department how many of its reports PASSED,
FAILED or were INDETERMINATE, and how many were about licenses no longer in force — history
(a version superseded by a new one, which verifies as valid when issued) or INDETERMINATE only
for the license's status (suspended, expired …: the status check's ``LICENSE_<STATUS>``
sub-indication) — which is no defect of the department's.

A report is attributed to the department whose USCC is the issuer part of its license
identifier (GB/T 36904: ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>``), so a
license whose row was deleted (RECORD_MISSING) still counts against its department. Findings
about the log as a whole name no license and count in the totals only.

Example::

    audit = audit_registry(engine, anchors=[root], at=now)
    run = record_audit_run(session, audit, at=now, recorded_at=now)
    run.passed, run.failed, run.indeterminate, run.not_in_force
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import ForeignKey, Integer, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db.models import Base, Department
from registry.license.codes import LICENSE_ROOT
from registry.verify.registry_audit import RegistryAudit
from registry.verify.report import Indication, VerificationReport

__all__ = ["NOT_IN_FORCE_PREFIX", "AuditRun", "AuditRunDepartment", "issuer_of", "record_audit_run"]

_PREFIX = LICENSE_ROOT + "."
NOT_IN_FORCE_PREFIX = "LICENSE_"
"""Sub-indications of the status check (registry.verify.core): the license is SUPERSEDED,
REVOKED, EXPIRED … (or NOT_ISSUED yet at the validation time) rather than defective."""


class AuditRun(Base):
    """One ``verify --registry`` run."""

    __tablename__ = "audit_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
    """The validation time the verdicts are for (``--at``, default the time of the run)."""
    recorded_at: Mapped[dt.datetime]
    """When the run finished and was recorded."""
    licenses: Mapped[int] = mapped_column(Integer)
    """License rows verified."""
    passed: Mapped[int] = mapped_column(Integer)
    """Reports PASSED (every report of the run: licenses, missing records, log findings)."""
    failed: Mapped[int] = mapped_column(Integer)
    indeterminate: Mapped[int] = mapped_column(Integer)
    """Reports neither PASSED nor FAILED here: INDETERMINATE ones and ``not_in_force``."""
    not_in_force: Mapped[int] = mapped_column(Integer)
    """Of ``indeterminate``, the reports on licenses no longer (or not yet) in force: history
    (superseded versions that verify, PASSED as valid when issued, counted here rather than
    as passes) and INDETERMINATE LICENSE_<STATUS> ones."""


class AuditRunDepartment(Base):
    """One department's share of an audit run: its licenses' verdicts."""

    __tablename__ = "audit_run_departments"
    run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    indeterminate: Mapped[int] = mapped_column(Integer)
    not_in_force: Mapped[int] = mapped_column(Integer)
    """Of the INDETERMINATE, those only because the license is not in force."""


def issuer_of(identifier: str | None) -> str | None:
    """The issuing department's USCC in a license identifier, or None when it is not one.

    A plain split, not :func:`registry.license.codes.parse_license_identifier`: the verdict already
    says whether the identifier is sound, and an audit of 100,000 licenses should not pay
    for 100,000 check-character computations to count them.
    """
    if not identifier or not identifier.startswith(_PREFIX):
        return None
    parts = identifier[len(_PREFIX):].split(".")
    return parts[1] if len(parts) == 5 and len(parts[1]) == 18 else None


def _verdict(report: VerificationReport) -> str:
    """The report's indication, or ``not_in_force`` for history (a superseded version that
    verifies) and for an INDETERMINATE one that is only about the license's status."""
    if report.history or (report.indication is Indication.INDETERMINATE and (
            report.sub_indication or "").startswith(NOT_IN_FORCE_PREFIX)):
        return "not_in_force"
    return str(report.indication)


def _tally(reports: Iterable[VerificationReport]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Verdicts over all reports, and per issuer USCC."""
    total: Counter[str] = Counter()
    per_issuer: dict[str, Counter[str]] = {}
    for report in reports:
        verdict = _verdict(report)
        total[verdict] += 1
        issuer = issuer_of(report.identifier or report.subject)
        if issuer is not None:
            per_issuer.setdefault(issuer, Counter())[verdict] += 1
    return total, per_issuer


def _counts(tally: Counter[str]) -> dict[str, int]:
    """Column values: ``indeterminate`` includes the ``not_in_force`` reports."""
    return {"passed": tally[Indication.PASSED.value], "failed": tally[Indication.FAILED.value],
            "indeterminate": tally[Indication.INDETERMINATE.value] + tally["not_in_force"],
            "not_in_force": tally["not_in_force"]}


def record_audit_run(session: Session, audit: RegistryAudit, *, at: dt.datetime,
                     recorded_at: dt.datetime) -> AuditRun:
    """Record ``audit`` (validated at ``at``) in the caller's transaction.

    Issuers that are no department of this registry (a license forged with a foreign
    issuer code) count in the totals only.
    """
    if at.tzinfo is None or recorded_at.tzinfo is None:
        raise ValueError("audit run times must be aware datetimes")
    total, per_issuer = _tally(audit.reports)
    run = AuditRun(at=at, recorded_at=recorded_at, licenses=audit.licenses, **_counts(total))
    session.add(run)
    session.flush()
    departments: dict[str, int] = {uscc: dept_id for uscc, dept_id in session.execute(
        select(Department.uscc, Department.id).where(Department.uscc.in_(list(per_issuer))))}
    rows = [{"run_id": run.id, "department_id": departments[uscc], **_counts(counts)}
            for uscc, counts in sorted(per_issuer.items()) if uscc in departments]
    if rows:
        session.execute(insert(AuditRunDepartment), rows)
    return run
