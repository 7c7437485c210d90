"""Joining page outputs into document.txt and document.pdf (no Tesseract needed for a page that failed)."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from services.common.manifest import ManifestPage
from services.ocr.app.document import write_document
from services.ocr.app.page import PageResult, PageSpec
from tests.factory import page_image, write_image


@pytest.fixture
def unrecognised_page(tmp_path):
    image = write_image(tmp_path / "page-0001.png", page_image(["Le château"]))
    spec = PageSpec(ManifestPage(page=1, file=image.name, width=1748, height=2480, dpi=300), image)
    (tmp_path / "ocr").mkdir()
    return spec, PageResult(page=1, ok=False, error="took too long")


def test_unrecognised_page_is_its_image_without_a_text_layer(tmp_path, unrecognised_page):
    spec, result = unrecognised_page
    write_document(tmp_path, tmp_path / "ocr", [spec], [result])
    pdf = pdfium.PdfDocument(tmp_path / "document.pdf")
    try:
        page = pdf[0]
        assert (len(pdf), page.get_textpage().get_text_range()) == (1, "")
        assert [round(v) for v in page.get_size()] == [420, 595]  # A5 in points
        assert len(list(page.get_objects())) == 1  # the page image
    finally:
        pdf.close()


def test_unrecognised_page_has_an_empty_text_section(tmp_path, unrecognised_page):
    spec, result = unrecognised_page
    write_document(tmp_path, tmp_path / "ocr", [spec], [result])
    assert (tmp_path / "document.txt").read_text("utf-8") == ""
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
