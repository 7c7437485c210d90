"""Decoding and its limits: every bad document becomes a BadDocument a person understands, before any pixels."""

from __future__ import annotations

import numpy as np
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


def test_pdf_pages_render_as_grayscale_at_the_configured_dpi(tmp_path):
    pdf = write_pdf(tmp_path / "s.pdf", pages(2))
    assert count_pages(pdf, Format.PDF, LIMITS) == 2
    page = render_page(pdf, Format.PDF, 1, Limits(dpi=150))
    assert (page.image.mode, page.dpi) == ("L", 150.0)
    assert abs(page.image.width - SMALL_PAGE[0] / 2) <= 1


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


def test_a_pdf_page_over_the_pixel_budget_is_refused_before_rendering(tmp_path):
    pdf = write_pdf(tmp_path / "s.pdf", pages())
    with pytest.raises(BadDocument, match=r"over the limit of 1,000,000 pixels per page \(PREP_MAX_PAGE_PIXELS\)"):
        count_pages(pdf, Format.PDF, Limits(max_page_pixels=1_000_000))


def test_a_pdf_with_more_pages_than_allowed_is_refused(tmp_path):
    pdf = write_pdf(tmp_path / "s.pdf", pages(3))
    with pytest.raises(BadDocument, match=r"has 3 pages, over the limit of 2 \(PREP_MAX_PAGES\)"):
        count_pages(pdf, Format.PDF, Limits(max_pages=2))


def test_a_decompression_bomb_is_refused_before_decoding(pixel_bomb):
    with pytest.raises(BadDocument, match="the image is too large"):
        count_pages(pixel_bomb, Format.PNG, LIMITS)


def test_an_image_a_little_over_the_budget_is_refused(tmp_path):
    png = write_image(tmp_path / "s.png", pages()[0])
    with pytest.raises(BadDocument, match="too large|over the limit"):
        render_page(png, Format.PNG, 0, Limits(max_page_pixels=SMALL_PAGE[0] * SMALL_PAGE[1] - 1))


def test_a_tiff_with_thousands_of_frames_is_refused(frames_bomb):
    with pytest.raises(BadDocument, match=r"more than 2000 pages, over the limit of 2000 \(PREP_MAX_PAGES\)"):
        count_pages(frames_bomb, Format.TIFF, LIMITS)


def test_a_truncated_image_is_reported_as_damaged(tmp_path):
    png = write_image(tmp_path / "s.png", pages()[0])
    png.write_bytes(png.read_bytes()[:2000])
    with pytest.raises(BadDocument, match="damaged or truncated"):
        render_page(png, Format.PNG, 0, LIMITS)
