"""One prep request: reuse a finished manifest, else inspect the document, prepare its pages in the pool, and
write the manifest last."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.deadline import ensure_in_time
from services.common.errors import BadDocument
from services.common.logs import current_job
from services.common.manifest import PagesManifest, SourceInfo, read_complete_manifest, write_manifest
from services.common.stage_api import PAGES_DIR

from .config import Config
from .page import PageResult, PageTask
from .pool import PrepPool
from .worker import DocumentInfo, inspect_document, prep_page

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PrepOutcome:
    pages: int
    duration_s: float
    warnings: list[str]
    reused: bool

    def to_json(self) -> dict[str, Any]:
        return {"pages": self.pages, "durationS": round(self.duration_s, 3), "warnings": self.warnings}


async def _run_pages(pool: PrepPool, tasks: list[PageTask], in_flight: int) -> list[PageResult]:
    """All pages, at most `in_flight` queued at a time, so concurrent documents share the workers in turn."""
    gate = asyncio.Semaphore(in_flight)
    job = current_job()

    async def one(task: PageTask) -> PageResult:
        async with gate:
            return await pool.run(prep_page, job, task)

    runs = [asyncio.ensure_future(one(task)) for task in tasks]
    try:
        return list(await asyncio.gather(*runs))
    except BaseException:
        # One bad page fails the document: do not spend workers on the rest.
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        raise


def build_manifest(source: Path, info: DocumentInfo, results: list[PageResult]) -> PagesManifest:
    pages = sorted(results, key=lambda r: r.entry.page)
    return PagesManifest(
        pages=tuple(r.entry for r in pages),
        source=SourceInfo(source.name, str(info.format), info.pages, info.bytes),
        warnings=tuple(f"page {r.entry.page}: {w}" for r in pages for w in r.warnings),
    )


async def run_stage(config: Config, pool: PrepPool, job_dir: Path, source: Path) -> PrepOutcome:
    """Prepare the pages of `source` into `job_dir/pages/`; BadDocument when the document cannot be used."""
    started = time.perf_counter()
    pages_dir = job_dir / PAGES_DIR
    done = await asyncio.to_thread(read_complete_manifest, pages_dir)
    if done is not None:
        log.info("pages already prepared: nothing to do", extra={"pages": len(done.pages)})
        return PrepOutcome(len(done.pages), time.perf_counter() - started, list(done.warnings), True)
    info = await pool.run(inspect_document, current_job(), source, config.limits)
    await asyncio.to_thread(pages_dir.mkdir, exist_ok=True)
    tasks = [
        PageTask(source, info.format, index, pages_dir, config.limits, config.options, config.existing_text)
        for index in range(info.pages)
    ]
    results = await _run_pages(pool, tasks, config.workers)
    if all(r.entry.error for r in results):
        # Not one page could be read: the document cannot be used (the first page's reason says why).
        raise BadDocument(results[0].entry.error)
    manifest = build_manifest(source, info, results)
    ensure_in_time("pages/manifest.json")
    await asyncio.to_thread(write_manifest, pages_dir, manifest)
    duration_s = time.perf_counter() - started
    reused = sum(r.reused for r in results)
    log.info(
        "prepared %d pages in %.2f s",
        info.pages,
        duration_s,
        extra={"pages": info.pages, "reusedPages": reused, "durationS": round(duration_s, 3)},
    )
    return PrepOutcome(info.pages, duration_s, list(manifest.warnings), False)
