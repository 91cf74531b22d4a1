"""What ``licreg verify PATH…`` accepts: export bundles, PDFs, and folders of either.

Each path becomes one report per item, in the order given (a folder's items in name order):

- a folder holding ``license.json`` is a bundle (:func:`registry.verify.bundle.verify_bundle`);
  a ``license.pdf`` next to it must be the rendition of the same license;
- a ``*.pdf`` file is verified by :func:`registry.verify.pdf.verify_pdf` when that module is
  installed, else reported as FORMAT_FAILURE "PDF verification not available";
- any other folder is searched (recursively) for bundles and PDFs.

Across the bundles of one run, two valid checkpoints of one log and size with different roots
are reported as LOG_FORK: the log showed the auditor two histories.

Example::

    reports = verify_paths([Path("bundles/")], anchors=load_anchors(Path("root.pem")), at=now)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from cryptography import x509

from registry.errors import VerificationError
from registry.i18n import _
from registry.tlog.checkpoint import Checkpoint, CheckpointChecker
from registry.tlog.proof import parse_proof
from registry.verify.bundle import PROOF_FILE, verify_bundle
from registry.verify.core import Verifier
from registry.verify.pdf import verify_pdf
from registry.verify.report import (
    HASH_FAILURE,
    LOG_FORK,
    CheckResult,
    CheckStatus,
    Indication,
    VerificationReport,
)

__all__ = ["PDF_NAME", "pdf_verifier", "verify_paths"]

PDF_NAME = "license.pdf"
"""A bundle's signed PDF rendition, when it has one."""

PdfVerify = Callable[..., VerificationReport]


def pdf_verifier() -> PdfVerify | None:
    """How PDFs are verified (:func:`registry.verify.pdf.verify_pdf`); None verifies none
    (tests replace it to follow the bundle checks alone)."""
    return verify_pdf


def _items(path: Path) -> Iterator[tuple[str, Path]]:
    """("bundle" | "pdf" | "other", path) for everything under ``path``, in name order."""
    if path.is_dir():
        if (path / "license.json").exists():
            yield "bundle", path
            return
        for child in sorted(path.iterdir()):
            if child.is_dir() or child.suffix.lower() == ".pdf":
                yield from _items(child)
        return
    if path.suffix.lower() == ".pdf":
        yield "pdf", path
    else:
        yield "other", path


def _pdf_report(path: Path, verify_pdf: PdfVerify | None, *,
                anchors: Sequence[x509.Certificate], at: dt.datetime) -> VerificationReport:
    if verify_pdf is None:
        return VerificationReport.format_failure(
            subject=str(path), detail=_("PDF verification not available"), validation_time=at)
    return verify_pdf(path, anchors=anchors, at=at)


def _with_rendition(report: VerificationReport, pdf: VerificationReport) -> VerificationReport:
    """Fold a bundle's ``license.pdf`` into its integrity check: it must be a good rendition
    of the same license."""
    integrity = report.check("integrity")
    problem = None
    if pdf.indication is Indication.FAILED and pdf.identifier in (None, report.identifier):
        # A damaged PDF (truncated, changed, unreadable) names no license or this one: its
        # own defect is the reason, exactly as when it is verified alone.
        problem = CheckResult(
            "integrity", CheckStatus.INVALID, pdf.sub_indication or HASH_FAILURE,
            _("{file}: {reasons}", file=PDF_NAME, reasons=_("; ").join(pdf.reasons)))
    elif pdf.identifier != report.identifier:
        problem = CheckResult(
            "integrity", CheckStatus.INVALID, HASH_FAILURE,
            _("{file} is the rendition of {other}, not of {identifier}: a PDF from another "
              "license was put in the bundle", file=PDF_NAME,
              other=pdf.identifier or _("an unreadable license"), identifier=report.identifier))
    if problem is None or integrity.status is CheckStatus.INVALID:
        return report
    return VerificationReport.from_checks(
        subject=report.subject,
        identifier=report.identifier,
        validation_time=report.validation_time,
        checks=[problem if c.name == "integrity" else c for c in report.checks],
    )


def _forks(bundles: Sequence[Path], checker: CheckpointChecker,
           at: dt.datetime) -> list[VerificationReport]:
    seen: dict[tuple[str, int], dict[bytes, tuple[Checkpoint, Path]]] = {}
    for bundle in bundles:
        proof_path = bundle / PROOF_FILE
        if not proof_path.exists():
            continue
        try:
            cp = parse_proof(proof_path.read_bytes()).checkpoint
            checker.check(cp)
        except (OSError, VerificationError):
            continue  # that bundle's own report says what is wrong with it
        seen.setdefault((cp.origin, cp.tree_size), {}).setdefault(cp.root_hash, (cp, bundle))
    reports = []
    for (origin, size), roots in sorted(seen.items()):
        if len(roots) > 1:
            where = [str(bundle) for _cp, bundle in roots.values()]
            reports.append(VerificationReport.finding(
                subject=_("log checkpoints of size {size} in {bundles}", size=size,
                          bundles=_(" and ").join(where)),
                check="log_inclusion",
                status=CheckStatus.INVALID,
                reason=LOG_FORK,
                detail=_("{origin} signed {n} different roots for size {size} ({roots}…): the "
                         "log presented different histories", origin=origin, n=len(roots),
                         size=size, roots=", ".join(r.hex()[:16] for r in roots)),
                validation_time=at,
            ))
    return reports


def verify_paths(
    paths: Sequence[Path],
    *,
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
    progress: Callable[[int, int], None] | None = None,
) -> list[VerificationReport]:
    """One report per bundle or PDF found under ``paths``, then any fork between bundles;
    ``progress(done, total)`` is told after each item."""
    found_in = {path: list(_items(path)) for path in paths}  # walked once, counted for progress
    total = sum(map(len, found_in.values()))
    verifier = Verifier(anchors=anchors, at=at, crls=crls)
    checker = CheckpointChecker(anchors)
    verify_pdf = pdf_verifier()
    reports: list[VerificationReport] = []
    bundles: list[Path] = []
    for path, items in found_in.items():
        for kind, item in items:
            if kind == "pdf":
                reports.append(_pdf_report(item, verify_pdf, anchors=anchors, at=at))
            elif kind == "bundle":
                bundles.append(item)
                report = verify_bundle(item, anchors=anchors, at=at, crls=crls,
                                       verifier=verifier, checker=checker)
                if (item / PDF_NAME).exists() and verify_pdf is not None:
                    pdf = verify_pdf(item / PDF_NAME, anchors=anchors, at=at)
                    report = _with_rendition(report, pdf)
                reports.append(report)
            else:
                reports.append(VerificationReport.format_failure(
                    subject=str(item), validation_time=at,
                    detail=_("not an export bundle (a folder with license.json) or a PDF")
                    if item.exists() else _("no such file or folder")))
            if progress:
                progress(len(reports), total)
        if not items:
            reports.append(VerificationReport.format_failure(
                subject=str(path), validation_time=at,
                detail=_("the folder holds no export bundle and no PDF")))
    reports.extend(_forks(bundles, checker, at))
    return reports

