"""A page that keeps its own text (prep found a text layer, PREP_EXISTING_TEXT): outputs without recognition.

The page's characters are read from the source PDF with PDFium, walked into lines and words with their boxes,
and written as the page's .txt and .hocr, then its .json, last as always. No page PDF: document.pdf takes the
original page straight from the source (see document.py), fonts and vector text as they were.
"""

from __future__ import annotations

import time
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from services.common.atomic import atomic_write_bytes
from services.common.manifest import TEXT_EXISTING

from .hocr import Box, Word, render_hocr, union
from .page import PageResult, PageTask, hocr_path, text_path, write_result

POINTS_PER_INCH = 72.0


def _box(charbox: tuple[float, float, float, float], page_height_pt: float, scale: float) -> Box:
    left, bottom, right, top = charbox
    return (round(left * scale), round((page_height_pt - top) * scale), round(right * scale),
            round((page_height_pt - bottom) * scale))  # fmt: skip


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
        width_pt, height_pt = page.get_size()
        scale = dpi / POINTS_PER_INCH
        textpage = page.get_textpage()
        walk = _Walk()
        for i in range(textpage.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i))
            generated = pdfium_c.FPDFText_IsGenerated(textpage.raw, i) == 1
            walk.add(char, None if generated else _box(textpage.get_charbox(i), height_pt, scale))
        walk.end_word()
        textpage.close()
        return (round(width_pt * scale), round(height_pt * scale)), [line for line in walk.lines if line]
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
