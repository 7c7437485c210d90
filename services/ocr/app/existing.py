"""A page that keeps its own text (prep found a text layer, PREP_EXISTING_TEXT): outputs without recognition.

The page's characters are read from the source PDF with PDFium, walked into lines and words with their boxes,
and written as the page's .txt and .hocr, then its .json, last as always. No page PDF: document.pdf takes the
original page straight from the source (see document.py), fonts and vector text as they were.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from services.common.atomic import atomic_write_bytes
from services.common.manifest import TEXT_EXISTING

from .hocr import Box, Word, render_hocr, union
from .page import PageResult, PageTask, hocr_path, text_path, write_result

POINTS_PER_INCH = 72.0


@dataclass(frozen=True, slots=True)
class _Geometry:
    """From PDF user space (points, origin bottom left, before /Rotate) to pixels of the page as displayed."""

    left: float
    bottom: float
    width: float
    height: float
    rotation: int  # /Rotate: 0, 90, 180 or 270, clockwise
    scale: float  # pixels per point

    def _point(self, x: float, y: float) -> tuple[float, float]:
        x, y = x - self.left, y - self.bottom
        if self.rotation == 90:
            return y, x
        if self.rotation == 180:
            return self.width - x, y
        if self.rotation == 270:
            return self.height - y, self.width - x
        return x, self.height - y

    def box(self, charbox: tuple[float, float, float, float]) -> Box:
        left, bottom, right, top = charbox
        (u0, v0), (u1, v1) = self._point(left, bottom), self._point(right, top)
        s = self.scale
        return round(min(u0, u1) * s), round(min(v0, v1) * s), round(max(u0, u1) * s), round(max(v0, v1) * s)


def _geometry(page: pdfium.PdfPage, dpi: float) -> _Geometry:
    left, bottom, right, top = page.get_bbox()  # MediaBox within CropBox, unrotated
    return _Geometry(left, bottom, right - left, top - bottom, page.get_rotation() % 360, dpi / POINTS_PER_INCH)


class _Walk:
    """Characters in reading order (PDFium's), grouped into words on blanks and into lines on line breaks."""

    def __init__(self) -> None:
        self.lines: list[list[Word]] = [[]]
        self._chars: list[str] = []
        self._boxes: list[Box] = []

    def end_word(self) -> None:
        if self._chars:
            self.lines[-1].append(Word("".join(self._chars), union(self._boxes)))
            self._chars, self._boxes = [], []

    def add(self, char: str, box: Box | None) -> None:
        if char in "\r\n":
            self.end_word()
            if char == "\n" and self.lines[-1]:
                self.lines.append([])
        elif char.isspace() or not char.isprintable():
            self.end_word()
        else:
            self._chars.append(char)
            if box is not None:
                self._boxes.append(box)
            elif not self._boxes:
                self._boxes.append((0, 0, 0, 0))


def read_words(pdf: Path, index: int, dpi: float) -> tuple[tuple[int, int], list[list[Word]]]:
    """Page `index`'s size in pixels at `dpi` and its lines of words (boxes in those pixels, origin top left)."""
    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[index]
        width_pt, height_pt = page.get_size()  # as displayed (after /Rotate), like the hOCR's page box
        geometry = _geometry(page, dpi)
        textpage = page.get_textpage()
        walk = _Walk()
        for i in range(textpage.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i))
            generated = pdfium_c.FPDFText_IsGenerated(textpage.raw, i) == 1
            walk.add(char, None if generated else geometry.box(textpage.get_charbox(i)))
        walk.end_word()
        textpage.close()
        size_px = (round(width_pt * geometry.scale), round(height_pt * geometry.scale))
        return size_px, [line for line in walk.lines if line]
    finally:
        doc.close()


def write_existing(task: PageTask) -> PageResult:
    """Outputs of a page whose text is taken from the PDF; no Tesseract involved."""
    started = time.perf_counter()
    size_px, lines = read_words(task.image, task.page - 1, task.dpi)
    text = "\n".join(" ".join(w.text for w in line) for line in lines)
    atomic_write_bytes(text_path(task.out_dir, task.page), (text + "\n" if text else "").encode("utf-8"))
    atomic_write_bytes(hocr_path(task.out_dir, task.page), render_hocr(size_px, task.dpi, lines).encode())
    result = PageResult(
        page=task.page,
        ok=True,
        confidence=None,
        words=sum(len(line) for line in lines),
        duration_s=round(time.perf_counter() - started, 3),
        text=TEXT_EXISTING,
        text_layer=task.text_layer,
    )
    write_result(task.out_dir, result)
    return result
