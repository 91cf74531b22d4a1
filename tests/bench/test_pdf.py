"""The rendition benchmark (registry.bench.pdf) verifies what it measured (a small N)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import NOW


def test_the_benchmark_verifies_what_it_measured(tmp_path: Path) -> None:
    from registry.bench.pdf import run_pdf_bench

    report = run_pdf_bench(15, at=NOW, workers=0, sample=5, workdir=tmp_path)
    assert report.render.rendered == 15
    assert report.render.with_missing_glyphs == 0  # the rare characters have a font
    assert (report.sample_size, report.sample_verified) == (5, 5)
    assert report.pdfsig_valid in (None, 5)
    assert report.pyhanko_valid == 5
    assert report.mean_size > 10_000
