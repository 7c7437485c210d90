"""The worker side: functions the process pool runs, each re-binding the job context so its log lines carry it.

A page is rendered, normalised and written as `pages/page-NNNN.png` under a temp name, then renamed: a kill at
any moment leaves either no page or a whole one. The page's skew, warnings and the settings that made it are
kept in the PNG itself (a text chunk), so a redo after a crash reuses finished pages by reading their headers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from PIL import Image, PngImagePlugin

from services.common.atomic import atomic_output, remove_temp_files
from services.common.logs import JobContext, bind_job, configure_logging
from services.common.manifest import ManifestPage
from services.common.stage_api import page_name

from .normalise import Options, normalise_page
from .render import Limits, count_pages, render_page
from .sniff import Format, sniff_file

log = logging.getLogger(__name__)

# The PNG text chunk holding what the manifest needs about a page, so a finished page never has to be redone.
PNG_META_KEY = "ocr-pipeline:prep"
# Normalised pages are mostly flat white: zlib's fastest level already compresses them well, at a third the time.
PNG_COMPRESS_LEVEL = 1
PAGE_SUFFIX = ".png"


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    format: Format
    pages: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PageTask:
    source: Path
    format: Format
    index: int
    out_dir: Path
    limits: Limits
    options: Options

    @property
    def page(self) -> int:
        return self.index + 1

    @property
    def out_path(self) -> Path:
        return self.out_dir / page_name(self.page, PAGE_SUFFIX)

    def settings(self) -> dict[str, Any]:
        """What, besides the source, decides a page's pixels: a finished page made otherwise is redone.

        Every clean-up option is in it by construction (an option added to `Options` cannot be forgotten here);
        of the limits only the dpi changes pixels, the others only refuse documents.
        """
        return {"dpi": self.limits.dpi, **asdict(self.options)}


@dataclass(frozen=True, slots=True)
class PageResult:
    page: int
    file: str
    width: int
    height: int
    dpi: float
    skew_deg: float
    warnings: tuple[str, ...] = ()
    reused: bool = False

    def manifest_page(self) -> ManifestPage:
        """This page's entry in `pages/manifest.json`."""
        return ManifestPage(self.page, self.file, self.width, self.height, self.dpi, self.skew_deg)


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


@contextlib.contextmanager
def _job_bound(job: JobContext | None) -> Iterator[None]:
    if not job:
        yield
        return
    with bind_job(job["jobKey"], job.get("stage"), job.get("attempt")):
        yield


def inspect_document(job: JobContext | None, source: Path, limits: Limits) -> DocumentInfo:
    """Sniff and count pages, enforcing every limit that can be checked without decoding pixels."""
    with _job_bound(job):
        fmt = sniff_file(source, "the file")
        pages = count_pages(source, fmt, limits)
        log.info("document is a %s of %d pages", fmt, pages, extra={"format": str(fmt), "pages": pages})
        return DocumentInfo(fmt, pages, source.stat().st_size)


def finished_page(task: PageTask) -> PageResult | None:
    """The result of an earlier run for this page, when its PNG is there and was made with the same settings."""
    try:
        with Image.open(task.out_path) as img:
            meta = orjson.loads(img.info.get(PNG_META_KEY, "{}"))
            width, height = img.size
    except (OSError, orjson.JSONDecodeError, SyntaxError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("settings") != task.settings():
        return None
    warnings = tuple(str(w) for w in meta.get("warnings", []))
    return PageResult(task.page, task.out_path.name, width, height, meta["dpi"], meta["skewDeg"], warnings, True)


def write_page(image: Image.Image, path: Path, dpi: float, meta: dict[str, Any]) -> None:
    """Write under a temp name, fsync, rename: the page name only ever points at a whole PNG."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_META_KEY, orjson.dumps(meta).decode())
    with atomic_output(path) as tmp:
        image.save(tmp, "PNG", dpi=(dpi, dpi), pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)


def prep_page(job: JobContext | None, task: PageTask) -> PageResult:
    """Render, normalise and write one page (or reuse it when an earlier run finished it)."""
    with _job_bound(job):
        done = finished_page(task)
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
