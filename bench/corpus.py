"""Generates a seeded corpus of scanned-looking A4 pages (300 dpi) of French and English prose with ground truth.

Each page is rendered clean, then degraded the way a cheap office scanner does it: a slight skew, optical blur,
lower ink/paper contrast, uneven lighting (a gradient plus a vignette), sensor noise, dust specks and JPEG
compression. The output folder holds `corpus.pdf` (one JPEG per page, embedded as-is, at 300 dpi), `page-NNN.png`
(that PDF's pages rendered at 300 dpi by pypdfium2, as OCRmyPDF and our prep render them, so that every system
OCRs the very same pixels), `page-NNN.gt.txt` and `corpus.json`.

Why render the PNGs from the PDF rather than decode the JPEGs directly: PDFium resamples the image while drawing
it, which smooths the sensor noise a little, and Tesseract is so sensitive to noise that this alone took a page from
28% to 8% CER in our first measurements; bare Tesseract on decoded JPEGs would have been an unfair straw man.

    bench/.venv/bin/python bench/corpus.py OUT_DIR [--pages 12] [--seed 1]
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from prose import page_paragraphs

DPI = 300
A4_PX = (2480, 3508)
MARGIN_PX = 230
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSerif.ttf", "DejaVuSans.ttf", "DejaVuSerifCondensed.ttf")
# 10-12 pt body text at 300 dpi (1 pt = 300/72 px).
BODY_FONT_PX = (42, 46, 50)
LINE_SPACING = 1.4
MANIFEST = "corpus.json"
# Bump when the generator changes, so a cached corpus is rebuilt rather than silently reused.
GENERATOR_VERSION = 2


@dataclass(frozen=True, slots=True)
class Degradation:
    """How one page is damaged; drawn from the page's own seeded generator and kept in corpus.json."""

    skew_deg: float
    blur_px: float
    ink: int
    paper: int
    light_gradient: float
    light_vignette: float
    noise_sigma: float
    speck_density: float
    jpeg_quality: int


def draw_degradation(rng: np.random.Generator) -> Degradation:
    return Degradation(
        skew_deg=round(float(rng.uniform(-3.0, 3.0)), 2),
        blur_px=round(float(rng.uniform(0.9, 1.5)), 2),
        ink=int(rng.integers(35, 80)),
        paper=int(rng.integers(232, 250)),
        # Fraction of brightness lost at the dark edge of the gradient and at the corners.
        light_gradient=round(float(rng.uniform(0.12, 0.3)), 2),
        light_vignette=round(float(rng.uniform(0.05, 0.15)), 2),
        noise_sigma=round(float(rng.uniform(10.0, 18.0)), 1),
        # Dust specks per megapixel.
        speck_density=round(float(rng.uniform(400.0, 900.0)), 0),
        jpeg_quality=int(rng.integers(40, 65)),
    )


def font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size_px)


def wrap(text: str, face: ImageFont.FreeTypeFont, width_px: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and face.getlength(candidate) > width_px:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def render_clean(
    paragraphs: list[str], face: ImageFont.FreeTypeFont, title: ImageFont.FreeTypeFont
) -> tuple[Image.Image, str]:
    """Lays paragraphs out until the page is full; returns the image and exactly the text drawn on it."""
    img = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(img)
    width_px = A4_PX[0] - 2 * MARGIN_PX
    line_px = int(face.size * LINE_SPACING)
    bottom = A4_PX[1] - MARGIN_PX
    y = MARGIN_PX
    drawn: list[str] = []
    draw.text((MARGIN_PX, y), paragraphs[0], font=title, fill=0)
    drawn.append(paragraphs[0])
    y += int(title.size * 2.0)
    for paragraph in paragraphs[1:]:
        lines = wrap(paragraph, face, width_px)
        if y + line_px * 2 > bottom:
            break
        kept = []
        for line in lines:
            if y + line_px > bottom:
                break
            draw.text((MARGIN_PX, y), line, font=face, fill=0)
            kept.append(line)
            y += line_px
        drawn.append("\n".join(kept))
        y += line_px // 2
    return img, "\n\n".join(drawn) + "\n"


def lighting(rng: np.random.Generator, d: Degradation) -> np.ndarray:
    """A multiplicative brightness field: a linear ramp in a random direction plus a vignette to the corners."""
    h, w = A4_PX[1], A4_PX[0]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx, yy = xx / w - 0.5, yy / h - 0.5
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (xx * np.cos(theta) + yy * np.sin(theta)) / 0.71 * 0.5 + 0.5
    radius2 = (xx**2 + yy**2) / 0.5
    return 1.0 - d.light_gradient * ramp - d.light_vignette * radius2


def specks(rng: np.random.Generator, shape: tuple[int, int], density_per_mpx: float) -> np.ndarray:
    """Dust: small dark blobs of 1-4 px, the salt-and-pepper of a dirty scanner glass."""
    mask = np.zeros(shape, dtype=bool)
    count = int(density_per_mpx * shape[0] * shape[1] / 1e6)
    ys = rng.integers(0, shape[0] - 4, count)
    xs = rng.integers(0, shape[1] - 4, count)
    sizes = rng.integers(1, 5, count)
    for y, x, s in zip(ys, xs, sizes, strict=True):
        mask[y : y + s, x : x + s] = True
    return mask


def degrade(clean: Image.Image, rng: np.random.Generator, d: Degradation) -> bytes:
    """Returns the scanned page as JPEG bytes (the PNG and the PDF are both made from these exact bytes)."""
    img = clean.rotate(d.skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(d.blur_px))
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = d.ink + (d.paper - d.ink) * a
    a *= lighting(rng, d)
    a += rng.normal(0.0, d.noise_sigma, a.shape).astype(np.float32)
    a[specks(rng, a.shape, d.speck_density)] = d.ink
    out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=d.jpeg_quality, dpi=(DPI, DPI))
    return buf.getvalue()


