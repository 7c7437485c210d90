"""The OCR stage of one job: every page on the worker pool (skipping pages done before), then the document."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.atomic import remove_dead_temp_files
from services.common.deadline import ensure_in_time
from services.common.errors import StageFailed
from services.common.logs import current_job
from services.common.manifest import TEXT_OCR
from services.common.stage_api import DOCUMENT_PDF, DOCUMENT_TEXT, OCR_DIR

from .config import Config
from .document import write_document
from .page import PageResult, PageSpec, PageTask, page_specs, read_done, write_result
from .pieces import JoinTask, Piece, piece_tasks
from .pieces import discard as discard_pieces
from .pool import OcrPool

log = logging.getLogger(__name__)


def _cut_rows(config: Config, pool: OcrPool, spec: PageSpec, few_pages: bool) -> tuple[int, ...]:
    """Where to cut the page into pieces read at once: prep's cuts, when workers would otherwise wait for it
    (fewer pages in the document than workers, and one spare worker for each piece)."""
    entry = spec.entry
    if not (config.split_pages and few_pages and entry.cut_rows) or entry.text != TEXT_OCR or entry.error:
        return ()
    if entry.lines_vertical or entry.upside_down:
        return ()  # read whole, after its orientation check
    return entry.cut_rows if pool.spare_workers > len(entry.cut_rows) else ()


async def _read_in_pieces(pool: OcrPool, task: PageTask, cut_rows: tuple[int, ...], height: int) -> PageResult:
    """The page read in pieces on several workers at once, then joined and finished on one of them."""
    started = time.perf_counter()
    calls = [pool.read_piece(piece) for piece in piece_tasks(task, cut_rows, height)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    pieces = tuple(p for p in outcomes if isinstance(p, Piece))
    failure = next((p for p in outcomes if isinstance(p, BaseException)), None)
    if failure is not None:
        await asyncio.to_thread(discard_pieces, pieces)
        raise failure
    log.debug("page %d read in %d pieces", task.page, len(pieces))
    return await pool.run(JoinTask(task, pieces, time.perf_counter() - started))


async def recognise_page(
    config: Config, pool: OcrPool, spec: PageSpec, out_dir: Path, few_pages: bool = False
) -> PageResult:
    """The page's result: from its .json if done before, else from the pool, with OCR_PAGE_RETRIES retries.

    With `few_pages` (fewer pages to read than workers), a page prep marked can be read in pieces on spare workers;
    a retry reads it whole. A page that still fails is recorded `ok: false` with the last error, so the rest of
    the document completes.
    """
    done = await asyncio.to_thread(read_done, out_dir, spec.page)
    if done is not None:
        log.debug("page %d already done, skipped", spec.page)
        return done
    entry = spec.entry
    task = PageTask(
        spec.page, spec.image, out_dir, current_job(), entry.dpi, entry.text, entry.text_layer, spec.fallback,
        entry.lines_vertical, config.reading, entry.upside_down, entry.turn,
    )  # fmt: skip
    started = time.perf_counter()
    error = f"prep could not read the page: {entry.error}" if entry.error else ""
    # A page prep could not read has nothing to recognise: it fails at once, alone.
    cut_rows = _cut_rows(config, pool, spec, few_pages)
    for attempt in range(1, 0 if entry.error else config.page_retries + 2):
        try:
            if cut_rows and attempt == 1:
                return await _read_in_pieces(pool, task, cut_rows, entry.height)
            return await pool.run(task)
        except StageFailed as e:
            error = str(e)
            log.warning("page %d, try %d of %d: %s", spec.page, attempt, config.page_retries + 1, error)
    failed = PageResult(
        page=spec.page,
        ok=False,
        error=error,
        duration_s=round(time.perf_counter() - started, 3),
        text=entry.text,
        text_layer=entry.text_layer,
    )
    await asyncio.to_thread(write_result, out_dir, failed)
    return failed


@dataclass(frozen=True, slots=True)
class OcrOutcome:
    results: list[PageResult]
    duration_s: float

    @property
    def failed_pages(self) -> list[int]:
        return [r.page for r in self.results if not r.ok]

    @property
    def mean_confidence(self) -> float | None:
        # Pages without words (blank pages) say nothing about recognition quality, nor do pages not recognised at
        # all because their text was already there (confidence None).
        scores = [r.confidence for r in self.results if r.ok and r.words and r.confidence is not None]
        return round(sum(scores) / len(scores), 2) if scores else None

    def to_json(self) -> dict[str, Any]:
        """The 200 response body of POST /v1/ocr."""
        return {
            "pages": len(self.results),
            "meanConfidence": self.mean_confidence,
            "outputs": {"text": DOCUMENT_TEXT, "pdf": DOCUMENT_PDF, "pages": f"{OCR_DIR}/"},
            "pageResults": [
                {"page": r.page, "confidence": r.confidence, "ok": r.ok, "text": r.text, "textLayer": r.text_layer}
                for r in self.results
            ],
            "failedPages": self.failed_pages,
            "warnings": [f"page {r.page} not recognised: {r.error}" for r in self.results if not r.ok],
            "durationS": round(self.duration_s, 3),
        }


async def run_stage(config: Config, pool: OcrPool, job_dir: Path) -> OcrOutcome:
    """OCR a job whose pages prep has written; safe to repeat, and cheap, since done pages are skipped."""
    started = time.perf_counter()
    specs = await asyncio.to_thread(page_specs, job_dir)
    out_dir = job_dir / OCR_DIR
    await asyncio.to_thread(out_dir.mkdir, exist_ok=True)
    # Temp files of calls cut short by a kill, and only those: a retry may reach this replica, or another one,
    # while the call it replaces still writes (a timeout, a partition), and a live writer's file is not ours.
    await asyncio.to_thread(remove_dead_temp_files, out_dir)
    for name in (DOCUMENT_TEXT, DOCUMENT_PDF):
        await asyncio.to_thread(remove_dead_temp_files, job_dir, name)
    few_pages = sum(spec.entry.text == TEXT_OCR for spec in specs) < config.workers
    pages = (recognise_page(config, pool, spec, out_dir, few_pages) for spec in specs)
    results = list(await asyncio.gather(*pages))
    if not any(r.ok for r in results):
        # Nothing to deliver: let the orchestrator retry the stage, or give up, rather than call this done.
        raise StageFailed(f"no page could be recognised: {results[0].error}")
    ensure_in_time(DOCUMENT_TEXT)  # before the work of merging; write_document checks again before committing
    await asyncio.to_thread(write_document, job_dir, out_dir, specs, results)
    outcome = OcrOutcome(results, time.perf_counter() - started)
    log.info(
        "OCR done: %d pages, %d failed, mean confidence %s",
        len(results),
        len(outcome.failed_pages),
        outcome.mean_confidence,
        extra={"durationS": round(outcome.duration_s, 3)},
    )
    return outcome
