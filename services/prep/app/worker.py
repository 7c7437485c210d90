"""The worker side: functions the process pool runs, each re-binding the job context so its log lines carry it.

`prep_page` renders, normalises and writes one page (see `page.py` for how a finished page is recognised).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from services.common.atomic import remove_temp_files
from services.common.logs import JobContext, bind_job_context, configure_logging

from .normalise import normalise_page
from .page import PageResult, PageTask, read_done, write_page
from .render import Limits, count_pages, render_page
from .sniff import Format, sniff_file

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    format: Format
    pages: int
    bytes: int


def init_worker(limits: Limits) -> None:
    """Pool initializer: logging like the parent, Ctrl-C left to the parent, libraries loaded and warmed."""
    configure_logging("prep")
    # A terminal's Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def prep_page(job: JobContext | None, task: PageTask) -> PageResult:
    """Render, normalise and write one page (or reuse it when an earlier run finished it)."""
    with bind_job_context(job):
        done = read_done(task)
        if done is not None:
            log.debug("page %d already prepared", task.page)
            return done
        started = time.perf_counter()
        # A temp file of this page can only be the leftover of a killed writer: the page is redone by us.
        remove_temp_files(task.out_dir, task.out_path.name)
        page = render_page(task.source, task.format, task.index, task.limits)
        clean, skew_deg = normalise_page(page.image, page.dpi, task.options)
        meta = {"dpi": page.dpi, "skewDeg": skew_deg, "warnings": list(page.warnings), "settings": task.settings()}
        write_page(clean, task.out_path, page.dpi, meta)
        log.debug(
            "page %d prepared",
            task.page,
            extra={"page": task.page, "skewDeg": skew_deg, "pageMs": round((time.perf_counter() - started) * 1e3)},
        )
        return PageResult(task.page, task.out_path.name, clean.width, clean.height, page.dpi, skew_deg, page.warnings)