def write_pdf(jpegs: list[bytes], path: Path) -> None:
    """A minimal PDF with one full-page JPEG per page, embedded as-is (DCTDecode), so no recompression."""
    w_pt, h_pt = A4_PX[0] * 72 / DPI, A4_PX[1] * 72 / DPI
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree, filled in below
    kids = []
    for jpeg in jpegs:
        image_id, content_id, page_id = len(objects) + 1, len(objects) + 2, len(objects) + 3
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
            % (A4_PX[0], A4_PX[1], len(jpeg), jpeg)
        )
        draw = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (w_pt, h_pt)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im0 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (w_pt, h_pt, image_id, content_id)
        )
        kids.append(b"%d 0 R" % page_id)
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def render_pngs(pdf_path: Path, pngs: list[Path]) -> None:
    """The PDF's pages at 300 dpi in grayscale, cropped to A4 (PDFium may round a pixel up)."""
    pdf = pdfium.PdfDocument(pdf_path)
    try:
        for index, png in enumerate(pngs):
            img = pdf[index].render(scale=DPI / 72, grayscale=True).to_pil().convert("L")
            img.crop((0, 0, *A4_PX)).save(png, dpi=(DPI, DPI))
    finally:
        pdf.close()


def make_page(seed: int, number: int) -> tuple[bytes, str, dict[str, object]]:
    rng = np.random.default_rng([seed, number])
    face_name = FONTS[int(rng.integers(len(FONTS)))]
    size_px = int(rng.choice(BODY_FONT_PX))
    language = ("fr", "en", "mixed")[number % 3]
    paragraphs = page_paragraphs(rng, language, number)
    clean, text = render_clean(paragraphs, font(face_name, size_px), font(face_name, int(size_px * 1.5)))
    d = draw_degradation(rng)
    meta = {"page": number, "font": face_name, "font_px": size_px, "language": language, **asdict(d)}
    return degrade(clean, rng, d), text, meta


def generate(folder: Path, pages: int, seed: int) -> list[Path]:
    """Writes the corpus into `folder` and returns the page PNGs; reuses it when the manifest matches."""
    manifest = folder / MANIFEST
    wanted = {"version": GENERATOR_VERSION, "pages": pages, "seed": seed}
    pngs = [folder / f"page-{n:03d}.png" for n in range(1, pages + 1)]
    if manifest.exists() and {k: json.loads(manifest.read_text()).get(k) for k in wanted} == wanted:
        return pngs
    folder.mkdir(parents=True, exist_ok=True)
    jpegs, metas = [], []
    for number, png in enumerate(pngs, start=1):
        jpeg, text, meta = make_page(seed, number)
        png.with_suffix(".gt.txt").write_text(text, encoding="utf-8")
        jpegs.append(jpeg)
        metas.append(meta)
    write_pdf(jpegs, folder / "corpus.pdf")
    render_pngs(folder / "corpus.pdf", pngs)
    manifest.write_text(json.dumps({**wanted, "page_params": metas}, indent=1))
    return pngs


def ground_truth(png: Path) -> str:
    return png.with_suffix(".gt.txt").read_text(encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for png in generate(args.folder, args.pages, args.seed):
        print(png)


if __name__ == "__main__":
    main()
