"""Flows: department files → sealed licenses in the registry.

- ``ingest-and-seal``: one file, given by path; each chunk is a task run whose chunk this
  machine's worker processes seal and store;
- ``ingest-inbox``: every file waiting in the department inboxes (:mod:`registry.batch.inbox`),
  each taken once, ingested as above, archived with its report;
- ``ingest-and-seal-dask``: one file, its chunks sealed and stored on a Dask cluster
  (``LICREG_DASK_ADDRESS``, e.g. ``tcp://scheduler:8786``; a temporary local cluster without
  it) — for stock that outgrows one machine's cores.

The batch itself is :func:`registry.batch.run.ingest_file`, the call the command line makes;
this module only hands it an executor that turns chunks into task runs
(:class:`flows.chunks.TaskRunnerExecutor`) and reports to the Prefect UI: a progress artifact
while a batch runs, a table artifact of its outcome, and a table of its first rejected rows
with the file, row and field.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import State, Task, flow, get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run
from prefect_dask.task_runners import DaskTaskRunner

from flows.chunks import TaskRunnerExecutor, seal_chunk_here, seal_chunk_remote
from flows.outcome import failed
from registry.batch.chunks import ChunkCounts, ChunkJob
from registry.batch.inbox import InboxFile, drain
from registry.batch.leases import runner_name
from registry.batch.pool import default_workers
from registry.batch.reports import closing_report, status_word
from registry.batch.run import (
    BatchReport,
    IngestProgress,
    ingest_file,
    read_options_for,
    read_report,
)
from registry.clock import utc_now
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.errors import BatchBusyError, BatchFailedError, IngestError, NotFoundError
from registry.i18n import _, ngettext

__all__ = [
    "dask_runner",
    "ingest_and_seal",
    "ingest_and_seal_dask",
    "ingest_inbox",
]

REJECTS_SHOWN = 20
"""Rejected rows listed in a batch's artifact (``licreg batch rows`` has them all)."""


