"""Type detection by content: the extension is never trusted."""

from __future__ import annotations

import pytest

from services.common.errors import BadDocument
from services.prep.app.sniff import Format, sniff, sniff_file
from tests.factory import SAMPLE_EN, page_image, write_image, write_pdf, write_tiff


@pytest.mark.parametrize(
    ("name", "writer", "expected"),
    [
        ("doc.png", lambda p: write_pdf(p, [page_image(SAMPLE_EN)]), Format.PDF),
        ("scan.pdf", lambda p: write_image(p, page_image(SAMPLE_EN), format="PNG"), Format.PNG),
        ("scan.tif", lambda p: write_image(p, page_image(SAMPLE_EN), format="JPEG"), Format.JPEG),
        ("scan.jpg", lambda p: write_tiff(p, [page_image(SAMPLE_EN)]), Format.TIFF),
    ],
)
def test_sniff_file_reads_the_content_not_the_extension(tmp_path, name, writer, expected):
    assert sniff_file(writer(tmp_path / name), "f") is expected


def test_sniff_finds_a_pdf_header_after_leading_junk():
    assert sniff(b"\x00\x00junk\n%PDF-1.7\n") is Format.PDF


def test_sniff_file_rejects_an_empty_file(tmp_path):
    (tmp_path / "source.pdf").write_bytes(b"")
    with pytest.raises(BadDocument, match=r"is empty \(0 bytes\)"):
        sniff_file(tmp_path / "source.pdf", "the file")


def test_sniff_file_says_an_html_page_named_pdf_is_html(tmp_path):
    (tmp_path / "source.pdf").write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    with pytest.raises(BadDocument, match="not a PDF or an image: it looks like an HTML page"):
        sniff_file(tmp_path / "source.pdf", "the file")


def test_sniff_file_says_a_text_file_named_pdf_is_text(tmp_path):
    (tmp_path / "source.pdf").write_text("just some notes\n")
    with pytest.raises(BadDocument, match="it looks like plain text"):
        sniff_file(tmp_path / "source.pdf", "the file")
