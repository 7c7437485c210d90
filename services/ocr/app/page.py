"""One page of OCR work: the page prep made, the task sent to a worker, its result, and the `ocr/page-NNNN.json`
that marks it done."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from services.common.atomic import atomic_write_bytes
from services.common.logs import JobContext
from services.common.manifest import (
    DEFAULT_PAGE_DPI,
    LAYER_NONE,
    TEXT_EXISTING,
    TEXT_OCR,
    ManifestPage,
    read_manifest,
)
from services.common.paths import file_in_job
from services.common.stage_api import PAGES_DIR, page_name

# 72 PostScript points per inch: the page size of a page that has no image to show.
POINTS_PER_INCH = 72.0
# Which of prep's images a page's text was read from.
IMAGE_CLEAN, IMAGE_FALLBACK = "clean", "fallback"


@dataclass(frozen=True, slots=True)
class PageSpec:
    """A page prep made, as OCR needs it: its manifest entry, with its files resolved inside the job folder.

    When the entry's `text` is `existing`, `image` is the job's source PDF, whose page `page` keeps its own text.
    """

    entry: ManifestPage
    image: Path
    fallback: Path | None = None

    @property
    def page(self) -> int:
        return self.entry.page

    @property
    def size_pt(self) -> tuple[float, float]:
        """The page's size on paper: the source page's."""
        dpi = self.entry.dpi_on_paper
        return self.entry.width * POINTS_PER_INCH / dpi, self.entry.height * POINTS_PER_INCH / dpi


def page_specs(job_dir: Path) -> list[PageSpec]:
    """The pages of prep's manifest in page order; BadRequest when it is missing or not one prep writes."""
    manifest = read_manifest(job_dir / PAGES_DIR)
    return [
        PageSpec(
            p,
            file_in_job(job_dir, p.file if p.text == TEXT_EXISTING else f"{PAGES_DIR}/{p.file}"),
            file_in_job(job_dir, f"{PAGES_DIR}/{p.fallback}") if p.fallback else None,
        )
        for p in manifest.pages
    ]


# Below these mean word confidences a page is checked for orientation, and read from prep's fallback too: an
# upright page reads at 85-95, a turned one at about 45 (measured on real scans, docs/performance.md).
DEFAULT_ORIENT_BELOW_CONF = 60.0
DEFAULT_FALLBACK_BELOW_CONF = 70.0


@dataclass(frozen=True, slots=True)
class ReadingPolicy:
    """When a page earns a second reading (OCR_ORIENT_BELOW_CONF, OCR_FALLBACK_BELOW_CONF): below these mean word
    confidences the page is checked for orientation, and the decoded page prep kept is read as well."""

    orient_below_conf: float = DEFAULT_ORIENT_BELOW_CONF
    fallback_below_conf: float = DEFAULT_FALLBACK_BELOW_CONF


@dataclass(frozen=True, slots=True)
class PageTask:
    """What a worker needs to recognise one page; plain data, so it crosses the process boundary."""

    page: int
    image: Path
    out_dir: Path
    job: JobContext | None = None
    dpi: float = DEFAULT_PAGE_DPI
    text: str = TEXT_OCR
    text_layer: str = LAYER_NONE
    fallback: Path | None = None
    lines_vertical: bool = False
    reading: ReadingPolicy = field(default_factory=ReadingPolicy)
    # Prep's reading of the page's text: upside down (its orientation is checked before the first reading), and
    # the turn its line profiles say sets it upright (tried before orientation detection; 0: none).
    upside_down: bool = False
    turn: int = 0


@dataclass(frozen=True, slots=True)
class PageResult:
    """A page's outcome; `confidence` is None for a page whose text was not recognised but already there."""

    page: int
    ok: bool
    confidence: float | None = 0.0
    words: int = 0
    duration_s: float = 0.0
    error: str | None = None
    text: str = TEXT_OCR
    text_layer: str = LAYER_NONE
    # How the page was read: turned by `rotation` degrees (counter-clockwise) to stand upright, from prep's clean
    # page or its `fallback` (the decoded page, when it read better).
    rotation: int = 0
    image: str = IMAGE_CLEAN
    # How many pieces the page was read in at once, on workers that had nothing else to do (1: whole).
    pieces: int = 1

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "page": self.page,
            "confidence": self.confidence,
            "words": self.words,
            "ok": self.ok,
            "durationS": self.duration_s,
            "text": self.text,
            "textLayer": self.text_layer,
            "rotation": self.rotation,
            "image": self.image,
            "pieces": self.pieces,
        }
        if self.error is not None:
            doc["error"] = self.error
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PageResult:
        confidence = doc.get("confidence", 0.0)
        return cls(
            page=int(doc["page"]),
            ok=bool(doc["ok"]),
            confidence=None if confidence is None else float(confidence),
            words=int(doc.get("words", 0)),
            duration_s=float(doc.get("durationS", 0.0)),
            error=doc.get("error"),
            text=str(doc.get("text", TEXT_OCR)),
            text_layer=str(doc.get("textLayer", LAYER_NONE)),
            rotation=int(doc.get("rotation", 0)),
            image=str(doc.get("image", IMAGE_CLEAN)),
            pieces=int(doc.get("pieces", 1)),
        )


def text_path(out_dir: Path, page: int) -> Path:
    return out_dir / page_name(page, ".txt")


def pdf_path(out_dir: Path, page: int) -> Path:
    return out_dir / page_name(page, ".pdf")


def hocr_path(out_dir: Path, page: int) -> Path:
    """The page's words with their boxes (and confidences, when recognised), as hOCR."""
    return out_dir / page_name(page, ".hocr")


def json_path(out_dir: Path, page: int) -> Path:
    return out_dir / page_name(page, ".json")


def write_result(out_dir: Path, result: PageResult) -> None:
    """Written last for a page: once it exists with `ok: true`, the page's .txt, .hocr and .pdf are complete."""
    body = orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    atomic_write_bytes(json_path(out_dir, result.page), body)


def read_done(out_dir: Path, page: int) -> PageResult | None:
    """The result of a page recognised earlier, or None if it must be (re)done.

    A page marked `ok: false` is done again: the cause (a timeout, a crashed worker) may have passed.
    """
    try:
        result = PageResult.from_json(orjson.loads(json_path(out_dir, page).read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not result.ok or result.page != page:
        return None
    # A page that kept its own text has no page PDF: document.pdf takes the page from the source.
    outputs = (text_path, hocr_path) if result.text == TEXT_EXISTING else (text_path, pdf_path, hocr_path)
    if not all(path(out_dir, page).is_file() for path in outputs):
        return None
    return result
