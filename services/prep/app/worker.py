"""The worker side: functions the process pool runs, each re-binding the job context so its log lines carry it.

`prep_page` renders, normalises and writes one page (see `page.py` for how a finished page is recognised), or
keeps a PDF page that has text of its own as it is (see `textlayer.py`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from services.common.atomic import remove_dead_temp_files
from services.common.logs import JobContext, bind_job_context, configure_logging
from services.common.manifest import TEXT_EXISTING

from .normalise import normalise_page
from .page import PageResult, PageTask, read_done, write_page
from .render import POINTS_PER_INCH, Limits, count_pages, render_page
from .sniff import Format, sniff_file
from .textlayer import NO_LAYER, TextLayer, TextMode, read_source_layer, reuses_text

log = logging.getLogger(__name__)

# How often a worker checks that the prep service that started it is still there.
PARENT_CHECK_S = 1.0


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
    return PageResult(
        task.page, task.source.name, round(width_pt * scale), round(height_pt * scale), float(task.limits.dpi),
        0.0, text=TEXT_EXISTING, text_layer=layer.kind.value,
    )  # fmt: skip


def prep_page(job: JobContext | None, task: PageTask) -> PageResult:
    """Render, normalise and write one page (or reuse it when an earlier run finished it).

    A PDF page with text of its own (PREP_EXISTING_TEXT) is kept as it is instead: see `keep_page_text`.
    """
    with bind_job_context(job):
        layer = _text_layer(task)
        if reuses_text(layer, task.text_mode):
            return keep_page_text(task, layer)
        done = read_done(task)
        if done is not None:
            log.debug("page %d already prepared", task.page)
            return dataclasses.replace(done, text_layer=layer.kind.value)
        started = time.perf_counter()
        # The leftover of a killed writer of this page; a live one (another replica on a retry) keeps its file.
        remove_dead_temp_files(task.out_dir, task.out_path.name)
        page = render_page(task.source, task.format, task.index, task.limits)
        clean, skew_deg = normalise_page(page.image, page.dpi, task.options)
        meta = {"dpi": page.dpi, "skewDeg": skew_deg, "warnings": list(page.warnings), "settings": task.settings()}
        write_page(clean, task.out_path, page.dpi, meta)
        log.debug(
            "page %d prepared",
            task.page,
            extra={"page": task.page, "skewDeg": skew_deg, "pageMs": round((time.perf_counter() - started) * 1e3)},
        )
        return PageResult(
            task.page, task.out_path.name, clean.width, clean.height, page.dpi, skew_deg, page.warnings,
            text_layer=layer.kind.value,
        )  # fmt: skip
