"""Bullets, which Tesseract's models cannot read, found by their shape and written into the page's text and hOCR."""

from __future__ import annotations

import pytest
from PIL import Image

from services.ocr.app import worker
from services.ocr.app.bullets import ROUND_BULLET, SQUARE_BULLET
from services.ocr.app.config import Config
from services.ocr.app.page import PageTask, hocr_path, text_path
from tests.factory import bulleted_page, write_image

ITEMS = [
    ("round", "Simple to learn and use"),
    ("round", "Works during playback"),
    ("square", "Optional remote control"),
    ("square", "Sixteen channels at once"),
    ("I", "said nothing more about it"),
    ("a", "letter stays a letter"),
    ("o", "hollow ring stays a letter"),
]


@pytest.fixture(scope="module", autouse=True)
def engine(tmp_path_factory):
    config = Config.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    worker.load_engine(config.lang, str(config.tessdata_dir))


def read(tmp_path, page):
    image = write_image(tmp_path / "page-0001.png", page)
    out = tmp_path / "ocr"
    out.mkdir()
    worker.recognise(PageTask(1, image, out))
    return text_path(out, 1).read_text("utf-8"), hocr_path(out, 1).read_text("utf-8")


@pytest.mark.parametrize("bits", [8, 1])
def test_solid_bullets_read_as_bullets_and_letters_stay_letters(tmp_path, bits):
    page = bulleted_page(ITEMS, size=(1400, 1000))
    if bits == 1:  # a black-and-white page, as prep writes one (its ink is then read from the file)
        page = page.point(lambda v: 255 if v > 128 else 0).convert("1", dither=Image.Dither.NONE)
    text, hocr = read(tmp_path, page)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == len(ITEMS), text
    for (mark, words), line in zip(ITEMS, lines, strict=True):
        if mark in ("round", "square"):
            assert line.startswith(f"{ROUND_BULLET if mark == 'round' else SQUARE_BULLET} "), (mark, line)
        else:  # a letter is left as Tesseract read it (a sans-serif I may well come out as "|")
            assert not line.startswith((ROUND_BULLET, SQUARE_BULLET)), (mark, line)
        assert words.split()[-1] in line
    # The hOCR says the same, word for word: two of each bullet.
    assert hocr.count(f">{ROUND_BULLET}</span>") == 2
    assert hocr.count(f">{SQUARE_BULLET}</span>") == 2


def test_a_page_without_bullets_keeps_tesseracts_text(tmp_path):
    plain = [(mark, words) for mark, words in ITEMS if mark not in ("round", "square")]
    text, hocr = read(tmp_path, bulleted_page(plain, size=(1400, 700)))
    assert ROUND_BULLET not in text and SQUARE_BULLET not in text
    assert ROUND_BULLET not in hocr and SQUARE_BULLET not in hocr
