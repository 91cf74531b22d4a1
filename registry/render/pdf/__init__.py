"""The PDF rendition, one module per step::

    syntax.py     PDF objects, strings, dates and the xref table
    write.py      a template prepared once → one license's PDF with a reserved /Contents
    pades.py      PAdES B-B / B-T from a precomputed CMS skeleton
    timestamp.py  RFC 3161 time-stamps for B-T
    read.py       the sealed record, SES_Signature and metadata back from a PDF
"""

__all__: list[str] = []
