"""Sample documents for a first `make run`: a French PDF, an English PNG and a two-page TIFF, rendered here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DPI = 300
# A5 at 300 dpi: readable for Tesseract, quick for a demo.
PAGE_SIZE = (1748, 2480)

FRENCH = [
    "Facture n° 2024-117",
    "Le château de la forêt a été rénové",
    "Élève très doué à l'école primaire",
    "Montant à régler : 1 250,00 €",
]
ENGLISH = [
    "Quarterly report",
    "The quick brown fox jumps over the lazy dog",
    "Revenue grew by twelve percent",
    "Please reply before Friday",
]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT_PATH.exists():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size)


def render_page(lines: Sequence[str], size: tuple[int, int] = PAGE_SIZE, font_size: int = 56) -> Image.Image:
    """A white grayscale page with `lines` of black text."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    face = font(font_size)
    for i, line in enumerate(lines):
        draw.text((140, 160 + int(i * font_size * 1.6)), line, fill=0, font=face)
    return page


def write_samples(inbox: Path) -> list[Path]:
    inbox.mkdir(parents=True, exist_ok=True)
    french, english = render_page(FRENCH), render_page(ENGLISH)
    pdf = inbox / "facture-exemple.pdf"
    french.convert("RGB").save(pdf, "PDF", resolution=DPI, save_all=True, append_images=[english.convert("RGB")])
    png = inbox / "quarterly-report.png"
    english.save(png, dpi=(DPI, DPI))
    tiff = inbox / "scan-two-pages.tiff"
    # A fresh copy: Pillow keeps the PNG save options on `english` and would pass them to the TIFF encoder.
    french.rotate(1.5, expand=True, fillcolor=255).save(
        tiff, "TIFF", dpi=(DPI, DPI), save_all=True, append_images=[english.copy()], compression="tiff_deflate"
    )
    return [pdf, png, tiff]
