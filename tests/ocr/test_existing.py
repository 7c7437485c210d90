"""Pages with text of their own, prep then OCR on real workers: each PREP_EXISTING_TEXT mode, outputs, and hOCR."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from services.common.manifest import write_manifest
from services.ocr.app.existing import read_words
from services.prep.app.normalise import Options
from services.prep.app.render import Limits
from services.prep.app.stage import build_manifest
from services.prep.app.textlayer import TextMode
from services.prep.app.worker import PageTask, inspect_document, prep_page
from tests.factory import SAMPLE_EN, SAMPLE_FR, page_image, write_ocr_layer_pdf, write_text_pdf

XHTML = "{http://www.w3.org/1999/xhtml}"
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# Words only in the scan's invisible layer, never in its image: they show which text a mode delivered.
STALE_LAYER = ["Stale layer words", "zebra quartz 777"]


def two_page_source(path):
    """Page 1 born-digital (SAMPLE_FR as text); page 2 a scan of SAMPLE_EN under a stale OCR layer."""
    digital = write_text_pdf(path.with_name("digital.pdf"), [SAMPLE_FR])
    scan = write_ocr_layer_pdf(path.with_name("scan.pdf"), page_image(SAMPLE_EN, size=(1240, 1748)), STALE_LAYER)
    out = pdfium.PdfDocument.new()
    for part in (digital, scan):
        src = pdfium.PdfDocument(part)
        out.import_pages(src)
        src.close()
    out.save(path)
    out.close()
    return path


@pytest.fixture
def prepared_from(tmp_path):
    """`create(original, mode)`: job1 holding a copy of `original` as its source, prepared by prep's own worker
    code in that mode (a callable `original` writes the source instead)."""

    def create(original, mode: TextMode):
        job_dir = tmp_path / "jobs" / "job1"
        pages_dir = job_dir / "pages"
        pages_dir.mkdir(parents=True)
        source = job_dir / "source.pdf"
        if callable(original):
            original(source)
        else:
            shutil.copyfile(original, source)
        info = inspect_document(None, source, Limits())
        tasks = [PageTask(source, info.format, i, pages_dir, Limits(), Options(), mode) for i in range(info.pages)]
        write_manifest(pages_dir, build_manifest(source, info, [prep_page(None, task) for task in tasks]))
        return job_dir

    return create


@pytest.fixture
def prepared(prepared_from):
    """`create(mode)`: job1 with the two-page source, prepared in that mode."""
    return lambda mode: prepared_from(two_page_source, mode)


async def run_ocr(ocr_client, job_dir):
    resp = await (await ocr_client()).post("/v1/ocr", json={"jobKey": job_dir.name})
    assert resp.status == 200, await resp.text()
    pages = (job_dir / "document.txt").read_text("utf-8").split("\f")
    return await resp.json(), pages


def page_json(job_dir, number):
    return json.loads((job_dir / "ocr" / f"page-{number:04d}.json").read_text())


def hocr_words(job_dir, number):
    """(text, bbox, confidence or None) of every ocrx_word in the page's hOCR."""
    root = ET.fromstring((job_dir / "ocr" / f"page-{number:04d}.hocr").read_bytes())
    words = []
    for span in root.iter(f"{XHTML}span"):
        if span.get("class") == "ocrx_word" and "".join(span.itertext()).strip():
            title = span.get("title", "")
            box = tuple(int(v) for v in re.search(r"bbox (\d+) (\d+) (\d+) (\d+)", title).groups())
            conf = re.search(r"x_wconf (\d+)", title)
            words.append(("".join(span.itertext()).strip(), box, int(conf.group(1)) if conf else None))
    return words


def pdf_page_texts(job_dir):
    pdf = pdfium.PdfDocument(job_dir / "document.pdf")
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


async def test_skip_uses_the_text_both_pages_already_have(ocr_client, prepared):
    job_dir = prepared(TextMode.SKIP)
    body, pages = await run_ocr(ocr_client, job_dir)
    assert [(r["text"], r["textLayer"], r["confidence"]) for r in body["pageResults"]] == [
        ("existing", "visible", None),
        ("existing", "invisible", None),
    ]
    assert pages[0].splitlines() == SAMPLE_FR  # born-digital text, exact: accents and all
    assert pages[1].splitlines() == STALE_LAYER  # the layer as it was, not a new reading of the image
    assert body["meanConfidence"] is None  # nothing was recognised
    assert [page_json(job_dir, n)["text"] for n in (1, 2)] == ["existing", "existing"]
    # The searchable PDF keeps the original pages, text layers included.
    texts = pdf_page_texts(job_dir)
    assert "Élève très doué" in texts[0] and "zebra quartz" in texts[1]


async def test_redo_reads_a_scan_again_and_keeps_born_digital_text(ocr_client, prepared):
    job_dir = prepared(TextMode.REDO)
    body, pages = await run_ocr(ocr_client, job_dir)
    assert [(r["text"], r["textLayer"]) for r in body["pageResults"]] == [("existing", "visible"), ("ocr", "invisible")]
    assert pages[0].splitlines() == SAMPLE_FR
    for word in ("quick", "brown", "Invoice"):
        assert word in pages[1]
    assert "zebra" not in pages[1] and "zebra" not in pdf_page_texts(job_dir)[1]  # the stale layer is gone
    assert body["pageResults"][1]["confidence"] > 50


