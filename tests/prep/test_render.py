"""Decoding and its limits: every bad document becomes a BadDocument a person understands, before any pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from services.common.errors import BadDocument
from services.prep.app.render import Limits, count_pages, render_page, to_gray
from services.prep.app.sniff import Format
from tests.factory import (
    SAMPLE_EN,
    SAMPLE_FR,
    page_image,
    write_encrypted_pdf,
    write_image,
    write_pdf,
    write_tiff,
    write_truncated_pdf,
)

from .conftest import SMALL_PAGE, write_empty_pdf

LIMITS = Limits()


def pages(n=1):
    return [page_image((SAMPLE_FR, SAMPLE_EN)[i % 2], size=SMALL_PAGE) for i in range(n)]


def test_pdf_pages_of_a_coarser_scan_render_as_grayscale_at_the_configured_dpi(tmp_path):
    pdf = write_pdf(tmp_path / "s.pdf", pages(2), dpi=150)
    assert count_pages(pdf, Format.PDF, LIMITS) == 2
    page = render_page(pdf, Format.PDF, 1, Limits(dpi=300))
    assert (page.image.mode, page.dpi) == ("L", 300.0)
    assert abs(page.image.width - SMALL_PAGE[0] * 2) <= 2


def test_an_image_only_pdf_page_renders_at_the_resolution_of_its_image(tmp_path):
    # The page declares 2400 dpi: rendered at the configured 300 dpi it would be a thumbnail of 1/8 the pixels.
    pdf = write_pdf(tmp_path / "s.pdf", pages(), dpi=2400)
    page = render_page(pdf, Format.PDF, 0, Limits(dpi=300))
    assert page.dpi == pytest.approx(2400, rel=0.01)
    assert abs(page.image.width - SMALL_PAGE[0]) <= 2


def test_multi_page_tiff_pages_are_its_frames(tmp_path):
    tiff = write_tiff(tmp_path / "s.tif", pages(3))
    assert count_pages(tiff, Format.TIFF, LIMITS) == 3
    assert render_page(tiff, Format.TIFF, 2, LIMITS).image.size == SMALL_PAGE


def test_exif_orientation_is_applied(tmp_path):
    upright = pages()[0]
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    png = write_image(tmp_path / "s.png", sideways, exif=exif.tobytes())
    page = render_page(png, Format.PNG, 0, LIMITS)
    assert np.array_equal(np.asarray(page.image), np.asarray(upright))


def test_an_image_without_a_dpi_tag_is_taken_as_300_dpi(tmp_path):
    png = tmp_path / "s.png"
    pages()[0].save(png)
    assert render_page(png, Format.PNG, 0, LIMITS).dpi == 300.0


def test_transparency_becomes_white_paper():
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_gray(clear).getextrema() == (255, 255)


def test_an_encrypted_pdf_is_reported_as_password_protected(tmp_path):
    pdf = write_encrypted_pdf(tmp_path / "s.pdf", pages())
    with pytest.raises(BadDocument, match="is password-protected"):
        count_pages(pdf, Format.PDF, LIMITS)


def test_a_truncated_pdf_is_reported_as_damaged(tmp_path):
    pdf = write_truncated_pdf(tmp_path / "s.pdf", pages())
    with pytest.raises(BadDocument, match="damaged or truncated"):
        count_pages(pdf, Format.PDF, LIMITS)


def test_a_pdf_without_pages_is_reported_as_such(tmp_path):
    with pytest.raises(BadDocument, match="the PDF has no pages"):
        count_pages(write_empty_pdf(tmp_path / "s.pdf"), Format.PDF, LIMITS)


def test_a_pdf_page_over_the_pixel_budget_is_rendered_scaled_down_to_it(tmp_path):
    pdf = write_pdf(tmp_path / "s.pdf", pages())
    limits = Limits(max_page_pixels=1_000_000)
    assert count_pages(pdf, Format.PDF, limits) == 1
    page = render_page(pdf, Format.PDF, 0, limits)
    assert page.image.width * page.image.height <= 1_000_000
    assert page.dpi < 300
    assert "over PREP_MAX_PAGE_PIXELS=1,000,000: read at" in page.warnings[0]


def test_a_pdf_with_more_pages_than_allowed_is_refused(tmp_path):
    pdf = write_pdf(tmp_path / "s.pdf", pages(3))
    with pytest.raises(BadDocument, match=r"has 3 pages, over the limit of 2 \(PREP_MAX_PAGES\)"):
        count_pages(pdf, Format.PDF, Limits(max_pages=2))


def test_a_decompression_bomb_is_refused_before_decoding(pixel_bomb):
    with pytest.raises(BadDocument, match="the image is too large"):
        count_pages(pixel_bomb, Format.PNG, LIMITS)


def test_an_image_a_little_over_the_budget_is_read_scaled_down_to_it(tmp_path):
    png = write_image(tmp_path / "s.png", pages()[0])
    budget = SMALL_PAGE[0] * SMALL_PAGE[1] * 2 // 3
    page = render_page(png, Format.PNG, 0, Limits(max_page_pixels=budget))
    assert page.image.width * page.image.height <= budget
    assert page.dpi < 300
    assert "read scaled down to" in page.warnings[0]


def test_an_image_over_twice_the_budget_is_refused(tmp_path):
    png = write_image(tmp_path / "s.png", pages()[0])
    with pytest.raises(BadDocument, match="too large|over 2 times the limit"):
        render_page(png, Format.PNG, 0, Limits(max_page_pixels=SMALL_PAGE[0] * SMALL_PAGE[1] // 3))


def test_a_tiff_with_thousands_of_frames_is_refused(frames_bomb):
    with pytest.raises(BadDocument, match=r"more than 2000 pages, over the limit of 2000 \(PREP_MAX_PAGES\)"):
        count_pages(frames_bomb, Format.TIFF, LIMITS)


def test_a_truncated_image_is_reported_as_damaged(tmp_path):
    png = write_image(tmp_path / "s.png", pages()[0])
    png.write_bytes(png.read_bytes()[:2000])
    with pytest.raises(BadDocument, match="damaged or truncated"):
        render_page(png, Format.PNG, 0, LIMITS)


@pytest.mark.parametrize("dpi", [300, 299.99])
def test_an_image_only_pdf_page_taken_as_decoded_has_the_pixels_rendering_gives(tmp_path, dpi):
    # At 300 dpi the image is exactly the page's rendered size: it is taken as decoded. At 299.99 the page is
    # 288.01 pt wide, which renders 1201 pixels wide from 1200: it is rendered, resampled, as before.
    pdf = write_pdf(tmp_path / "s.pdf", pages(), dpi=dpi)
    page = render_page(pdf, Format.PDF, 0, LIMITS)
    doc = pdfium.PdfDocument(str(pdf))
    rendered = doc[0].render(scale=300 / 72, grayscale=True).to_pil().convert("L")
    doc.close()
    assert page.image.size == rendered.size
    assert np.array_equal(np.asarray(page.image), np.asarray(rendered))


def _gray_image_pdf(path, pixels: np.ndarray, decode: bytes) -> Path:
    """A one-page PDF of one uncompressed gray image over the whole page, with the image dictionary's `decode`."""
    height, width = pixels.shape
    data = pixels.tobytes()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /XObject << /Im 5 0 R >> >> "
        b"/Contents 4 0 R >>" % (width * 72 // 300, height * 72 // 300),
        b"<< /Length 29 >>stream\nq %d 0 0 %d 0 0 cm /Im Do Q\nendstream" % (width * 72 // 300, height * 72 // 300),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 %s "
        b"/Length %d >>stream\n%s\nendstream" % (width, height, decode, len(data), data),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def test_an_image_stored_inverted_reads_as_it_is_shown(tmp_path):
    # /Decode [1 0]: the stored 230-valued paper is shown dark, the stored 20-valued bar light, as a viewer shows it.
    stored = np.full((600, 1200), 230, np.uint8)
    stored[250:350, 100:1100] = 20
    page = render_page(_gray_image_pdf(tmp_path / "inv.pdf", stored, b"/Decode [1 0]"), Format.PDF, 0, LIMITS)
    shown = np.asarray(page.image)
    assert page.image.size == (1200, 600)
    assert shown[300, 600] > 200 and shown[50, 50] < 50
