"""Decoding: PDF pages rendered by pdfium, images decoded by Pillow, every page checked against the pixel budget.

Every check that can be made before decoding pixels is: page sizes in points for PDFs, header dimensions for
images (Pillow's decompression-bomb guard is set from the same budget), and the page count, so a hostile file
costs milliseconds, not gigabytes.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps

from services.common.errors import BadDocument

from .sniff import Format

POINTS_PER_INCH = 72.0
# Images carry no resolution, or a nonsense one (72 is a screen default cameras and phones write): outside this
# range the tag is ignored and the page is taken as a 300 dpi scan, the most common office setting.
ASSUMED_IMAGE_DPI = 300.0
PLAUSIBLE_DPI = (100.0, 1200.0)
# An image-only PDF page is rendered at its image's resolution when finer than PREP_DPI (a 2400 dpi page rendered
# at 300 dpi is a thumbnail), up to this: beyond it the text is sized by the page itself (textsize.py).
MAX_NATIVE_DPI = 2400.0
# A scan barely finer than PREP_DPI is rendered at PREP_DPI: a few per cent more pixels read no better.
NATIVE_DPI_MARGIN = 1.1
# The image must cover this share of the page for the page to count as a scan.
MIN_IMAGE_COVER = 0.5
# A page that is one image over the whole page, with exactly the rendered page's pixels, is taken as decoded
# when the image is gray or RGB (pdfium converts calibrated and ICC-based images to RGB when it decodes them)...
DIRECT_COLORSPACES = (
    pdfium_c.FPDF_COLORSPACE_DEVICEGRAY, pdfium_c.FPDF_COLORSPACE_DEVICERGB, pdfium_c.FPDF_COLORSPACE_CALGRAY,
    pdfium_c.FPDF_COLORSPACE_CALRGB, pdfium_c.FPDF_COLORSPACE_ICCBASED,
)  # fmt: skip
# ...and its edges lie within this much of the page's.
WHOLE_PAGE_SLACK_PT = 0.5
# An image over the pixel budget is decoded and scaled down to it, up to this many times the budget (memory:
# an RGB image twice the 40 Mpx default is 240 MB while it is decoded); beyond, it is refused before decoding.
DECODE_LIMIT_FACTOR = 2
# Fitting a page to the budget: a step down of 0.1 % at a time, from the exact solution (a pixel or two over).
FIT_STEP = 0.999
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


def decode_limit(limits: Limits) -> int:
    """The most pixels an image page may decode to before it is scaled down to the budget."""
    return limits.max_page_pixels * DECODE_LIMIT_FACTOR


def _check_pixels(width: float, height: float, page: int, limits: Limits) -> None:
    if width * height > decode_limit(limits):
        raise BadDocument(
            f"page {page} is {width:.0f} x {height:.0f} pixels, over {DECODE_LIMIT_FACTOR} times the limit of "
            f"{limits.max_page_pixels:,} pixels per page (PREP_MAX_PAGE_PIXELS) that is read scaled down"
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
    """The page count; each page's size is checked when it is rendered, where an oversized one is scaled down."""
    doc = open_pdf(path)
    try:
        count = len(doc)
        if count == 0:
            raise BadDocument("the PDF has no pages")
        if count > limits.max_pages:
            raise _too_many_pages(str(count), limits)
        return count
    finally:
        doc.close()


def image_only_dpi(page: pdfium.PdfPage) -> float | None:
    """The resolution of the scan a page is made of (no text, one image over most of it), else None.

    Pixels over the area the image covers: an image turned by the page (a matrix of 90 degrees) or slightly
    skewed keeps its resolution, and non-square pixels give their geometric mean.
    """
    width_pt, height_pt = page.get_size()
    best: tuple[float, float] | None = None  # (area covered in square points, pixels)
    for obj in page.get_objects():
        if obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT:
            return None
        if obj.type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
            continue
        left, bottom, right, top = obj.get_bounds()
        area = max(0.0, right - left) * max(0.0, top - bottom)
        px_width, px_height = obj.get_px_size()
        if area > 0 and (best is None or area > best[0]):
            best = (area, float(px_width * px_height))
    if best is None or best[0] < MIN_IMAGE_COVER * width_pt * height_pt:
        return None
    return math.sqrt(best[1] / best[0]) * POINTS_PER_INCH


def render_dpi(page: pdfium.PdfPage, number: int, limits: Limits) -> tuple[float, tuple[str, ...]]:
    """PREP_DPI, or the scan's own resolution when it is finer; lowered to fit PREP_MAX_PAGE_PIXELS if need be."""
    width_pt, height_pt = page.get_size()
    native = image_only_dpi(page)
    dpi = float(limits.dpi)
    if native and native > dpi * NATIVE_DPI_MARGIN:
        dpi = round(min(native, MAX_NATIVE_DPI))
    fitting = math.sqrt(limits.max_page_pixels / max(width_pt * height_pt, 1.0)) * POINTS_PER_INCH
    if dpi <= fitting:
        return dpi, ()
    note = (
        f"page {number} is {width_pt * dpi / POINTS_PER_INCH:.0f} x {height_pt * dpi / POINTS_PER_INCH:.0f} pixels "
        f"at {dpi:.0f} dpi, over PREP_MAX_PAGE_PIXELS={limits.max_page_pixels:,}: read at {fitting:.0f} dpi"
    )
    # pdfium rounds the bitmap's sides up: step down until the rounded sides fit too.
    while math.ceil(width_pt * fitting / POINTS_PER_INCH) * math.ceil(height_pt * fitting / POINTS_PER_INCH) > (
        limits.max_page_pixels
    ):
        fitting *= FIT_STEP
    return fitting, (note,)


