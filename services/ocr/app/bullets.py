"""List bullets, which Tesseract cannot read: its models have no bullet in their character set (eng's and fra's
LSTM unicharsets hold neither "•" nor "▪"), so a bullet comes out as whatever it looks most like: "e", "¢", "©",
"+", "=", "«" (OCRmyPDF's text has the same). A bullet is found instead by its shape, after the reading: the first
"word" of a line of text, one character, a solid blob about as wide as it is high and smaller than the line,
then written as "•" (round) or "▪" (square) into the page's text and hOCR.

The page PDF's invisible text keeps Tesseract's character: it is rendered in the same pass as the reading.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from services.common.manifest import INK_BELOW

from .results import levels, text_at

ROUND_BULLET, SQUARE_BULLET = "\u2022", "\u25aa"
# A filled disk covers pi/4 = 0.785 of its box and a square all of it; the letters and hollow signs a line can
# start with (o, e, c, 0, ©, ¢, I, 1) cover well under this (0.26-0.57 measured on real scans).
MIN_FILL = 0.65
# The box of a bullet is about square (a dash, a letter I or a wide sign is not).
ASPECT_RANGE = (0.7, 1.4)
# A bullet is smaller than the text line it leads (a capital letter is ~0.7 of the line's box); a blob as
# tall as its line is a line of its own, not a bullet. Below a few pixels it is dust or a period.
MAX_SHARE_OF_LINE = 0.65
MIN_SIDE_PX = 5
# Each corner (a quarter of the box's side each way) is mostly empty on a disk (about 0.3 filled) and full on a
# square.
CORNER_SHARE = 0.25
SQUARE_CORNER_FILL = 0.75


@dataclass(frozen=True, slots=True)
class Bullet:
    """A bullet Tesseract read as `read`: on the `line`-th non-blank line of the page's text, at `box`."""

    line: int
    box: tuple[int, int, int, int]
    read: str
    glyph: str


def _shape(ink: np.ndarray) -> str | None:
    """The bullet a box of pixels holds, or None when it is not a solid blob."""
    height, width = ink.shape
    if min(height, width) < MIN_SIDE_PX or not ASPECT_RANGE[0] <= width / height <= ASPECT_RANGE[1]:
        return None
    if float(ink.mean()) < MIN_FILL:
        return None
    dy, dx = max(1, round(height * CORNER_SHARE)), max(1, round(width * CORNER_SHARE))
    corners = [ink[:dy, :dx], ink[:dy, -dx:], ink[-dy:, :dx], ink[-dy:, -dx:]]
    square = float(np.mean([c.mean() for c in corners])) >= SQUARE_CORNER_FILL
    return SQUARE_BULLET if square else ROUND_BULLET


def _line_starts(api: Any) -> list[tuple[int, tuple[int, int, int, int], str, tuple[int, int, int, int], int]]:
    """Per non-blank text line: its index, its box, its first word, that word's box, and its word count."""
    from tesserocr import RIL  # late: libtesseract loads after the worker sets OMP_THREAD_LIMIT

    starts = []
    line = -1
    for word in levels(api, RIL.WORD):
        if not word.IsAtBeginningOf(RIL.TEXTLINE):
            continue
        line_text = text_at(word, RIL.TEXTLINE)
        if not line_text.strip():
            continue
        line += 1
        text = text_at(word, RIL.WORD).strip()
        line_box, word_box = word.BoundingBox(RIL.TEXTLINE), word.BoundingBox(RIL.WORD)
        if line_box is not None and word_box is not None:
            starts.append((line, tuple(line_box), text, tuple(word_box), len(line_text.split())))
    return starts


def read_ink(api: Any, image: Path) -> np.ndarray:
    """The pixels Tesseract read from `image` as ink: its own thresholded page (ink 0, paper 255).

    A 1-bit page is its own threshold (Tesseract reads it as it is), taken from the file: tesserocr hands a 1-bit
    page back re-encoded as PNG, 230 ms an A4 page against 40 for a page it thresholded itself.
    """
    with Image.open(image) as img:
        if img.mode == "1":
            return np.asarray(img.convert("L")) < INK_BELOW
    return np.asarray(api.GetThresholdedImage().convert("L")) < INK_BELOW


def find_bullets(api: Any, image: Path) -> list[Bullet]:
    """The bullets of the page `api` has just recognised from `image` (its results and the ink it read)."""
    candidates = [
        (line, box, text, line_box)
        for line, line_box, text, box, words in _line_starts(api)
        # One character, with text after it on the line, and clearly smaller than the line.
        if len(text) == 1 and words > 1 and box[3] - box[1] <= MAX_SHARE_OF_LINE * (line_box[3] - line_box[1])
    ]
    if not candidates:
        return []
    ink = read_ink(api, image)
    found = []
    for line, box, text, _ in candidates:
        left, top, right, bottom = box
        glyph = _shape(ink[top:bottom, left:right])
        if glyph is not None and glyph != text:
            found.append(Bullet(line, box, text, glyph))
    return found


def fix_text(text: str, bullets: list[Bullet]) -> str:
    """The page's text with each bullet's misreading replaced; a line that is not as expected is left alone."""
    by_line = {b.line: b for b in bullets}
    lines = text.split("\n")
    index = -1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        index += 1
        bullet = by_line.get(index)
        if bullet is not None and line.startswith(bullet.read + " "):
            lines[i] = bullet.glyph + line[len(bullet.read) :]
    return "\n".join(lines)


def fix_hocr(hocr: str, bullets: list[Bullet]) -> str:
    """The page's hOCR with each bullet's word text replaced (found by its box, which is unique on a page)."""
    for b in bullets:
        box = " ".join(str(v) for v in b.box)
        read = re.escape(html.escape(b.read, quote=False))
        word = re.compile(rf"(<span class='ocrx_word'[^>]*title='bbox {box};[^>]*>){read}</span>")
        hocr = word.sub(rf"\g<1>{b.glyph}</span>", hocr, count=1)
    return hocr


def write_bullets(api: Any, outbase: Path, image: Path) -> int:
    """Find the bullets of the reading just made of `image` and write them into its `.txt` and `.hocr`; how many."""
    bullets = find_bullets(api, image)
    if not bullets:
        return 0
    for suffix, fix in ((".txt", fix_text), (".hocr", fix_hocr)):
        path = Path(f"{outbase}{suffix}")
        path.write_text(fix(path.read_text("utf-8"), bullets), "utf-8")
    return len(bullets)