async def test_force_recognises_every_page_from_its_rendering(ocr_client, prepared):
    job_dir = prepared(TextMode.FORCE)
    body, pages = await run_ocr(ocr_client, job_dir)
    assert [(r["text"], r["textLayer"]) for r in body["pageResults"]] == [("ocr", "none"), ("ocr", "none")]
    for word in ("château", "forêt", "façade"):
        assert word in pages[0]
    assert "quick" in pages[1] and "zebra" not in pages[1]


async def test_hocr_beside_each_page_json_has_words_boxes_and_confidences(ocr_client, prepared):
    job_dir = prepared(TextMode.REDO)
    await run_ocr(ocr_client, job_dir)
    kept, recognised = hocr_words(job_dir, 1), hocr_words(job_dir, 2)
    # Existing text: every word, in order, with its box in pixels at 300 dpi, and no confidence to give.
    assert [w for w, _, _ in kept] == " ".join(SAMPLE_FR).split()
    assert all(conf is None for _, _, conf in kept)
    assert page_json(job_dir, 1)["words"] == len(kept)
    first, second = kept[0][1], kept[1][1]
    assert first[0] < first[2] <= second[0] and first[1] < first[3]  # "Le" left of "château", on one line
    assert kept[-1][1][1] > first[3]  # the last line below the first
    # Recognised text: Tesseract's own hOCR, confidences included.
    words = {w: (box, conf) for w, box, conf in recognised}
    assert {"quick", "brown", "Invoice"} <= words.keys()
    assert all(words[w][1] > 50 for w in ("quick", "brown", "Invoice"))
    assert words["quick"][0][2] <= words["brown"][0][0]


@pytest.mark.skipif(not FONT_FILE.exists(), reason=f"needs a TrueType font to embed ({FONT_FILE}: fonts-dejavu-core)")
async def test_kept_pages_sharing_an_embedded_font_share_it_in_document_pdf(ocr_client, tmp_path):
    # Bug: each kept page was copied alone and merged, so every page carried its own copy of the font (20 pages:
    # 8.4 MB from a 0.43 MB source). Consecutive kept pages are now imported from the source in one go.
    job_dir = tmp_path / "jobs" / "job1"
    pages_dir = job_dir / "pages"
    pages_dir.mkdir(parents=True)
    pages = [[f"Page {n} of the report", *SAMPLE_FR] for n in range(1, 13)]
    source = write_text_pdf(job_dir / "source.pdf", pages, font_file=FONT_FILE)
    info = inspect_document(None, source, Limits())
    tasks = [PageTask(source, info.format, i, pages_dir, Limits(), Options()) for i in range(info.pages)]
    write_manifest(pages_dir, build_manifest(source, info, [prep_page(None, task) for task in tasks]))
    _, texts = await run_ocr(ocr_client, job_dir)
    assert [t.splitlines() for t in texts] == pages
    assert pdf_page_texts(job_dir)[11].startswith("Page 12 of the report")
    assert (job_dir / "document.pdf").stat().st_size < 1.5 * source.stat().st_size


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_word_boxes_sit_on_the_words_of_the_page_as_displayed(tmp_path, rotation):
    # Landscape born-digital pages are often portrait pages with /Rotate 90: boxes must follow the display.
    source = write_text_pdf(tmp_path / "upright.pdf", [SAMPLE_EN], size_pt=24)
    doc = pdfium.PdfDocument(source)
    doc[0].set_rotation(rotation)
    doc.save(tmp_path / "turned.pdf")
    rendered = doc[0].render(scale=300 / 72, grayscale=True).to_pil().convert("L")
    doc.close()
    size, lines = read_words(tmp_path / "turned.pdf", 0, 300)
    assert abs(size[0] - rendered.width) <= 1 and abs(size[1] - rendered.height) <= 1
    words = [word for line in lines for word in line]
    # Every word (in PDFium's order, which for turned pages is its own reading of the layout).
    assert sorted(w.text for w in words) == sorted(" ".join(SAMPLE_EN).split())
    for word in words:
        ink = rendered.crop(word.box).getextrema()[0]
        assert ink < 100, (word.text, word.box)  # the box holds the word's dark strokes
    blank = rendered.crop((0, 0, 20, 20)).getextrema()[0]
    assert blank > 200  # and a corner away from the text does not


REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "real-dev"


@pytest.mark.skipif(not REAL_DEV.is_dir(), reason=f"optional: {REAL_DEV} is absent (a fresh clone has none)")
async def test_a_real_ocrmypdf_layer_is_kept_and_found_by_its_keywords(ocr_client, prepared_from):
    # graph_ocred.pdf: a chart OCRmyPDF 13.7 / Tesseract 4.1.1 gave an OCR layer (OCRmyPDF's own test file).
    source = REAL_DEV / "inputs" / "graph_ocred.pdf"
    job_dir = prepared_from(source, TextMode.SKIP)
    body, pages = await run_ocr(ocr_client, job_dir)
    assert [(r["text"], r["textLayer"]) for r in body["pageResults"]] == [("existing", "invisible")]
    keywords = (REAL_DEV / "expected" / "graph_ocred.pdf.keywords").read_text().split()
    assert all(k.casefold() in pages[0].casefold() for k in keywords), (keywords, pages[0])
