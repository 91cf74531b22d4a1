"""licreg's library: plain Python, testable without Prefect. Folders name what a license goes
through, in order::

    ingest/        a department file is read and each row judged
    batch/         a file as a batch: stored, chunked, sealed chunk by chunk, reported
    license/       a judged row becomes a sealed, stored license version; its lifecycle after
    seal/          the GB/T 38540 seal and signature, the TEST ONLY PKI, seal lifecycles
    template/      license-type templates: layout, numbering, bound to a seal, published
    tlog/          the transparency log every sealing and status event is a leaf of
    render/        the PDF rendition of a sealed license
    province/      our side of the provincial platform: push, full sync, reconcile
    mockprovince/  the mock platform, a real HTTP service, for the demo and the tests
    verify/        what an auditor runs: reports, never a bool; export bundles
    bulletin/      the weekly dispatch and ranking of departments
    city/          the city the registry serves: its departments and types (the demo world)
    bench/         how fast each stage runs here
    cli/           ``licreg``, a thin shell over the above

Beside them: ``errors`` (the one error tree), ``config`` (the one settings object), ``clock``
(UTC instants, China days) and ``db`` (engines, bulk insert, the core tables, migrations).
``docs/ARCHITECTURE.md`` follows one license through these, file by file.
"""

__all__: list[str] = []