def _sync(call: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a Prefect artifact function synchronously, also from the thread of an async flow's
    body (see ingest_and_seal): Prefect's sync-compatible functions take ``_sync``, which their
    signatures do not show."""
    return call(**kwargs, _sync=True)


def _publish(report: dict[str, Any]) -> None:
    """The batch as table artifacts: outcome counts and reason kinds, then its first rejected
    rows, each with the file, row and field."""
    table: list[dict[str, Any]] = [
        {"what": k.replace("_", " "), "rows": report[k]}
        for k in ("rows_read", "accepted", "filtered", "rejected", "issued")]
    table += [{"what": f"reason {code}", "rows": n}
              for code, n in (report.get("reasons") or {}).items()]
    if report.get("error"):
        table.append({"what": f"failed: {report['error']}", "rows": None})
    _sync(
        create_table_artifact,
        key=f"batch-{report['batch_id']}",
        table=table,
        description=_("Batch {batch}: {file} for {department}, type {type_code}, {status}",
                      batch=report["batch_id"], file=report["file"],
                      department=report["department"], type_code=report["type_code"],
                      status=report["status"]),
    )
    if report.get("first_rejects"):
        _sync(
            create_table_artifact,
            key=f"batch-{report['batch_id']}-rejects",
            table=report["first_rejects"],
            description=_("Batch {batch}: the first {n} of {rejected} rejected rows (every "
                          "one: `licreg batch rows {batch} --outcome rejected`)",
                          batch=report["batch_id"], n=len(report["first_rejects"]),
                          rejected=report["rejected"]),
        )


class _Progress:
    """A progress artifact for a batch, made with its first chunk, moved on as its chunks are
    read, at 100 when they are stored."""

    def __init__(self) -> None:
        self.id: Any = None

    def __call__(self, p: IngestProgress) -> None:
        if self.id is None:
            self.id = _sync(create_progress_artifact, progress=0.0,
                            description=_("Batch {batch}: {file}", batch=p.batch_id,
                                          file=p.file))
        if p.total:
            _sync(update_progress_artifact, artifact_id=self.id,
                  progress=round(100 * p.done / p.total, 1))

    def finish(self) -> None:
        if self.id is not None:
            _sync(update_progress_artifact, artifact_id=self.id, progress=100.0)


def _ingest(settings: Settings, path: str, department: str, type_code: str, *,
            chunk_task: Task[[ChunkJob], ChunkCounts], in_flight: int, uploader: str,
            chunk_rows: int, mapping: str | None = None, sheet: str | None = None,
            header_row: int | None = None) -> tuple[BatchReport, dict[str, Any]]:
    """:func:`~registry.batch.run.ingest_file` with each chunk a run of ``chunk_task``, and
    its closing report, published. Raises :class:`~registry.errors.BatchBusyError` when
    another run has the batch."""
    logger = get_run_logger()
    engine = shared_engine(settings.database_url)
    options = read_options_for(engine, type_code, mapping_file=Path(mapping) if mapping else None,
                               sheet=sheet, header_row=header_row)
    executor = TaskRunnerExecutor(chunk_task, in_flight=in_flight,
                                  remote=chunk_task is seal_chunk_remote)
    progress = _Progress()
    try:
        report = ingest_file(engine, settings, Path(path), department_uscc=department,
                             type_code=type_code, uploader=uploader, at=utc_now(),
                             chunk_rows=chunk_rows, executor=executor, options=options,
                             progress=progress,
                             runner=f"{runner_name()} (flow run {flow_run.id})")
        progress.finish()
    except BatchFailedError as exc:
        logger.error("%s", _("batch {batch} failed: {why}", batch=exc.batch_id, why=exc))
        with session_scope(engine) as session:
            report = read_report(session, exc.batch_id)
    if report.already_ingested:
        logger.info("%s", _("{file} was ingested before as batch {batch}: nothing to do",
                            file=path, batch=report.batch_id))
        return report, report.to_dict()
    with session_scope(engine) as session:
        closing = closing_report(session, report.to_dict(), rejects=REJECTS_SHOWN)
    _publish(closing)
    logger.info("%s", _("batch {batch}: {status}, {rows} rows: accepted {accepted}, filtered "
                        "{filtered}, rejected {rejected}", batch=report.batch_id,
                        status=status_word(report.status), rows=report.rows_read,
                        accepted=report.accepted, filtered=report.filtered,
                        rejected=report.rejected))
    return report, closing


def _one_file(path: str, department: str, type_code: str,
              **options: Any) -> dict[str, Any] | State[Any]:
    """One file's closing report; a "busy" report when another run has the batch (this one
    does nothing and says so); Failed when the batch failed or no batch could be made."""
    try:
        report = _ingest(Settings.from_env(), path, department, type_code, **options)[1]
    except BatchBusyError as exc:
        get_run_logger().warning("%s: %s", path, exc)
        return {"batch_id": exc.batch_id, "file": Path(path).name, "status": "busy",
                "error": str(exc), "already_ingested": False}
    except (IngestError, NotFoundError) as exc:  # no batch: unknown department or type …
        refused = {"batch_id": None, "file": Path(path).name, "department": department,
                   "type_code": type_code, "status": "refused", "error": str(exc),
                   "already_ingested": False}
        return failed(_("{file} refused: {why}", file=path, why=exc), refused,
                      key="ingest-refused", table=[refused])
    if report["status"] == "failed":  # its table artifact says what failed, with the counts
        return failed(_("batch {batch} failed: {why}", batch=report["batch_id"],
                        why=report["error"]), report)
    return report


# The two single-file flows are ``async def`` for one reason: Prefect 3.9 joins a *sync* flow
# run's heartbeat thread on exit, which costs up to a second per run (PREFECT.md §1), 7 % of a
# 100,000-row batch. Their bodies are ordinary blocking code, run in a thread that carries the
# flow run's context; Prefect's artifact functions are told to stay synchronous (``_sync``).
# Call them with ``asyncio.run(ingest_and_seal(...))``.
@flow(name="ingest-and-seal")
async def ingest_and_seal(path: str, department: str, type_code: str, uploader: str = "prefect",
                          chunk_rows: int = 5_000, mapping: str | None = None,
                          sheet: str | None = None,
                          header_row: int | None = None) -> dict[str, Any] | State[Any]:
    """Ingest one department file (CSV, .xlsx, JSON, JSON Lines, PDF, .zip or folder of PDFs):
    validate, filter, structure, seal and store every row; publish what happened. When
    another run is ingesting the same file, this one does nothing and says so. A batch that
    fails, or a file no batch can be made of, ends the run Failed (:mod:`flows.outcome`)."""
    return await asyncio.to_thread(
        _one_file, path, department, type_code, chunk_task=seal_chunk_here,
        in_flight=2 * default_workers(), uploader=uploader, chunk_rows=chunk_rows,
        mapping=mapping, sheet=sheet, header_row=header_row)


def dask_runner() -> DaskTaskRunner:
    """The Dask cluster at ``LICREG_DASK_ADDRESS``, else a temporary local one of two
    single-threaded worker processes (started per flow run: seconds, so only for trying)."""
    address = Settings.from_env().dask_address
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1})


@flow(name="ingest-and-seal-dask",
      task_runner=dask_runner())  # type: ignore[arg-type]  # prefect-dask 0.3.7 types its futures apart
async def ingest_and_seal_dask(path: str, department: str, type_code: str,
                               uploader: str = "prefect", chunk_rows: int = 5_000,
                               in_flight: int = 8, mapping: str | None = None,
                               sheet: str | None = None,
                               header_row: int | None = None) -> dict[str, Any] | State[Any]:
    """As ``ingest-and-seal``, each chunk sealed and stored by a Dask worker, ``in_flight``
    chunks at most on the cluster at once (a few per Dask worker keeps them all busy). The
    workers need the code, ``LICREG_DATABASE_URL`` (PostgreSQL when they are on other
    machines), the key store and ``LICREG_KEY_PASSPHRASE``."""
    return await asyncio.to_thread(
        _one_file, path, department, type_code, chunk_task=seal_chunk_remote,
        in_flight=in_flight, uploader=uploader, chunk_rows=chunk_rows, mapping=mapping,
        sheet=sheet, header_row=header_row)


@flow(name="ingest-inbox")
def ingest_inbox(inbox: str | None = None, archive: str | None = None, settle: float = 5.0,
                 chunk_rows: int = 5_000) -> dict[str, Any] | State[Any]:
    """Every file waiting in inbox/<USCC>/<type code>/, taken once (several runs on several
    workers share an inbox safely), ingested, archived with its report; a table of the files.
    Failed when any file failed or was refused (the table says which and why)."""
    settings = Settings.from_env()
    root = Path(inbox) if inbox else settings.inbox
    engine = shared_engine(settings.database_url)

    def ingest(file: InboxFile) -> BatchReport:
        return _ingest(settings, str(file.path), file.department, file.type_code,
                       chunk_task=seal_chunk_here, in_flight=2 * default_workers(),
                       uploader=f"inbox:{file.department}", chunk_rows=chunk_rows)[0]

    outcomes = drain(root, Path(archive) if archive else settings.archive, ingest,
                     lambda: session_scope(engine), at=utc_now, settle=settle)
    table = [{"department": o.file.department, "type": o.file.type_code, "file": o.file.name,
              "status": o.status, "batch": o.report.get("batch_id"),
              "rows": o.report.get("rows_read"), "accepted": o.report.get("accepted"),
              "rejected": o.report.get("rejected"),
              "archived": str(o.archived) if o.archived else "left in the inbox",
              "error": o.report.get("error")} for o in outcomes]
    if table:
        create_table_artifact(key="inbox", table=table,
                              description=_("{n} files taken from {root}", n=len(table),
                                            root=root))
    get_run_logger().info("%s", _("inbox {root}: {n} files: {outcomes}", root=root,
                                  n=len(outcomes),
                                  outcomes=dict(collections.Counter(o.status for o in outcomes))))
    result = {"files": len(outcomes), "outcomes": table}
    if bad := [o for o in outcomes if o.status in ("failed", "refused")]:
        return failed(ngettext("inbox {root}: {bad} of {n} files failed or was refused: {files}",
                               "inbox {root}: {bad} of {n} files failed or were refused: {files}",
                               len(bad), root=root, bad=len(bad), n=len(outcomes),
                               files=_(", ").join(o.file.name for o in bad)), result)
    return result
