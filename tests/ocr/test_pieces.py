"""A page read in pieces on two workers and joined back (services/ocr/app/pieces.py): the same words in the same
order as the page read whole, one hOCR page and one PDF page of the whole page's size, text where the words are."""

from __future__ import annotations

import json
import re

import pypdfium2 as pdfium
import pytest
from PIL import Image

from services.ocr.app import worker
from services.ocr.app.config import Config
from services.ocr.app.page import PageTask, hocr_path, pdf_path, text_path
from services.ocr.app.pieces import JoinTask, PieceTask, piece_tasks, read_piece
from services.prep.app.cuts import find_cut_rows
from tests.factory import page_image, write_image

LINES = [f"Line {word} of the page" for word in ("one", "two", "three", "four", "five", "six", "seven", "eight")]
SIZE, DPI = (1400, 1500), 300


@pytest.fixture(scope="module", autouse=True)
def engine(tmp_path_factory):
    config = Config.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    worker.load_engine(config.lang, str(config.tessdata_dir))


@pytest.fixture
def page(tmp_path):
    """A page of eight lines, its PageTask, and where prep would cut it."""
    image = page_image(LINES, size=SIZE, font_size=48)
    [cut] = find_cut_rows(image)
    out = tmp_path / "ocr"
    out.mkdir()
    return PageTask(1, write_image(tmp_path / "page-0001.png", image), out, None, DPI), cut


def read_in_pieces(task: PageTask, cut: int):
    pieces = tuple(read_piece(worker._engine(), p) for p in piece_tasks(task, [cut], SIZE[1]))
    return worker.recognise(task, JoinTask(task, pieces, 0.5))


def test_a_page_read_in_pieces_reads_its_lines_in_order_like_the_whole_page(page):
    task, cut = page
    assert 300 < cut < 1200
    result = read_in_pieces(task, cut)
    text = text_path(task.out_dir, 1).read_text("utf-8")
    found = [line for line in text.splitlines() if line.strip()]
    assert found == LINES, text
    assert (result.ok, result.pieces, result.words) == (True, 2, 5 * len(LINES))
    assert result.duration_s >= 0.5  # the pieces' time counts
    assert [p.name for p in task.out_dir.iterdir() if p.name.startswith(".")] == []


def test_the_joined_hocr_is_one_page_with_the_lower_pieces_boxes_moved_down(page):
    task, cut = page
    read_in_pieces(task, cut)
    hocr = hocr_path(task.out_dir, 1).read_text("utf-8")
    assert hocr.count("class='ocr_page'") == 1
    assert f"bbox 0 0 {SIZE[0]} {SIZE[1]}" in hocr
    ids = re.findall(r"id='([^']+)'", hocr)
    assert len(ids) == len(set(ids))
    words = re.findall(r"class='ocrx_word' id='[^']+' title='bbox \d+ (\d+) \d+ (\d+);[^>]*>([^<]+)<", hocr)
    assert [w for *_, w in words] == " ".join(LINES).split()
    tops = [int(top) for top, _, _ in words]
    assert tops == sorted(tops, key=lambda t: t // 40)  # line by line, top to bottom
    assert all(int(bottom) > cut for _, bottom, word in words[-5:])


def test_the_joined_pdf_is_one_page_of_the_whole_size_with_each_word_over_its_place(page):
    task, cut = page
    read_in_pieces(task, cut)
    doc = pdfium.PdfDocument(pdf_path(task.out_dir, 1))
    assert len(doc) == 1
    width, height = doc[0].get_size()
    assert (round(width), round(height)) == (round(SIZE[0] * 72 / DPI), round(SIZE[1] * 72 / DPI))
    text = doc[0].get_textpage()
    for n, line in enumerate(LINES):
        found = text.search(line.split()[1]).get_next()
        assert found is not None, line
        _, bottom, _, top = text.get_charbox(found[0])
        # page_image draws line n at 160 + n * 1.6 * 48 px from the top
        expected_top_pt = height - (160 + n * 76.8) * 72 / DPI
        assert abs(top - expected_top_pt) < 12, (line, top, expected_top_pt)


def test_a_piece_that_cannot_be_read_fails_and_leaves_nothing_behind(page, tmp_path):
    task, cut = page
    broken = PieceTask(PageTask(1, tmp_path / "missing.png", task.out_dir, None, DPI), 0, cut)
    with pytest.raises(OSError):
        read_piece(worker._engine(), broken)
    assert list(task.out_dir.iterdir()) == []


def with_cuts(job_dir):
    """The job's manifest with prep's cut rows added to each page, as prep writes them for such pages."""
    manifest_file = job_dir / "pages" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    for entry in manifest["pages"]:
        image = Image.open(job_dir / "pages" / entry["file"])
        entry["cutRows"] = list(find_cut_rows(image))
    manifest_file.write_text(json.dumps(manifest))
    return job_dir


def pieces_per_page(job_dir):
    return [json.loads(p.read_text())["pieces"] for p in sorted((job_dir / "ocr").glob("page-*.json"))]


async def test_a_one_page_job_is_read_in_two_pieces_on_the_two_workers(ocr_client, make_job):
    job_dir = with_cuts(make_job([LINES], size=SIZE))
    client = await ocr_client()
    resp = await client.post("/v1/ocr", json={"jobKey": "job1"})
    assert resp.status == 200, await resp.text()
    assert pieces_per_page(job_dir) == [2]
    text = (job_dir / "document.txt").read_text("utf-8")
    assert [line for line in text.splitlines() if line.strip()] == LINES
    assert len(pdfium.PdfDocument(job_dir / "document.pdf")) == 1


async def test_pages_are_read_whole_when_they_keep_the_workers_busy_or_splitting_is_off(ocr_client, make_job):
    two_pages = with_cuts(make_job([LINES, LINES], key="two", size=SIZE))
    one_page = with_cuts(make_job([LINES], key="off", size=SIZE))
    client = await ocr_client(OCR_SPLIT_PAGES="false")
    assert (await client.post("/v1/ocr", json={"jobKey": "off"})).status == 200
    client = await ocr_client()
    assert (await client.post("/v1/ocr", json={"jobKey": "two"})).status == 200
    assert (pieces_per_page(one_page), pieces_per_page(two_pages)) == ([1], [1, 1])
