"""Text a PDF page already has (born-digital text, or an OCR layer), and whether to use it rather than OCR the page.

What "has text" means, decided from the page's objects (no rendering, a few milliseconds a page):

- A page without a scanned image (no image covering half of it) has text when it has any non-blank character:
  born-digital text is exact, OCR of it could only lose something.
- A page that is a scan (an image covers half of it or more) has text only when the text spans more than a
  header band (`MIN_SCAN_TEXT_SPREAD` of the page height) and has at least `MIN_SCAN_TEXT_CHARS` characters.
  A scanner's stamp, a Bates number or a "page 2 of 5" footer over a scanned image is not the page's text:
  skipping OCR there would lose the whole body. The cost of the other mistake (OCR a page whose layer was
  fine) is only time, so doubt resolves towards OCR.
- Invisible characters (text render mode 3, how OCR layers are drawn) count like visible ones; the majority
  decides whether the layer is an OCR layer (`invisible`) or born-digital (`visible`), which `redo` tells apart.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

# An image covering at least this share of the page makes it a scanned page.
SCAN_IMAGE_COVER = 0.5
# On a scanned page, text confined to a band under a fifth of the page height is a header, footer or stamp.
MIN_SCAN_TEXT_SPREAD = 0.2
MIN_SCAN_TEXT_CHARS = 20
# PDF text render mode 3: neither filled nor stroked, i.e. invisible (OCR layers, Tesseract's and others').
INVISIBLE_RENDER_MODE = 3


class TextMode(StrEnum):
    """What to do with a page that already has text (PREP_EXISTING_TEXT), after OCRmyPDF's modes."""

    SKIP = "skip"  # use the page's text and keep the original page; OCR only pages without text
    REDO = "redo"  # OCR again pages whose text is an (invisible) OCR layer; keep born-digital text
    FORCE = "force"  # OCR every page from its rendering, whatever text it has


class LayerKind(StrEnum):
    """The text a page was found to have (the manifest's `textLayer`)."""

    NONE = "none"  # no text (or only a header/stamp over a scan)
    INVISIBLE = "invisible"  # mostly invisible text: an OCR layer
    VISIBLE = "visible"  # mostly visible text: born-digital


@dataclass(frozen=True, slots=True)
class TextLayer:
    kind: LayerKind
    chars: int  # non-blank characters of the page's text objects
    scanned: bool  # an image covers most of the page
    size_pt: tuple[float, float] = (0.0, 0.0)


NO_LAYER = TextLayer(LayerKind.NONE, 0, False)


def reuses_text(layer: TextLayer, mode: TextMode) -> bool:
    """Whether the page keeps its own text (and its original page in the PDF) instead of being OCRed."""
    if mode is TextMode.FORCE or layer.kind is LayerKind.NONE:
        return False
    return mode is TextMode.SKIP or layer.kind is LayerKind.VISIBLE


def _object_text(obj: pdfium.PdfObject, textpage: pdfium.PdfTextPage) -> str:
    size = pdfium_c.FPDFTextObj_GetText(obj.raw, textpage.raw, None, 0)  # bytes, UTF-16LE with a terminator
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDFTextObj_GetText(obj.raw, textpage.raw, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)), size)
    return buffer.raw.decode("utf-16-le", errors="replace").rstrip("\x00")


def _spread(bands: list[tuple[float, float]], page_height: float) -> float:
    return (max(top for _, top in bands) - min(bottom for bottom, _ in bands)) / page_height if bands else 0.0


def _survey(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> tuple[int, int, float, float]:
    """Non-blank characters (all, invisible), the text's vertical spread and the largest image's page cover."""
    width, height = page.get_size()
    area = max(width * height, 1.0)
    chars = invisible = 0
    cover = 0.0
    bands: list[tuple[float, float]] = []
    for obj in page.get_objects(max_depth=3):  # form XObjects nest their content
        left, bottom, right, top = obj.get_bounds()
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            cover = max(cover, (right - left) * (top - bottom) / area)
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT:
            count = sum(1 for c in _object_text(obj, textpage) if not c.isspace())
            if count:
                chars += count
                bands.append((bottom, top))
                if pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw) == INVISIBLE_RENDER_MODE:
                    invisible += count
    return chars, invisible, _spread(bands, max(height, 1.0)), cover


def read_text_layer(page: pdfium.PdfPage) -> TextLayer:
    """What text the page has, by the rules in the module docstring."""
    textpage = page.get_textpage()
    try:
        chars, invisible, spread, cover = _survey(page, textpage)
    finally:
        textpage.close()
    scanned = cover >= SCAN_IMAGE_COVER
    counts = chars > 0 and (not scanned or (spread >= MIN_SCAN_TEXT_SPREAD and chars >= MIN_SCAN_TEXT_CHARS))
    width_pt, height_pt = page.get_size()
    kind = LayerKind.INVISIBLE if 2 * invisible >= chars else LayerKind.VISIBLE
    return TextLayer(kind if counts else LayerKind.NONE, chars, scanned, (float(width_pt), float(height_pt)))


def read_source_layer(source: Path, index: int) -> TextLayer:
    """The text layer of page `index` (0-based) of a PDF the caller has already checked opens."""
    doc = pdfium.PdfDocument(str(source))
    try:
        return read_text_layer(doc[index])
    finally:
        doc.close()
