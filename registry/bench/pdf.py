"""``licreg pdf bench``: how many sealed PDFs a second this machine renders and signs.

A throw-away registry (SQLite under a temporary directory, the TEST ONLY demo world) gets ``n``
sealed 营业执照 from synthetic rows (every tenth holder name has a rare character such as 𠮷
or 堃, so the fallback font is in the measurement), then :func:`registry.render.renditions.
render_pending` renders, signs and stores every PDF. The rate counts wall-clock time after the
workers have started; a sample of the outputs is then verified (``verify_pdf`` and, when
installed, ``pdfsig``) so a fast but broken run cannot pass for a good one. This is a
benchmark, not a test: no test asserts a time.

Example::

    report = run_pdf_bench(3000, at=now)
    print(report.render.rate, report.sample_verified)
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from registry.bench.synthetic import (
    in_chunks,
    rendered_business_license,
    scratch_registry,
    seal_elements,
)
from registry.db import session_scope
from registry.render.models import PdfRendition
from registry.render.renditions import RenderReport, render_pending
from registry.seal.pki import load_root_cert
from registry.verify.pdf import verify_pdf
from registry.verify.report import Indication

__all__ = ["PdfBenchReport", "run_pdf_bench"]


@dataclass(frozen=True)
class PdfBenchReport:
    """One benchmark run."""

    licenses: int
    """Sealed licenses rendered."""
    render: RenderReport
    """The rendering run (rate, workers, start-up)."""
    mean_size: int
    """Mean PDF size in bytes."""
    sample_verified: int
    """Sampled PDFs that verify_pdf PASSED."""
    sample_size: int
    """How many were sampled."""
    pdfsig_valid: int | None
    """Sampled PDFs that pdfsig called valid (None: pdfsig not installed)."""
    pyhanko_valid: int | None
    """Sampled PDFs pyHanko found intact, valid and trusted (None: pyHanko not installed)."""

    def to_dict(self) -> dict[str, Any]:
        return {"licenses": self.licenses, "render": self.render.to_dict(),
                "mean_size": self.mean_size, "sample_verified": self.sample_verified,
                "sample_size": self.sample_size, "pdfsig_valid": self.pdfsig_valid,
                "pyhanko_valid": self.pyhanko_valid}


def run_pdf_bench(
    n: int = 3000,
    *,
    at: dt.datetime,
    workers: int | None = None,
    sample: int = 20,
    workdir: Path | None = None,
) -> PdfBenchReport:
    """Seal ``n`` licenses at ``at`` in a scratch registry, render them all, verify a sample."""
    now = at.replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="licreg-pdf-bench-", dir=workdir) as tmp:
        home = Path(tmp)
        settings, engine = scratch_registry(home / "var", passphrase=b"TEST-ONLY-pdf-bench",
                                            now=now)
        for rows in in_chunks(map(rendered_business_license, range(n)), 5000):
            with session_scope(engine) as session:
                seal_elements(session, settings, rows, at=now)
        report = render_pending(engine, settings, at=now, workers=workers)
        with session_scope(engine) as session:
            stored = session.execute(select(PdfRendition.path, PdfRendition.size)).all()
        paths = [settings.files / p for p, _ in stored]
        mean = sum(s for _, s in stored) // max(len(stored), 1)
        picked = random.Random(0).sample(paths, min(sample, len(paths)))  # noqa: S311 - a sample
        anchors = [load_root_cert(settings.keystore)]
        verified = sum(
            verify_pdf(p, anchors=anchors, at=now).indication is Indication.PASSED
            for p in picked
        )
        pdfsig = shutil.which("pdfsig")
        valid = None
        if pdfsig:
            valid = sum(
                "Signature is Valid" in subprocess.run(
                    [pdfsig, str(p)], capture_output=True, text=True, check=False).stdout
                for p in picked
            )
        hanko = _pyhanko_valid(picked, anchors[0], now)
        engine.dispose()
    return PdfBenchReport(licenses=n, render=report, mean_size=mean, sample_verified=verified,
                          sample_size=len(picked), pdfsig_valid=valid, pyhanko_valid=hanko)


def _pyhanko_valid(paths: Sequence[Path], root: Any, at: dt.datetime) -> int | None:
    """How many of ``paths`` pyHanko (a test dependency) judges intact, valid and trusted."""
    try:  # pyHanko is a test dependency: an installation without it skips this check
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext
    except ImportError:
        return None
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))], moment=at)
    good = 0
    for path in paths:
        with path.open("rb") as fh:
            status = validate_pdf_signature(PdfFileReader(fh).embedded_signatures[0], context)
            good += bool(status.intact and status.valid and status.trusted)
    return good
