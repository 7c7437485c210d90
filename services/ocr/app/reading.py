"""Reading one page, and reading it again only where that pays: turned pages, and pages the clean-up made worse.

Every reading writes its own temp outputs (PDF, text, hOCR); the best one is kept and the others are removed. A
page that reads well the first time (most pages: mean word confidence 85-95) costs one reading and nothing else.
A page that reads badly gets, in order:

1. an orientation check (orientation.py) when its confidence is below OCR_ORIENT_BELOW_CONF, or at once when
   prep saw its lines run down the page or its text upside down; if it is turned, it is read again upright. A
   page prep also saw which way up it is (`turn`) is read that way first, and checked only if that reads badly;
2. a reading of the decoded page prep kept beside the clean one (`fallback`), when the best reading so far is
   below OCR_FALLBACK_BELOW_CONF: prep must never make a page worse than the page itself.

Readings are compared by their confident words: each word adds its confidence above GARBAGE_CONF and subtracts
below it, so a turned page's heap of low-confidence fragments never beats fewer, surer words.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from services.common.atomic import temp_path_for
from services.common.errors import StageFailed
from services.common.stage_api import page_name

from .bullets import write_bullets
from .order import write_reading_order
from .orientation import detect_orientation
from .page import IMAGE_CLEAN, IMAGE_FALLBACK, PageTask

# A word read with less confidence than this is more likely noise than text.
GARBAGE_CONF = 50.0
OUTPUT_SUFFIXES = (".pdf", ".txt", ".hocr")


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading's temp outputs (`outbase` + suffix), its word confidences, and how the page was turned."""

    outbase: Path
    confidences: tuple[float, ...]
    rotation: int
    image: str

    @property
    def mean_confidence(self) -> float:
        return sum(self.confidences) / len(self.confidences) if self.confidences else 0.0

    @property
    def score(self) -> float:
        return sum(c - GARBAGE_CONF for c in self.confidences)

    def discard(self) -> None:
        for suffix in (*OUTPUT_SUFFIXES, ".png"):
            with contextlib.suppress(OSError):
                Path(f"{self.outbase}{suffix}").unlink()


def new_outbase(task: PageTask) -> Path:
    # The writer's identity and a random tag (temp_path_for): a killed worker's leftovers are found by its pid.
    return temp_path_for(task.out_dir / page_name(task.page, ""))


def read_image(api: Any, task: PageTask, image: Path, rotation: int = 0, kind: str = IMAGE_CLEAN) -> Reading:
    """One reading of `image`, turned by `rotation` first (written as a temp PNG that the page PDF embeds)."""
    outbase = new_outbase(task)
    reading = Reading(outbase, (), rotation, kind)
    try:
        source = image
        if rotation:
            source = Path(f"{outbase}.png")
            with Image.open(image) as img:
                img.rotate(rotation, expand=True).save(source, "PNG", dpi=(task.dpi, task.dpi), compress_level=1)
        if not api.ProcessPages(str(outbase), str(source)):
            raise StageFailed(f"tesseract could not recognise {image.name}")
        write_bullets(api, outbase, source)
        write_reading_order(api, outbase)
        return Reading(outbase, tuple(float(c) for c in api.AllWordConfidences()), rotation, kind)
    except BaseException:
        reading.discard()
        raise


def _turned_reading(api: Any, osd: Any, task: PageTask, tried: int = 0) -> Reading | None:
    """The page read the way orientation detection says is upright; None when that is the way it is, or the turn
    `tried` already."""
    with Image.open(task.image) as img:
        found = detect_orientation(osd, api, img.convert("L"), task.dpi, task.lines_vertical)
    return read_image(api, task, task.image, found.rotation) if found.rotation not in (0, tried) else None


def best_of(readings: Sequence[Reading]) -> Reading:
    """The reading with the highest score; the others' temp files are removed."""
    best = max(readings, key=lambda r: r.score)
    for other in readings:
        if other is not best:
            other.discard()
    return best


def _readings_by_orientation(api: Any, osd: Any, task: PageTask, first: Reading | None) -> list[Reading]:
    """The page as it is (`first`, when read already: in pieces), and turned upright when it reads badly; pages
    prep saw turned (lines running down, or upside down) go to detection first, which saves their first, poor
    reading.

    Detection can be wrong (a page of one short line looks turned): when its reading is poor too, the page as it
    is is read as well, so the choice is made on readings, never on detection alone.
    """
    threshold = task.reading.orient_below_conf
    if threshold <= 0:  # OCR_ORIENT_BELOW_CONF=0: orientation never checked
        return [first or read_image(api, task, task.image)]
    if task.lines_vertical or task.upside_down:
        as_it_is = [first] if first else []
        guessed = read_image(api, task, task.image, task.turn) if task.turn else None
        if guessed is not None and guessed.mean_confidence >= threshold:
            return [guessed, *as_it_is]  # prep's turn reads well: no detection needed
        turned = _turned_reading(api, osd, task, task.turn)
        if turned is not None and turned.mean_confidence >= threshold:
            return [turned, *([guessed] if guessed else []), *as_it_is]
        readings = [r for r in (turned, guessed) if r is not None]
        return [*readings, first or read_image(api, task, task.image)]
    readings = [first or read_image(api, task, task.image)]
    if readings[0].mean_confidence < threshold:
        turned = _turned_reading(api, osd, task)
        readings += [turned] if turned else []
    return readings


def read_page(api: Any, osd: Any, task: PageTask, first: Reading | None = None) -> Reading:
    """The page's best reading (its temp outputs still to be committed by the caller); `first`: the page as it is,
    read already (in pieces)."""
    readings: list[Reading] = [first] if first is not None else []
    try:
        readings = _readings_by_orientation(api, osd, task, first)
        best = max(readings, key=lambda r: r.score)
        if task.fallback is not None and best.mean_confidence < task.reading.fallback_below_conf:
            readings.append(read_image(api, task, task.fallback, best.rotation, IMAGE_FALLBACK))
    except BaseException:
        for reading in readings:
            reading.discard()
        raise
    return best_of(readings)
