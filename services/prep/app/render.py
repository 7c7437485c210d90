"""Decoding: PDF pages rendered by pdfium, images decoded by Pillow, every page checked against the pixel budget.

Every check that can be made before decoding pixels is: page sizes in points for PDFs, header dimensions for
images (Pillow's decompression-bomb guard is set from the same budget), and the page count, so a hostile file
costs milliseconds, not gigabytes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageOps

from services.common.errors import BadDocument

from .sniff import Format

POINTS_PER_INCH = 72.0
# Images carry no resolution, or a nonsense one (72 is a screen default cameras and phones write): outside this
# range the tag is ignored and the page is taken as a 300 dpi scan, the most common office setting.
ASSUMED_IMAGE_DPI = 300.0
PLAUSIBLE_DPI = (100.0, 1200.0)
# pdfium's error codes (FPDF_ERR_*) that have a plain-language meaning for the person who sent the file.
PDFIUM_ERR_PASSWORD = 4
PDFIUM_ERR_SECURITY = 6
# A zero-page PDF is refused by pdfium as a format error; this tells it apart for a clearer message.
_EMPTY_PAGE_TREE = re.compile(rb"/Count\s+0\b")
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![s\w])")
EMPTY_PDF_SCAN_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """How big a document may be, and the resolution PDF pages are rendered at."""

    dpi: int = 300
    max_page_pixels: int = 40_000_000
    max_pages: int = 2000


@dataclass(frozen=True, slots=True)
class Page:
    """One decoded page: 8-bit grayscale pixels, their resolution, and what a person should know about them."""

    image: Image.Image
    dpi: float
    warnings: tuple[str, ...] = ()


def _check_pixels(width: float, height: float, page: int, limits: Limits, what: str) -> None:
    if width * height > limits.max_page_pixels:
        raise BadDocument(
            f"page {page} is {width:.0f} x {height:.0f} pixels{what}, over the limit of "
            f"{limits.max_page_pixels:,} pixels per page (PREP_MAX_PAGE_PIXELS)"
        )


def _too_many_pages(count: str, limits: Limits) -> BadDocument:
    return BadDocument(f"the document has {count} pages, over the limit of {limits.max_pages} (PREP_MAX_PAGES)")


# --- PDF ---------------------------------------------------------------------------------------------------------


def _pdf_error(path: Path, error: pdfium.PdfiumError) -> BadDocument:
    code = getattr(error, "err_code", None)
    if code in (PDFIUM_ERR_PASSWORD, PDFIUM_ERR_SECURITY):
        return BadDocument("the PDF is password-protected: send a copy without a password")
    with open(path, "rb") as fh:
        head = fh.read(EMPTY_PDF_SCAN_BYTES)
    if _EMPTY_PAGE_TREE.search(head) and not _PAGE_OBJECT.search(head):
        return BadDocument("the PDF has no pages")
    return BadDocument(f"the PDF is damaged or truncated and cannot be read ({error})")


def open_pdf(path: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        raise _pdf_error(path, e) from e


def inspect_pdf(path: Path, limits: Limits) -> int:
    """The page count, after checking each page's size at the render resolution without rendering it."""
    doc = open_pdf(path)
    try:
        count = len(doc)
        if count == 0:
            raise BadDocument("the PDF has no pages")
        if count > limits.max_pages:
            raise _too_many_pages(str(count), limits)
        scale = limits.dpi / POINTS_PER_INCH
        for index in range(count):
            width_pt, height_pt = doc.get_page_size(index)
            _check_pixels(width_pt * scale, height_pt * scale, index + 1, limits, f" at {limits.dpi} dpi")
        return count
    finally:
        doc.close()


def render_pdf_page(path: Path, index: int, limits: Limits) -> Page:
    doc = open_pdf(path)
    try:
        page = doc[index]
        width_pt, height_pt = page.get_size()
        scale = limits.dpi / POINTS_PER_INCH
        _check_pixels(width_pt * scale, height_pt * scale, index + 1, limits, f" at {limits.dpi} dpi")
        try:
            bitmap = page.render(scale=scale, grayscale=True)
        except pdfium.PdfiumError as e:
            raise BadDocument(f"page {index + 1} of the PDF cannot be rendered ({e})") from e
        image = bitmap.to_pil()
        return Page(image.convert("L") if image.mode != "L" else image.copy(), float(limits.dpi))
    finally:
        doc.close()


