"""One decoded page made ready for Tesseract: dark borders painted out, cleaned, and sized by its own text.

The page is cleaned at the scale it was decoded at, its text measured on the clean result, and only when the
x-height is outside what Tesseract reads well is it scaled and cleaned again: pages already at a good scale (the
common case) pay for the measurement alone, about 2 % of their prep time. The page as decoded, at the same final
scale, is kept beside it as the fallback the OCR service reads when the clean page reads worse.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .border import paint_dark_border
from .normalise import Options, normalise_page, remove_specks
from .render import Page
from .textsize import TextSize, measure_text, text_scale

# The resolution Tesseract is told, and the clean-up sizes its filters by, stays in this range: outside it the
# figure is a wrong tag or a page scaled to its text (a 2400 dpi tag on a typewriter page read best at 600,
# where Tesseract's layout thresholds fit the text; measured in bench/README.md).
WORKING_DPI = (150.0, 600.0)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A clean page, the decoded page at the same scale, and what was measured and done on the way."""

    image: Image.Image
    raw: Image.Image
    dpi: float
    skew_deg: float
    scale: float = 1.0
    text: TextSize | None = None
    border_share: float = 0.0
    # The pixels' resolution on the source page, before `dpi` was kept within WORKING_DPI.
    paper_dpi: float = 0.0


def working_dpi(dpi: float) -> float:
    low, high = WORKING_DPI
    return round(min(max(dpi, low), high), 2)


def _clean(gray: Image.Image, dpi: float, options: Options) -> tuple[Image.Image, float, float]:
    border_share = 0.0
    if options.clean:
        gray, border_share = paint_dark_border(gray)
    clean, skew_deg = normalise_page(gray, dpi, options)
    return clean, skew_deg, border_share


def _resize(img: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    # Lanczos keeps strokes sharp when enlarging; a box filter averages without aliasing when shrinking.
    resample = Image.Resampling.LANCZOS if factor > 1 else Image.Resampling.BOX
    return img.resize(size, resample)


def _without_dust(clean: Image.Image, text: TextSize, factor: float, options: Options) -> Image.Image:
    # Dust is told from dots and periods by the text's size: only on a black-and-white page whose text was measured.
    if not (options.denoise and options.binarize) or text.x_height_px is None:
        return clean
    return remove_specks(clean, text.x_height_px * factor)


def prepare_page(page: Page, options: Options, max_pixels: int) -> Prepared:
    """Clean `page`; with `options.text_scale`, scale it first when its text is too small or too large."""
    gray, dpi = page.image, working_dpi(page.dpi)
    clean, skew_deg, border_share = _clean(gray, dpi, options)
    if not options.text_scale or not options.clean:
        if options.clean and options.denoise and options.binarize:
            clean = _without_dust(clean, measure_text(clean), 1.0, options)
        return Prepared(clean, gray, dpi, skew_deg, border_share=border_share, paper_dpi=page.dpi)
    text = measure_text(clean)
    factor = text_scale(text, gray.width * gray.height, max_pixels)
    if factor == 1.0:
        clean = _without_dust(clean, text, 1.0, options)
        return Prepared(clean, gray, dpi, skew_deg, 1.0, text, border_share, page.dpi)
    gray = _resize(gray, factor)
    dpi = working_dpi(page.dpi * factor)
    clean, skew_deg, border_share = _clean(gray, dpi, options)
    clean = _without_dust(clean, text, factor, options)
    return Prepared(clean, gray, dpi, skew_deg, factor, text, border_share, round(page.dpi * factor, 2))
