"""Render and sign every pending license's PDF, in chunks over a process pool; find a PDF.

A license is pending until it has a :class:`registry.render.models.PdfRendition`. The steps of
:func:`render_pending`:

1. this process reads the pending licenses (oldest first), a page at a time, and groups them
   by template and seal;
2. a worker process renders and signs a chunk of them: the template is prepared and the seal's
   key decrypted once per worker (:class:`_Renderer`), so per license only the variable parts
   are written (:mod:`registry.render.pdf.write`, :mod:`registry.render.pdf.pades`); each PDF goes
   to
   this run's staging folder ``files/pdf/.staging/<host>:<pid>/`` first;
3. this process records the chunk's renditions in one transaction, then moves its files to
   ``files/pdf/<sha256[:2]>/<sha256>.pdf``. A killed run leaves its staging folder and no
   stray signed PDF among the recorded ones; the next run (:func:`recover_staging`) moves
   the files whose rendition was recorded and deletes the others.

Example::

    report = render_pending(engine, settings, at=now, limit=1000)
    path = rendition_path(session, settings, identifier)
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from registry.batch.leases import holder_dead, runner_name
from registry.batch.pool import die_with_parent, kill_point
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License, Seal, Template
from registry.errors import RenditionNotFound
from registry.i18n import _, current_language, set_language
from registry.license.queries import get_license
from registry.license.types import LicenseType, license_type
from registry.render.fonts import FontStack
from registry.render.models import PdfRendition
from registry.render.pdf.pades import PadesSigner
from registry.render.pdf.timestamp import HttpTimestampSource
from registry.render.pdf.write import PreparedTemplate
from registry.seal.making import parse_seal
from registry.seal.pki import load_signer_key
from registry.seal.signature import assemble
from registry.seal.signer import SoftwareSigner
from registry.template.layout import layout_for

__all__ = [
    "RenderReport",
    "ensure_rendition",
    "pending_count",
    "recover_staging",
    "render_pending",
    "rendition_path",
    "worker_pool",
]

CHUNK = 200
"""Licenses per worker task: big enough to amortize the hand-off, small enough to spread."""
_PAGE = 5_000  # pending licenses read from the database at a time


@dataclass(frozen=True)
class _Job:
    """What a worker needs to render licenses of one template with one seal (picklable)."""

    key: tuple[int, int]
    """(template id, seal id)."""
    license_type: LicenseType
    layout: dict[str, Any] | None
    seal_der: bytes
    cert_der: bytes
    keystore: str
    key_file: str
    passphrase: bytes
    files: str
    tsa_url: str | None
    staging: str | None = None
    """Where this run's workers put the PDFs until they are recorded (None: in place)."""


@dataclass(frozen=True)
class _Item:
    """One license to render (picklable)."""

    license_id: int
    identifier: str
    record: bytes
    signed_at: dt.datetime
    data_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class _Done:
    license_id: int
    sha256: str
    path: str
    size: int
    level: str
    missing: str | None


class _Renderer:
    """A prepared template and a PAdES signer for one job, kept per worker process."""

    def __init__(self, job: _Job) -> None:
        lt = job.license_type
        self.prepared = PreparedTemplate(
            layout=layout_for(lt, template_layout=job.layout),
            license_type=lt,
            seal_der=job.seal_der,
            fonts=FontStack.discover(),
        )
        key = load_signer_key(Path(job.keystore), job.key_file, job.passphrase)
        timestamps = None
        if job.tsa_url:

            timestamps = HttpTimestampSource(job.tsa_url, client=httpx.Client(timeout=30))
        self.signer = PadesSigner(SoftwareSigner(key, job.cert_der),
                                  chain=[parse_seal(job.seal_der).maker_cert_der],
                                  timestamps=timestamps)
        self.job = job

    def render(self, item: _Item, at: dt.datetime) -> tuple[bytes, frozenset[str]]:
        ses = assemble(self.job.seal_der, self.job.cert_der, item.signed_at, item.data_hash,
                       item.identifier, item.signature)
        unsigned = self.prepared.render(item.record, ses, at=at,
                                        contents_size=self.signer.reserve)
        return self.signer.sign(unsigned), unsigned.missing_glyphs


