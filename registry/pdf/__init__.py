"""PDF renditions (版式文件) of sealed licenses: rendered, PAdES-signed, read back, verified.

One module per step, in the order a rendition is made and checked::

    layout.py    the page layout (schemas/template-layout.schema.json) or a default one
    fonts.py     CJK TrueType fonts with fallback, and a fast per-document subset
    qr.py        the QR code carrying the identifier (level M, fixed mask)
    render.py    a template prepared once → one license's PDF with a reserved /Contents
    sign.py      PAdES B-B / B-T from a precomputed CMS skeleton
    timestamp.py RFC 3161 time-stamps for B-T
    read.py      the sealed record, SES_Signature and metadata back from a PDF
    verify.py    verify_pdf: the PDF alone → a VerificationReport
    models.py    the pdf_renditions table
    store.py     render pending licenses in chunks over a process pool; find a license's PDF
    bench.py     how many sealed PDFs a second this machine makes

Import from the submodules; this package re-exports nothing (Alembic imports models.py and
must not pull in fonts or Pillow)::

    from registry.pdf.verify import verify_pdf
"""

__all__: list[str] = []
