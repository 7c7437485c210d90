"""The worker side: functions the process pool runs, each re-binding the job context so its log lines carry it.

`prep_page` renders, normalises and writes one page (see `page.py` for how a finished page is recognised), or
keeps a PDF page that has text of its own as it is (see `textlayer.py`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import pypdfium2 as pdfium
from PIL import Image

from services.common.atomic import remove_dead_temp_files
from services.common.errors import BadDocument
from services.common.logs import JobContext, bind_job_context, configure_logging
from services.common.manifest import TEXT_EXISTING, ManifestPage

from .cuts import find_cut_rows
from .normalise import normalise_page
from .page import PageResult, PageTask, read_done, write_fallback, write_page
from .prepare import prepare_page
from .render import POINTS_PER_INCH, Limits, count_pages, render_page
from .sniff import Format, sniff_file
from .textlayer import NO_LAYER, TextLayer, TextMode, read_source_layer, reuses_text
from .textsize import upright_turn

log = logging.getLogger(__name__)

# How often a worker checks that the prep service that started it is still there.
PARENT_CHECK_S = 1.0
# The stand-in for a page that cannot be read: blank, A4 at 72 dpi (its size is unknown when it cannot be read).
BLANK_PAGE_PX = (595, 842)
BLANK_PAGE_DPI = 72.0


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    format: Format
    pages: int
    bytes: int


def _leave_with_parent(parent_pid: int) -> None:
    # An idle ProcessPoolExecutor worker waits on a pipe whose write end it holds itself, so it never sees its
    # parent die: a prep service killed with SIGKILL (OOM killer, `kill -9`, a test) left its workers running
    # forever, and every restart by ocr-stack added more. Once the parent is gone, the worker is orphaned.
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(0)


def init_worker(limits: Limits) -> None:
    """Pool initializer: logging like the parent, Ctrl-C left to the parent, libraries loaded and warmed."""
    configure_logging("prep")
    # A terminal's Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_leave_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    Image.MAX_IMAGE_PIXELS = limits.max_page_pixels
    # One worker per core (PREP_WORKERS) already: OpenCV's own threads would only compete with the other workers.
    cv2.setNumThreads(1)
    warm = Image.new("L", (600, 800), 255)
    warm.paste(0, (100, 100, 500, 120))
    normalise_page(warm, float(limits.dpi))
    log.debug("prep worker %d ready", os.getpid())


def inspect_document(job: JobContext | None, source: Path, limits: Limits) -> DocumentInfo:
    """Sniff and count pages, enforcing every limit that can be checked without decoding pixels."""
    with bind_job_context(job):
        fmt = sniff_file(source, "the file")
        pages = count_pages(source, fmt, limits)
        log.info("document is a %s of %d pages", fmt, pages, extra={"format": str(fmt), "pages": pages})
        return DocumentInfo(fmt, pages, source.stat().st_size)


def _text_layer(task: PageTask) -> TextLayer:
    # Only PDF pages can carry text; `force` never looks (and so never pays for the look).
    if task.format is not Format.PDF or task.text_mode is TextMode.FORCE:
        return NO_LAYER
    try:
        return read_source_layer(task.source, task.index)
    except pdfium.PdfiumError as e:
        # Not worth failing the page over: it is rendered and OCRed, and a page that cannot be rendered either
        # then fails with render's own clear message.
        log.warning("page %d: its text could not be read (%s): it is OCRed", task.page, e)
        return NO_LAYER


def keep_page_text(task: PageTask, layer: TextLayer) -> PageResult:
    """A page that keeps its own text: nothing rendered, nothing written; its manifest entry names the source.

    Not even a one-page copy: copies of pages that share fonts would each carry them (20 pages of a born-digital
    PDF with one embedded font made a document.pdf 20 times the source's size).
    """
    width_pt, height_pt = layer.size_pt
    scale = task.limits.dpi / POINTS_PER_INCH
    log.debug("page %d keeps its own text (%s, %d characters)", task.page, layer.kind, layer.chars)
    entry = ManifestPage(
        task.page, task.source.name, round(width_pt * scale), round(height_pt * scale), float(task.limits.dpi),
        0.0, text=TEXT_EXISTING, text_layer=layer.kind.value,
    )  # fmt: skip
    return PageResult(entry)


def _unreadable_page(task: PageTask, error: BadDocument) -> PageResult:
    """A page that cannot be decoded fails alone: a blank page stands in for it, and the manifest says why."""
    log.warning("page %d cannot be read: %s", task.page, error)
    width, height = BLANK_PAGE_PX
    meta = {"dpi": BLANK_PAGE_DPI, "skewDeg": 0.0, "warnings": [], "settings": task.settings(), "error": str(error)}
    write_page(Image.new("L", BLANK_PAGE_PX, 255), task.out_path, BLANK_PAGE_DPI, meta)
    return PageResult(ManifestPage(task.page, task.out_path.name, width, height, BLANK_PAGE_DPI, error=str(error)))


def _prepare_and_write(task: PageTask) -> PageResult:
    page = render_page(task.source, task.format, task.index, task.limits)
    ready = prepare_page(page, task.options, task.limits.max_page_pixels)
    fallback = ""
    if task.options.fallback:
        write_fallback(ready.raw, task.fallback_path, ready.dpi)
        fallback = task.fallback_path.name
    vertical = ready.text is not None and ready.text.vertical
    # Upside down is told along the lines; for lines running down the page the OCR's check comes first anyway.
    upside_down = ready.text is not None and ready.text.upside_down and not vertical
    # Sizing by the text is routine, not a warning: the manifest's `scale` records it, the log line says why.
    warnings = page.warnings
    meta = {"dpi": ready.dpi, "skewDeg": ready.skew_deg, "warnings": list(warnings), "settings": task.settings()}
    # The page's resolution on paper, recorded only where it differs from what Tesseract is told.
    paper_dpi = ready.paper_dpi if round(ready.paper_dpi, 2) != round(ready.dpi, 2) else 0.0
    meta |= {"scale": ready.scale, "linesVertical": vertical, "fallback": fallback, "paperDpi": paper_dpi}
    # A turned page is read whole: the OCR service sets it upright first.
    cut_rows = () if vertical or upside_down else find_cut_rows(ready.image)
    turn = upright_turn(ready.text)
    meta |= {"upsideDown": upside_down, "cutRows": list(cut_rows), "turn": turn}
    write_page(ready.image, task.out_path, ready.dpi, meta)
    entry = ManifestPage(
        task.page, task.out_path.name, ready.image.width, ready.image.height, ready.dpi, ready.skew_deg,
        scale=ready.scale, lines_vertical=vertical, fallback=fallback, paper_dpi=paper_dpi, upside_down=upside_down,
        cut_rows=cut_rows, turn=turn,
    )  # fmt: skip
    return PageResult(entry, warnings)


def prep_page(job: JobContext | None, task: PageTask) -> PageResult:
    """Render, prepare and write one page (or reuse it when an earlier run finished it).

    A PDF page with text of its own (PREP_EXISTING_TEXT) is kept as it is instead: see `keep_page_text`. A page
    that cannot be decoded is marked failed in the manifest (the rest of the document goes on).
    """
    with bind_job_context(job):
        layer = _text_layer(task)
        if reuses_text(layer, task.text_mode):
            return keep_page_text(task, layer)
        done = read_done(task)
        if done is not None:
            log.debug("page %d already prepared", task.page)
            return done.with_layer(layer.kind.value)
        started = time.perf_counter()
        # The leftovers of a killed writer of this page; a live one (another replica on a retry) keeps its files.
        remove_dead_temp_files(task.out_dir, task.out_path.name)
        remove_dead_temp_files(task.out_dir, task.fallback_path.name)
        try:
            result = _prepare_and_write(task)
        except BadDocument as e:
            result = _unreadable_page(task, e)
        log.debug(
            "page %d prepared",
            task.page,
            extra={
                "page": task.page, "skewDeg": result.entry.skew_deg, "scale": result.entry.scale,
                "dpi": result.entry.dpi,
                "pageMs": round((time.perf_counter() - started) * 1e3),
            },
        )  # fmt: skip
        return result.with_layer(layer.kind.value)