def _is_whole_page(obj: pdfium.PdfObject, page: pdfium.PdfPage) -> bool:
    """Whether the image is drawn upright over exactly the page's visible box, without transparency."""
    a, b, c, d, _, _ = obj.get_matrix().get()
    if page.get_rotation() or b or c or a <= 0 or d <= 0:
        return False
    bounds, box = obj.get_bounds(), page.get_cropbox()
    return all(abs(x - y) <= WHOLE_PAGE_SLACK_PT for x, y in zip(bounds, box, strict=True)) and not (
        pdfium_c.FPDFPageObj_HasTransparency(obj.raw)
    )


def scan_pixels(page: pdfium.PdfPage, dpi: float) -> Image.Image | None:
    """The page's own image, decoded, when rendering at `dpi` would only copy its pixels: one gray or RGB image,
    8 bits per component, over the whole page, and exactly as many pixels as the rendered page would have.

    The same pixels in a quarter of the time (35 ms against 135 on an A4 scan: rendering decodes the image too,
    then composites it onto the page). Anything else is rendered.
    """
    objects = list(page.get_objects(max_depth=1))
    if len(objects) != 1 or objects[0].type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
        return None
    image = objects[0]
    meta = image.get_metadata()
    if meta.colorspace not in DIRECT_COLORSPACES or meta.bits_per_pixel not in (8, 24):
        return None
    # The rendered page's size as pypdfium2 computes it (sides rounded up): a page a hair over its image's size in
    # points is rendered one pixel larger, resampled, and read a little differently (on real-dev an accent and a
    # few letters either way): that page keeps being rendered, so that this stays a saving of time only.
    width_pt, height_pt = page.get_size()
    scale = dpi / POINTS_PER_INCH
    if (math.ceil(width_pt * scale), math.ceil(height_pt * scale)) != image.get_px_size():
        return None
    if not _is_whole_page(image, page):
        return None
    # The decoded image as stored (pdfium applies its /Decode array); not its mask, excluded above.
    pixels: Image.Image = image.get_bitmap(render=False).to_pil()
    return pixels


def render_pdf_page(path: Path, index: int, limits: Limits) -> Page:
    doc = open_pdf(path)
    try:
        page = doc[index]
        dpi, notes = render_dpi(page, index + 1, limits)
        try:
            image = scan_pixels(page, dpi)
            if image is None:
                image = page.render(scale=dpi / POINTS_PER_INCH, grayscale=True).to_pil()
        except pdfium.PdfiumError as e:
            raise BadDocument(f"page {index + 1} of the PDF cannot be rendered ({e})") from e
        return Page(image.convert("L") if image.mode != "L" else image.copy(), dpi, notes)
    finally:
        doc.close()


# --- images ------------------------------------------------------------------------------------------------------


def _open_guarded(path: Path, limits: Limits) -> Image.Image:
    """Image.open with Pillow's bomb guard set from the budget (and put back: other code may share the process)."""
    previous = Image.MAX_IMAGE_PIXELS
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both must stop us before decoding.
    Image.MAX_IMAGE_PIXELS = decode_limit(limits)
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
            f"the image is too large: {size}, over {DECODE_LIMIT_FACTOR} times the limit of "
            f"{limits.max_page_pixels:,} pixels per page (PREP_MAX_PAGE_PIXELS) that is read scaled down"
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
    """The frame count (walking at most PREP_MAX_PAGES + 1 frames); the first frame's size is checked on opening.

    Later frames are checked when rendered, where one too large to read fails alone.
    """
    with open_image(path, limits) as img:
        count = 0
        while count <= limits.max_pages and _seek(img, count):
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


def _fit_budget(img: Image.Image, dpi: float, number: int, limits: Limits) -> Page:
    """The page as is, or scaled down (its dpi with it, so its size on paper stays) to PREP_MAX_PAGE_PIXELS."""
    pixels = img.width * img.height
    if pixels <= limits.max_page_pixels:
        return Page(img, dpi)
    scale = math.sqrt(limits.max_page_pixels / pixels)
    size = (max(1, math.floor(img.width * scale)), max(1, math.floor(img.height * scale)))
    note = (
        f"page {number} is {img.width} x {img.height} pixels, over PREP_MAX_PAGE_PIXELS="
        f"{limits.max_page_pixels:,}: read scaled down to {size[0]} x {size[1]}"
    )
    return Page(img.resize(size, Image.Resampling.BOX), round(dpi * scale, 2), (note,))


def render_image_page(path: Path, index: int, limits: Limits) -> Page:
    with open_image(path, limits) as img:
        if not _seek(img, index):
            raise BadDocument(f"the image has no page {index + 1}")
        _check_pixels(img.width, img.height, index + 1, limits)
        dpi, notes = image_dpi(img)
        try:
            img.load()
            upright = to_gray(ImageOps.exif_transpose(img))
        except (OSError, SyntaxError, ValueError) as e:
            raise BadDocument(f"page {index + 1} of the image is damaged or truncated ({e})") from e
        page = _fit_budget(upright, dpi, index + 1, limits)
        return Page(page.image, page.dpi, notes + page.warnings)


# --- either ------------------------------------------------------------------------------------------------------


def count_pages(path: Path, fmt: Format, limits: Limits) -> int:
    """The number of pages, or BadDocument when the document breaks a limit or cannot be opened."""
    return inspect_pdf(path, limits) if fmt is Format.PDF else inspect_image(path, limits)


def render_page(path: Path, fmt: Format, index: int, limits: Limits) -> Page:
    """Page `index` (0-based) as 8-bit grayscale, upright."""
    if fmt is Format.PDF:
        return render_pdf_page(path, index, limits)
    return render_image_page(path, index, limits)