# --- images ------------------------------------------------------------------------------------------------------


def _open_guarded(path: Path, limits: Limits) -> Image.Image:
    """Image.open with Pillow's bomb guard set from the budget (and put back: other code may share the process)."""
    previous = Image.MAX_IMAGE_PIXELS
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both must stop us before decoding.
    Image.MAX_IMAGE_PIXELS = limits.max_page_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = previous


@contextmanager
def open_image(path: Path, limits: Limits) -> Iterator[Image.Image]:
    """Open (headers only) within the pixel budget; decode errors become BadDocument."""
    try:
        with _open_guarded(path, limits) as img:
            yield img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise BadDocument(
            f"the image is too large: {size}, over the limit of {limits.max_page_pixels:,} pixels per page "
            "(PREP_MAX_PAGE_PIXELS)"
        ) from e
    except BadDocument:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated or corrupt data as OSError/SyntaxError/ValueError, depending on the codec.
        raise BadDocument(f"the image is damaged or truncated and cannot be read ({e})") from e


def _seek(img: Image.Image, index: int) -> bool:
    try:
        img.seek(index)
    except EOFError:
        return False
    return True


def inspect_image(path: Path, limits: Limits) -> int:
    """The frame count (walking at most PREP_MAX_PAGES + 1 frames), after checking each frame's size."""
    with open_image(path, limits) as img:
        count = 0
        while count <= limits.max_pages and _seek(img, count):
            _check_pixels(img.width, img.height, count + 1, limits, "")
            count += 1
        if count > limits.max_pages:
            raise _too_many_pages(f"more than {limits.max_pages}", limits)
        return count


def image_dpi(img: Image.Image) -> tuple[float, tuple[str, ...]]:
    raw = img.info.get("dpi")
    try:
        dpi = float(raw[0]) if raw else 0.0
    except (TypeError, ValueError, IndexError):
        dpi = 0.0
    if PLAUSIBLE_DPI[0] <= dpi <= PLAUSIBLE_DPI[1]:
        return round(dpi, 2), ()
    if dpi:
        return ASSUMED_IMAGE_DPI, (f"the image says {dpi:g} dpi, which is implausible for a scan: assumed 300 dpi",)
    return ASSUMED_IMAGE_DPI, ()


def to_gray(img: Image.Image) -> Image.Image:
    """8-bit grayscale; transparency becomes white paper (not black), 16-bit samples keep their range."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        samples = np.asarray(img, dtype=np.float64)
        top = max(float(samples.max()), 1.0)
        return Image.fromarray((samples * (255.0 / top)).clip(0, 255).astype(np.uint8), "L")
    if img.mode == "L":
        return img
    if "A" in img.getbands() or "transparency" in img.info:
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("L")
    return img.convert("L")


def render_image_page(path: Path, index: int, limits: Limits) -> Page:
    with open_image(path, limits) as img:
        if not _seek(img, index):
            raise BadDocument(f"the image has no page {index + 1}")
        _check_pixels(img.width, img.height, index + 1, limits, "")
        dpi, notes = image_dpi(img)
        try:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return Page(to_gray(upright), dpi, notes)
        except (OSError, SyntaxError, ValueError) as e:
            raise BadDocument(f"page {index + 1} of the image is damaged or truncated ({e})") from e


# --- either ------------------------------------------------------------------------------------------------------


def count_pages(path: Path, fmt: Format, limits: Limits) -> int:
    """The number of pages, or BadDocument when the document breaks a limit or cannot be opened."""
    return inspect_pdf(path, limits) if fmt is Format.PDF else inspect_image(path, limits)


def render_page(path: Path, fmt: Format, index: int, limits: Limits) -> Page:
    """Page `index` (0-based) as 8-bit grayscale, upright."""
    if fmt is Format.PDF:
        return render_pdf_page(path, index, limits)
    return render_image_page(path, index, limits)