_RENDERERS: dict[bytes, _Renderer] = {}


_DIRS: set[str] = set()  # fan-out folders this process has made (a mkdir per file is slow)


def _store_file(files: Path, data: bytes, staging: str | None = None) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    rel = f"pdf/{sha[:2]}/{sha}.pdf"
    folder = staging or f"{files}/pdf/{sha[:2]}"
    if folder not in _DIRS:
        os.makedirs(folder, exist_ok=True)
        _DIRS.add(folder)
    target = f"{staging}/{sha}.pdf" if staging else f"{files}/{rel}"
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)  # atomic: a reader never sees half a PDF
    return sha, rel


def _render_chunk(job: _Job, items: Sequence[_Item], at: dt.datetime) -> tuple[list[_Done], float]:
    """Worker: render, sign and store one chunk; returns what to record and the CPU seconds
    it took (on a busy machine the CPU time, not the wall clock, says what a core can do)."""
    cpu = time.process_time()
    # Keyed by content, not by database ids: one process may serve several registries (tests,
    # a re-made seal), and a stale seal or layout must never be reused.
    key = hashlib.sha256(repr((job.key, job.license_type.code,
                                json.dumps(job.layout, sort_keys=True),
                               job.seal_der, job.cert_der, job.keystore, job.key_file,
                               job.tsa_url)).encode()).digest()
    renderer = _RENDERERS.get(key)
    if renderer is None:
        renderer = _RENDERERS[key] = _Renderer(job)
    files = Path(job.files)
    done = []
    for item in items:
        pdf, missing = renderer.render(item, at)
        sha, rel = _store_file(files, pdf, job.staging)
        done.append(_Done(item.license_id, sha, rel, len(pdf), renderer.signer.level,
                          "".join(sorted(missing)) or None))
    return done, time.process_time() - cpu


def _warm_up(lang: str | None = None, owner: int | None = None) -> None:
    if owner is not None:
        die_with_parent(owner)
    if lang is not None:  # a worker speaks the language of the run that started it
        set_language(lang)
    FontStack.discover()  # parse the fonts before the first chunk arrives


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes that have loaded their fonts and speak the language of the caller (so
    an error a worker raises reads as the rest of the run)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["registry.render.renditions"])
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_warm_up,
                               initargs=(current_language(), os.getpid()))


@dataclass(frozen=True)
class RenderReport:
    """What :func:`render_pending` did."""

    rendered: int
    """PDFs rendered, signed, stored and recorded."""
    with_missing_glyphs: int
    """Of those, how many have a character no font could draw."""
    chunks: int
    """Worker tasks run."""
    workers: int
    """Worker processes (0: rendered in this process)."""
    seconds: float
    """Wall-clock time of the whole call, pool start included."""
    startup_seconds: float
    """Of which starting the workers and loading their fonts."""
    cpu_seconds: float
    """CPU time the rendering itself took, summed over the workers."""
    levels: dict[str, int] = field(default_factory=dict)
    """PAdES level → count."""

    @property
    def rate(self) -> float:
        """Sealed PDFs per second of wall-clock time after start-up."""
        busy = self.seconds - self.startup_seconds
        return self.rendered / busy if busy > 0 else 0.0

    @property
    def per_core_rate(self) -> float:
        """Sealed PDFs per CPU-second of rendering: what one core does, however busy the
        machine was."""
        return self.rendered / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"rendered": self.rendered, "with_missing_glyphs": self.with_missing_glyphs,
                "chunks": self.chunks, "workers": self.workers,
                "seconds": round(self.seconds, 3),
                "startup_seconds": round(self.startup_seconds, 3),
                "cpu_seconds": round(self.cpu_seconds, 3),
                "per_second": round(self.rate, 1),
                "per_cpu_second": round(self.per_core_rate, 1), "levels": dict(self.levels)}


def _pending_query(limit: int | None, after: int) -> Any:
    query = (
        select(License.id, License.identifier, License.record, License.signed_at,
               License.data_hash, License.signature, License.template_id, License.seal_id)
        .outerjoin(PdfRendition, PdfRendition.license_id == License.id)
        .where(PdfRendition.license_id.is_(None), License.id > after)
        .order_by(License.id)
    )
    return query.limit(limit) if limit else query


