"""Reading order: Tesseract's, with a heading set under a column moved after the columns it opens the text below."""

from __future__ import annotations

import pytest
from PIL import Image

from services.ocr.app import worker
from services.ocr.app.config import Config
from services.ocr.app.order import reading_order
from services.ocr.app.page import PageTask, text_path
from tests.factory import FULL_WIDTH, TWO_COLUMNS, two_column_page, write_image

# Boxes (left, top, right, bottom) of a page as Tesseract orders them: left column, heading, right column, text.
LEFT, RIGHT = (100, 100, 900, 1000), (1000, 100, 1800, 1000)
FULL_WIDTH_BOX = (100, 1110, 1800, 1300)


def test_a_heading_under_the_left_column_is_read_after_the_right_column():
    heading = (100, 1060, 500, 1090)  # 60 px under the column, 20 px over the text it opens
    assert reading_order([LEFT, heading, RIGHT, FULL_WIDTH_BOX]) == [0, 2, 1, 3]


def test_the_last_paragraph_of_a_longer_left_column_stays_where_it_is():
    tail = (100, 1020, 900, 1200)  # 20 px under the paragraph before it, 60 px over what follows the columns
    assert reading_order([LEFT, tail, RIGHT, (100, 1260, 1800, 1400)]) == [0, 1, 2, 3]


def test_one_column_keeps_tesseracts_order():
    boxes = [(100, 100, 900, 400), (100, 460, 500, 490), (100, 510, 900, 900)]
    assert reading_order(boxes) == [0, 1, 2]


@pytest.fixture(scope="module", autouse=True)
def engine(tmp_path_factory):
    config = Config.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    worker.load_engine(config.lang, str(config.tessdata_dir))


def test_a_page_reads_the_heading_between_the_columns_and_the_text_it_opens(tmp_path):
    image = write_image(tmp_path / "page-0001.png", two_column_page("Additional Features"))
    out = tmp_path / "ocr"
    out.mkdir()
    worker.recognise(PageTask(1, image, out))
    text = text_path(out, 1).read_text("utf-8")
    heading = text.index("Additional Features")
    last_of_right_column = text.rindex(" ".join(TWO_COLUMNS[1][-1].split()[:4]))  # "the rest of the"
    assert last_of_right_column < heading < text.index(" ".join(FULL_WIDTH[0].split()[:3])), text


@pytest.mark.parametrize("drawn", ["nothing", "a rule"])
def test_a_page_without_text_reads_as_empty_and_does_not_fail(tmp_path, drawn):
    # A blank page has no results to walk, a rule a block without text: neither may fail the page.
    page = Image.new("L", (800, 1000), 255)
    if drawn == "a rule":
        page.paste(0, (100, 100, 700, 104))
    image = write_image(tmp_path / "page-0001.png", page)
    out = tmp_path / "ocr"
    out.mkdir()
    result = worker.recognise(PageTask(1, image, out))
    assert result.ok and text_path(out, 1).read_text("utf-8").strip() == ""
