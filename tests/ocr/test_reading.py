"""Real scans' troubles, end to end through prep's page and the OCR worker's reading (real Tesseract, in-process):
pages turned sideways or upside down, pages over the pixel budget, resolutions that lie, photos on a dark table."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from PIL import Image

from services.common.manifest import write_manifest
from services.common.stage_api import DOCUMENT_PDF, OCR_DIR, PAGES_DIR
from services.ocr.app import reading, worker
from services.ocr.app.config import Config
from services.ocr.app.document import write_document
from services.ocr.app.page import IMAGE_CLEAN, PageTask, ReadingPolicy, page_specs, pdf_path, text_path
from services.prep.app.normalise import Options
from services.prep.app.page import PageTask as PrepTask
from services.prep.app.render import Limits
from services.prep.app.sniff import Format
from services.prep.app.stage import build_manifest
from services.prep.app.worker import inspect_document, prep_page
from tests.factory import SAMPLE_EN, page_image, photographed_page, write_image, write_pdf

# Small pages keep these quick: a third of A5, still a few lines of real text.
PAGE = (1000, 1300)
WORDS = ("quick brown fox", "lazy dog", "Invoice number 1234")


@pytest.fixture(scope="module", autouse=True)
def engine(tmp_path_factory):
    config = Config.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    worker.load_engine(config.lang, str(config.tessdata_dir))


DEFAULT_LIMITS, DEFAULT_READING = Limits(), ReadingPolicy()


def prep_then_read(tmp_path, source, fmt, index=0, limits=DEFAULT_LIMITS, policy=DEFAULT_READING, turn=None):
    """Prep's page then the OCR worker's reading of it, wired as the manifest wires them (`turn`: instead of prep's)."""
    pages, ocr = tmp_path / "pages", tmp_path / "ocr"
    pages.mkdir(exist_ok=True)
    ocr.mkdir(exist_ok=True)
    prepared = prep_page(None, PrepTask(source, fmt, index, pages, limits, Options()))
    fallback = pages / prepared.entry.fallback if prepared.entry.fallback else None
    task = PageTask(
        prepared.entry.page, pages / prepared.entry.file, ocr, None, prepared.entry.dpi, fallback=fallback,
        lines_vertical=prepared.entry.lines_vertical, reading=policy, upside_down=prepared.entry.upside_down,
        turn=turn if turn is not None else prepared.entry.turn,
    )  # fmt: skip
    result = worker.recognise(task)
    return prepared, result, text_path(ocr, prepared.entry.page).read_text("utf-8")


def assert_reads(text):
    assert all(words in text for words in WORDS), text


@pytest.mark.parametrize("turned", [90, 180, 270])
def test_a_page_turned_by_a_right_angle_reads_like_an_upright_one(tmp_path, turned):
    source = write_image(tmp_path / "turned.png", page_image(SAMPLE_EN, size=PAGE, font_size=40, rotate=turned))
    _, result, text = prep_then_read(tmp_path, source, Format.PNG)
    assert_reads(text)
    assert result.rotation == (360 - turned) % 360
    # The searchable page is the upright image, its text layer on it: portrait again, the first line at the top.
    doc = pdfium.PdfDocument(pdf_path(tmp_path / "ocr", 1))
    width, height = doc[0].get_size()
    textpage = doc[0].get_textpage()
    found = textpage.search("quick").get_next()
    assert found is not None
    left, bottom, right, top = textpage.get_charbox(found[0])
    assert width < height
    assert top > height * 0.75  # the first line is near the top of the upright page (PDF y grows upwards)


@pytest.fixture
def calls(monkeypatch):
    """The rotations the page was read at, and how often orientation detection ran (spied, still real)."""
    seen: dict[str, list[int]] = {"readings": [], "detections": []}
    real_read_image, real_detect = reading.read_image, reading.detect_orientation

    def read_image(api, task, image, rotation=0, kind=IMAGE_CLEAN):
        seen["readings"].append(rotation)
        return real_read_image(api, task, image, rotation, kind)

    def detect_orientation(*args, **kwargs):
        found = real_detect(*args, **kwargs)
        seen["detections"].append(found.rotation)
        return found

    monkeypatch.setattr(reading, "read_image", read_image)
    monkeypatch.setattr(reading, "detect_orientation", detect_orientation)
    return seen


@pytest.mark.parametrize("turned", [90, 180, 270])
def test_a_turned_page_is_read_once_the_way_prep_says_is_up_without_detection(tmp_path, calls, turned):
    source = write_image(tmp_path / "turned.png", page_image(SAMPLE_EN, size=PAGE, font_size=40, rotate=turned))
    prepared, result, text = prep_then_read(tmp_path, source, Format.PNG)
    assert prepared.entry.turn == (360 - turned) % 360
    assert_reads(text)
    assert result.rotation == prepared.entry.turn
    assert calls == {"readings": [prepared.entry.turn], "detections": []}  # never read the wrong way up first


def test_when_prep_guesses_the_turn_wrong_detection_sets_the_page_upright(tmp_path, calls):
    # Turned by 90: upright by a turn of 270; a turn of 90 would leave it upside down, and reads badly.
    source = write_image(tmp_path / "turned.png", page_image(SAMPLE_EN, size=PAGE, font_size=40, rotate=90))
    prepared, result, text = prep_then_read(tmp_path, source, Format.PNG, turn=90)
    assert prepared.entry.lines_vertical is True
    assert_reads(text)
    assert result.rotation == 270
    assert calls["readings"][:2] == [90, 270] and calls["detections"] == [270]


def test_a_turned_page_at_200_dpi_reads_like_an_upright_one(tmp_path):
    page = page_image(SAMPLE_EN, size=(667, 867), font_size=27, rotate=90)
    source = tmp_path / "low.png"
    page.save(source, dpi=(200, 200))
    _, result, text = prep_then_read(tmp_path, source, Format.PNG)
    assert_reads(text)
    assert result.rotation == 270


def test_an_upright_page_that_reads_well_is_read_once(tmp_path):
    source = write_image(tmp_path / "upright.png", page_image(SAMPLE_EN, size=PAGE, font_size=40))
    _, result, text = prep_then_read(tmp_path, source, Format.PNG)
    assert_reads(text)
    assert (result.rotation, result.image) == (0, IMAGE_CLEAN)
    assert sorted(p.name for p in (tmp_path / "ocr").iterdir() if ".tmp" in p.name) == []


def test_a_page_over_the_pixel_budget_in_a_multi_page_pdf_is_read_scaled_down(tmp_path):
    big = page_image(SAMPLE_EN, size=(2000, 2600), font_size=80)
    source = write_pdf(tmp_path / "mixed.pdf", [page_image(SAMPLE_EN, size=PAGE, font_size=40), big])
    limits = Limits(max_page_pixels=2_000_000)
    prepared, _, text = prep_then_read(tmp_path, source, Format.PDF, index=1, limits=limits)
    assert_reads(text)
    assert prepared.entry.width * prepared.entry.height <= 2_000_000
    assert "over PREP_MAX_PAGE_PIXELS" in prepared.warnings[0]


def test_an_image_only_pdf_declaring_2400_dpi_is_read_at_its_own_resolution(tmp_path):
    source = write_pdf(tmp_path / "tiny.pdf", [page_image(SAMPLE_EN, size=PAGE, font_size=40)], dpi=2400)
    prepared, _, text = prep_then_read(tmp_path, source, Format.PDF)
    assert_reads(text)
    assert prepared.entry.width >= PAGE[0] * 0.9  # not the 125-pixel thumbnail that 300 dpi would make of it


def test_an_image_whose_dpi_tag_is_wrong_is_sized_by_its_text(tmp_path):
    # Text of a 100 dpi scan (x-height about 8 px) in an image that says 300 dpi.
    small = page_image(SAMPLE_EN, size=(440, 560), font_size=15)
    source = tmp_path / "wrong-dpi.png"
    small.save(source, dpi=(300, 300))
    prepared, _, text = prep_then_read(tmp_path, source, Format.PNG)
    assert_reads(text)
    assert prepared.entry.scale > 1.5


def test_a_photographed_page_on_a_dark_table_reads_its_words(tmp_path):
    photo = photographed_page([*SAMPLE_EN] * 4, size=PAGE, font_size=30)
    source = tmp_path / "photo.jpg"
    photo.save(source, quality=90)
    _, _, text = prep_then_read(tmp_path, source, Format.JPEG)
    assert_reads(text)
    assert not any(noise in text for noise in ("|||", "___"))


def test_the_decoded_page_is_read_when_the_clean_one_reads_worse(tmp_path):
    # Forced (below 101 % confidence every page qualifies): both are read, the better one is kept.
    source = write_image(tmp_path / "scan.png", page_image(SAMPLE_EN, size=PAGE, font_size=40).convert("RGB"))
    _, result, text = prep_then_read(tmp_path, source, Format.PNG, policy=ReadingPolicy(60.0, 101.0))
    assert_reads(text)
    assert result.confidence > 80
    assert [p.name for p in (tmp_path / "ocr").iterdir() if ".tmp" in p.name] == []


def test_a_turned_page_keeps_its_reading_when_rotation_checks_are_off(tmp_path):
    source = write_image(tmp_path / "turned.png", page_image(SAMPLE_EN, size=PAGE, font_size=40, rotate=180))
    with Image.open(source) as img:
        assert img.size == PAGE
    _, result, _ = prep_then_read(tmp_path, source, Format.PNG, policy=ReadingPolicy(0.0, 0.0))
    assert result.rotation == 0


def test_a_page_read_at_a_clamped_dpi_keeps_its_source_size_in_document_pdf(tmp_path):
    # 2400 dpi, text already of a good size: Tesseract is told 600, the page on paper is still the source's.
    source = write_pdf(tmp_path / "source.pdf", [page_image(SAMPLE_EN, size=PAGE, font_size=40)], dpi=2400)
    job = tmp_path / "job"
    pages, ocr = job / PAGES_DIR, job / OCR_DIR
    pages.mkdir(parents=True)
    ocr.mkdir()
    info = inspect_document(None, source, DEFAULT_LIMITS)
    prepared = prep_page(None, PrepTask(source, Format.PDF, 0, pages, DEFAULT_LIMITS, Options()))
    write_manifest(pages, build_manifest(source, info, [prepared]))
    [spec] = page_specs(job)
    assert spec.entry.dpi <= 600 < spec.entry.paper_dpi
    result = worker.recognise(PageTask(spec.page, spec.image, ocr, None, spec.entry.dpi, fallback=spec.fallback))
    write_document(job, ocr, [spec], [result])
    made, original = pdfium.PdfDocument(job / DOCUMENT_PDF), pdfium.PdfDocument(source)
    width, height = made[0].get_size()
    assert (width, height) == pytest.approx(original[0].get_size(), rel=0.01)
    # The text layer was scaled with the image: the first line is still near the top of the page, inside it.
    textpage = made[0].get_textpage()
    found = textpage.search("quick").get_next()
    assert found is not None
    left, bottom, right, top = textpage.get_charbox(found[0])
    assert 0 <= left < right <= width and height * 0.75 < top <= height
