"""Builds real test documents: text rendered into page images, saved as PDF, PNG, JPEG or TIFF, and bad inputs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

_FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DPI = 300
# A5 at 300 dpi: big enough for Tesseract to read comfortably, small enough to keep tests quick.
PAGE_SIZE = (1748, 2480)


def font(size: int = 56) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if _FONT_PATH.exists():
        return ImageFont.truetype(str(_FONT_PATH), size)
    return ImageFont.load_default(size)


def page_image(
    lines: Sequence[str],
    size: tuple[int, int] = PAGE_SIZE,
    rotate: int = 0,
    font_size: int = 56,
    blur: float = 0.0,
) -> Image.Image:
    """A white page with `lines` of black text, optionally blurred or rotated by `rotate` degrees."""
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    f = font(font_size)
    y = 160
    for line in lines:
        draw.text((140, y), line, fill=0, font=f)
        y += int(font_size * 1.6)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if rotate:
        img = img.rotate(rotate, expand=True, fillcolor=255)
    return img


def write_pdf(path: Path, pages: Sequence[Image.Image], dpi: float = DPI) -> Path:
    """A scanned-looking PDF: one image per page, at 300 dpi unless told (the page size follows)."""
    first, *rest = [p.convert("RGB") for p in pages]
    first.save(path, "PDF", resolution=dpi, save_all=True, append_images=rest)
    return path


def write_image(path: Path, page: Image.Image, **save_args: object) -> Path:
    page.save(path, dpi=(DPI, DPI), **save_args)
    return path


def write_tiff(path: Path, pages: Sequence[Image.Image]) -> Path:
    first, *rest = pages
    first.save(path, "TIFF", dpi=(DPI, DPI), save_all=True, append_images=rest, compression="tiff_deflate")
    return path


def write_encrypted_pdf(path: Path, pages: Sequence[Image.Image], password: str = "secret") -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = io.BytesIO()
    first, *rest = [p.convert("RGB") for p in pages]
    first.save(plain, "PDF", resolution=DPI, save_all=True, append_images=rest)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain.getvalue())))
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-256")
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def write_truncated_pdf(path: Path, pages: Sequence[Image.Image]) -> Path:
    buf = io.BytesIO()
    pages[0].convert("RGB").save(buf, "PDF", resolution=DPI)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    return path


def write_pixel_bomb(path: Path, side: int = 30000) -> Path:
    """A tiny PNG that decodes to `side` x `side` pixels (a decompression bomb)."""
    Image.new("1", (side, side), 1).save(path, optimize=True)
    return path


# --- PDFs with text of their own (PDFium's page-object API: no PDF writer needed beyond the one we ship) ---------

POINTS_PER_INCH = 72.0
INVISIBLE = 3  # PDF text render mode: neither fill nor stroke, how OCR layers are drawn


def _embedded_font(doc, font_file: Path):
    import ctypes

    import pypdfium2.raw as pdfium_c

    data = font_file.read_bytes()
    buffer = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
    return pdfium_c.FPDFText_LoadFont(doc.raw, buffer, len(data), pdfium_c.FPDF_FONT_TRUETYPE, 1)


def _add_text_lines(doc, page, lines: Sequence[str], size_pt: float, invisible: bool, top_pt: float, pitch_pt: float,
                    font=None):  # fmt: skip
    import ctypes

    import pypdfium2.raw as pdfium_c

    font = font or pdfium_c.FPDFText_LoadStandardFont(doc.raw, b"Helvetica")
    for n, line in enumerate(lines):
        obj = pdfium_c.FPDFPageObj_CreateTextObj(doc.raw, font, size_pt)
        text = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(text, ctypes.POINTER(ctypes.c_ushort)))
        if invisible:
            pdfium_c.FPDFTextObj_SetTextRenderMode(obj, INVISIBLE)
        pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 36, top_pt - pitch_pt * (n + 1))
        pdfium_c.FPDFPage_InsertObject(page.raw, obj)
    pdfium_c.FPDFPage_GenerateContent(page.raw)


def write_text_pdf(
    path: Path, pages: Sequence[Sequence[str]], size_pt: float = 14, font_file: Path | None = None
) -> Path:
    """A born-digital PDF: each page's lines as visible text on an A5 page, no image.

    In Helvetica (a standard font, not embedded), or in the TrueType `font_file`, embedded once and shared by
    every page as PDF writers do.
    """
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    font = _embedded_font(doc, font_file) if font_file else None
    width_pt, height_pt = (PAGE_SIZE[0] * POINTS_PER_INCH / DPI, PAGE_SIZE[1] * POINTS_PER_INCH / DPI)
    for lines in pages:
        page = doc.new_page(width_pt, height_pt)
        _add_text_lines(doc, page, lines, size_pt, False, height_pt - 36, size_pt * 1.6, font)
    doc.save(path)
    doc.close()
    return path


def write_ocr_layer_pdf(path: Path, image: Image.Image, layer: Sequence[str], band_pt: float | None = None) -> Path:
    """A scan with a text layer: `image` as the page, `layer` as invisible text over it (as OCR tools write).

    The layer's lines are spread over the page, like an OCR layer of a full page; with `band_pt`, they are packed
    into a band that tall at the top instead (a scanner's header or stamp over the image).
    """
    import pypdfium2 as pdfium

    scan = io.BytesIO()
    image.convert("RGB").save(scan, "PDF", resolution=DPI)
    doc = pdfium.PdfDocument(scan.getvalue())
    page = doc[0]
    width_pt, height_pt = page.get_size()
    pitch_pt = band_pt / len(layer) if band_pt else height_pt / (len(layer) + 1)
    _add_text_lines(doc, page, layer, min(pitch_pt / 1.6, 24.0), invisible=True, top_pt=height_pt, pitch_pt=pitch_pt)
    doc.save(path)
    doc.close()
    return path


SAMPLE_FR = ["Le château de la forêt", "Élève très doué à l'école", "Numéro 42 sur la façade"]
SAMPLE_EN = ["The quick brown fox", "jumps over the lazy dog", "Invoice number 1234"]


def photographed_page(lines: Sequence[str], size: tuple[int, int] = PAGE_SIZE, font_size: int = 56) -> Image.Image:
    """A phone photo of a page: gray paper lit unevenly, slightly turned, on a dark table filling the margins."""
    page = page_image(lines, size=size, font_size=font_size)
    width, height = page.size
    # Paper 215 under the light, 165 in the far corner; ink 60: the contrast a photo of a printed page has.
    light = np.linspace(215, 165, width, dtype=np.float32)[None, :] * np.linspace(1.0, 0.9, height)[:, None]
    ink = np.asarray(page, dtype=np.float32) / 255.0
    paper = Image.fromarray((60 + (light - 60) * ink).astype(np.uint8), "L")
    turned = paper.rotate(1.5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=25)
    margin_x, margin_y = width // 6, height // 8
    table = Image.new("L", (turned.width + 2 * margin_x, turned.height + 2 * margin_y), 25)
    table.paste(turned, (margin_x, margin_y))
    noise = np.random.default_rng(7).normal(0, 6, (table.height, table.width))
    photo = np.clip(np.asarray(table.filter(ImageFilter.GaussianBlur(1.0)), dtype=np.float32) + noise, 0, 255)
    return Image.fromarray(photo.astype(np.uint8), "L")


def bulleted_page(
    items: Sequence[tuple[str, str]], size: tuple[int, int] = PAGE_SIZE, font_size: int = 40
) -> Image.Image:
    """A list: each item is (mark, text), the mark `round` or `square` drawn as a solid bullet before the text, or
    any other string written as the line's first word (a letter, say, that must stay one)."""
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    f = font(font_size)
    y, side = 160, font_size * 2 // 5
    for mark, text in items:
        # A bullet sits at the height of the lowercase letters' middle, as typesetters place it.
        top = y + font_size // 2 - side // 2 + font_size // 8
        if mark == "round":
            draw.ellipse((140, top, 140 + side, top + side), fill=0)
        elif mark == "square":
            draw.rectangle((140, top, 140 + side, top + side), fill=0)
        else:
            text = f"{mark} {text}"
        draw.text((140 + (2 * side if mark in ("round", "square") else 0), y), text, fill=0, font=f)
        y += int(font_size * 1.6)
    return img


TWO_COLUMNS = (
    ["Recording a sequence is simple", "press record and play the keys", "then listen to what you played",
     "every note stays where it was", "and timing errors are corrected"] * 3,
    ["Editing is just as easy to do", "hold erase and press the note", "before it plays in the sequence",
     "and it is gone when played back", "the rest of the song is kept"] * 3,
)  # fmt: skip
FULL_WIDTH = [
    "Simple to learn operation with a clear display that guides you through every step",
    "Recording never erases the notes that are already in the sequence you are playing",
]


def two_column_page(heading: str, size: tuple[int, int] = (2000, 1800), font_size: int = 34) -> Image.Image:
    """Two columns of text (their lines out of step, as in print), then under the left one a heading that opens
    the full-width text below both: Tesseract reads the heading as the left column's end."""
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    f, pitch = font(font_size), int(font_size * 1.5)
    y = 100
    for left, right in zip(*TWO_COLUMNS, strict=True):
        draw.text((100, y), left, fill=0, font=f)
        draw.text((1050, y + pitch // 3), right, fill=0, font=f)
        y += pitch
    y += int(font_size * 1.6)
    draw.text((100, y), heading, fill=0, font=font(font_size + 6))
    y += pitch
    for line in FULL_WIDTH:
        draw.text((100, y), line, fill=0, font=f)
        y += pitch
    return img