def pending_count(session: Session) -> int:
    """Licenses without a rendition."""

    return session.scalar(
        select(func.count()).select_from(License)
        .outerjoin(PdfRendition, PdfRendition.license_id == License.id)
        .where(PdfRendition.license_id.is_(None))
    ) or 0


def _job(session: Session, settings: Settings, template_id: int, seal_id: int,
         tsa_url: str | None, staging: str | None = None) -> _Job:
    template = session.get_one(Template, template_id)
    seal = session.get_one(Seal, seal_id)
    return _Job(
        key=(template_id, seal_id), license_type=license_type(session, template.type_code),
        layout=getattr(template, "layout", None), seal_der=seal.seal_der,
        cert_der=seal.cert_der, keystore=str(settings.keystore), key_file=seal.key_file,
        passphrase=settings.require_passphrase(), files=str(settings.files), tsa_url=tsa_url,
        staging=staging)


def _chunks(engine: Engine, settings: Settings, limit: int | None, chunk: int,
            tsa_url: str | None, staging: str) -> Iterator[tuple[_Job, list[_Item]]]:
    """(1) pending licenses, a page at a time, as chunks of one template and seal."""
    jobs: dict[tuple[int, int], _Job] = {}
    after, left = 0, limit
    while left is None or left > 0:
        page = _PAGE if left is None else min(_PAGE, left)
        with session_scope(engine) as session:
            rows = session.execute(_pending_query(page, after)).all()
            groups: dict[tuple[int, int], list[_Item]] = collections.defaultdict(list)
            for lid, ident, record, signed_at, data_hash, signature, tid, sid in rows:
                if (tid, sid) not in jobs:
                    jobs[tid, sid] = _job(session, settings, tid, sid, tsa_url, staging)
                groups[tid, sid].append(_Item(lid, ident, record, signed_at, data_hash,
                                              signature))
        for key, items in groups.items():
            for start in range(0, len(items), chunk):
                yield jobs[key], items[start : start + chunk]
        if len(rows) < page:
            return
        after = rows[-1][0]
        if left is not None:
            left -= len(rows)


def _record(engine: Engine, files: Path, staging: Path, done: Sequence[_Done],
            at: dt.datetime) -> None:
    """(3) one transaction per chunk; then its files go where the renditions say."""
    if not done:
        return
    with session_scope(engine) as session:
        session.execute(insert(PdfRendition), [
            {"license_id": d.license_id, "sha256": d.sha256, "path": d.path, "size": d.size,
             "level": d.level, "missing_glyphs": d.missing, "rendered_at": at}
            for d in done
        ])
    kill_point("rendering")
    for d in done:
        _publish(staging / f"{d.sha256}.pdf", files / d.path)


def _publish(staged: Path, target: Path) -> None:
    if str(target.parent) not in _DIRS:
        target.parent.mkdir(parents=True, exist_ok=True)
        _DIRS.add(str(target.parent))
    staged.replace(target)  # atomic: a reader never sees half a PDF


STAGING = "pdf/.staging"
"""Under ``files``: one folder per render run (``host:pid``) holding its unrecorded PDFs."""


def recover_staging(engine: Engine, files: Path) -> int:
    """Finish what killed render runs of this host left: their recorded PDFs go in place,
    the others (and half-written files) are deleted. The number of files deleted."""
    deleted = 0
    for run in sorted((files / STAGING).glob("*")):
        if not holder_dead(run.name):
            continue
        staged = {p.stem: p for p in run.glob("*.pdf")}
        with session_scope(engine) as session:
            recorded = set(session.scalars(select(PdfRendition.sha256).where(
                PdfRendition.sha256.in_(list(staged))))) if staged else set()
        for path in run.iterdir():
            if path.suffix == ".pdf" and path.stem in recorded:
                _publish(path, files / f"pdf/{path.stem[:2]}/{path.name}")
            else:
                path.unlink()
                deleted += 1
        run.rmdir()
    return deleted


