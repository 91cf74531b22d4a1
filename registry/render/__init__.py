"""Renditions of sealed licenses: the page laid out from the template, rendered and signed.

::

    fonts.py       CJK TrueType fonts with fallback, and a fast per-document subset
    qr.py          the QR code carrying the identifier (level M, fixed mask)
    pdf/           the PDF rendition: write, PAdES-sign, time-stamp, read back
    models.py      the pdf_renditions table
    renditions.py  render pending licenses in chunks over a process pool; find a license's PDF

The page layout comes from the template (:mod:`registry.template.layout`); verifying a PDF is
:mod:`registry.verify.pdf`. Import from the submodules; this package
re-exports nothing (Alembic imports models.py and must not pull in fonts or Pillow).
"""

__all__: list[str] = []