def render_pending(
    engine: Engine,
    settings: Settings,
    *,
    at: dt.datetime,
    limit: int | None = None,
    workers: int | None = None,
    chunk: int = CHUNK,
    tsa_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RenderReport:
    """Render, sign and store the PDF of every pending license (up to ``limit``).

    ``workers`` processes (default: one per CPU) render the chunks; 0 renders here, in this
    process. ``tsa_url`` makes the signatures PAdES B-T with that RFC 3161 time-stamping
    authority. Scripts calling this with workers must guard their entry point with
    ``if __name__ == "__main__":`` (workers start from a fork server). ``progress(done,
    total)`` is told after each chunk is recorded.
    """
    started = time.perf_counter()
    recover_staging(engine, settings.files)
    staging = settings.files / STAGING / runner_name()
    total = 0
    if progress:
        with session_scope(engine) as session:
            total = pending_count(session)
        total = min(total, limit) if limit else total
    workers = (os.cpu_count() or 1) if workers is None else workers
    counts: collections.Counter[str] = collections.Counter()
    totals = [0, 0, 0]  # rendered, with missing glyphs, chunks
    cpu = [0.0]

    def account(result: tuple[list[_Done], float]) -> None:
        done, seconds = result
        _record(engine, settings.files, staging, done, at)
        totals[0] += len(done)
        totals[1] += sum(d.missing is not None for d in done)
        totals[2] += 1
        cpu[0] += seconds
        counts.update(d.level for d in done)
        if progress:
            progress(totals[0], total)

    startup = 0.0
    if workers == 0:
        for job, items in _chunks(engine, settings, limit, chunk, tsa_url, str(staging)):
            account(_render_chunk(job, items, at))
    else:
        in_flight: collections.deque[Future[tuple[list[_Done], float]]] = collections.deque()
        with worker_pool(workers) as pool:
            # Start every worker (and load its fonts) before the clock for the work starts.
            for f in [pool.submit(_warm_up) for _worker in range(workers)]:
                f.result()
            startup = time.perf_counter() - started
            try:
                for job, items in _chunks(engine, settings, limit, chunk, tsa_url, str(staging)):
                    in_flight.append(pool.submit(_render_chunk, job, items, at))
                    while len(in_flight) > 2 * workers or (in_flight and in_flight[0].done()):
                        account(in_flight.popleft().result())
                while in_flight:
                    account(in_flight.popleft().result())
            finally:
                for future in in_flight:
                    future.cancel()
    with contextlib.suppress(OSError):  # empty unless a chunk failed (the next run cleans it)
        staging.rmdir()
        _DIRS.discard(str(staging))
    return RenderReport(
        rendered=totals[0], with_missing_glyphs=totals[1], chunks=totals[2], workers=workers,
        seconds=time.perf_counter() - started, startup_seconds=startup, cpu_seconds=cpu[0],
        levels=dict(counts))


def rendition_path(session: Session, settings: Settings, identifier: str) -> Path:
    """Where the license's PDF is stored; :class:`RenditionNotFound` when not rendered yet."""
    lic = get_license(session, identifier)
    rendition = session.get(PdfRendition, lic.id)
    if rendition is None:
        raise RenditionNotFound(_("license {identifier} has no PDF rendition yet (run: licreg "
                                  "pdf render)", identifier=identifier))
    return settings.files / rendition.path


def ensure_rendition(session: Session, settings: Settings, identifier: str, *,
                     at: dt.datetime) -> Path:
    """The license's stored PDF, rendering, signing and recording it now if it has none."""
    lic = get_license(session, identifier)
    rendition = session.get(PdfRendition, lic.id)
    if rendition is not None:
        return settings.files / rendition.path
    job = _job(session, settings, lic.template_id, lic.seal_id, None)
    [done], _timing = _render_chunk(job, [_Item(lic.id, lic.identifier, lic.record, lic.signed_at,
                                          lic.data_hash, lic.signature)], at)
    session.add(PdfRendition(license_id=done.license_id, sha256=done.sha256, path=done.path,
                             size=done.size, level=done.level, missing_glyphs=done.missing,
                             rendered_at=at))
    session.flush()
    return settings.files / done.path
