"""The worker functions: whole pages or none, finished pages reused, leftovers of dead writers removed."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from PIL import Image

from services.common.logs import JobContextFilter
from services.prep.app.normalise import Options
from services.prep.app.page import PNG_META_KEY, PageTask, bilevel
from services.prep.app.render import Limits
from services.prep.app.sniff import Format
from services.prep.app.worker import inspect_document, prep_page
from tests.conftest import temp_of_a_finished_process
from tests.factory import SAMPLE_EN, SAMPLE_FR, page_image, write_pdf

from .conftest import SMALL_PAGE


def make_task(tmp_path, options=None, index=0, limits=None):
    source = tmp_path / "source.pdf"
    if not source.exists():
        write_pdf(source, [page_image(SAMPLE_FR, size=SMALL_PAGE), page_image(SAMPLE_EN, size=SMALL_PAGE, rotate=2)])
    out_dir = tmp_path / "pages"
    out_dir.mkdir(exist_ok=True)
    return PageTask(source, Format.PDF, index, out_dir, limits or Limits(), options or Options())


def test_prep_page_writes_a_black_and_white_png_with_its_dpi(tmp_path):
    result = prep_page(None, make_task(tmp_path))
    with Image.open(tmp_path / "pages" / "page-0001.png") as img:
        assert (img.mode, img.size, round(img.info["dpi"][0])) == (
            "1",
            (result.entry.width, result.entry.height),
            round(result.entry.dpi),
        )
    assert result.entry.dpi == pytest.approx(300 * result.entry.scale, abs=0.01)
    assert result.entry.to_json() == {
        "page": 1,
        "file": "page-0001.png",
        "width": result.entry.width,
        "height": result.entry.height,
        "dpi": result.entry.dpi,
        "skewDeg": result.entry.skew_deg,
        "text": "ocr",
        "textLayer": "none",
        "scale": result.entry.scale,
        "linesVertical": False,
        "fallback": "page-0001.raw.jpg",
    }
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["page-0001.png", "page-0001.raw.jpg"]


def test_a_page_left_gray_is_written_gray_and_a_black_and_white_one_bit_for_bit(tmp_path):
    gray = prep_page(None, make_task(tmp_path, Options(binarize=False)))
    with Image.open(tmp_path / "pages" / "page-0001.png") as img:
        assert img.mode == "L" and any(img.histogram()[1:255])
        assert img.size == (gray.entry.width, gray.entry.height)
    page = page_image(SAMPLE_EN, size=SMALL_PAGE).point(lambda v: 255 if v > 128 else 0)
    assert bilevel(page).mode == "1"
    assert bilevel(page).convert("L").tobytes() == page.tobytes()
    assert bilevel(page.convert("RGB")).mode == "RGB"


def test_prep_page_reuses_a_page_finished_with_the_same_settings(tmp_path):
    first = prep_page(None, make_task(tmp_path, index=1))
    mtime = (tmp_path / "pages" / "page-0002.png").stat().st_mtime_ns
    again = prep_page(None, make_task(tmp_path, index=1))
    assert (again.reused, again.entry.skew_deg, again.entry.width) == (True, first.entry.skew_deg, first.entry.width)
    assert (tmp_path / "pages" / "page-0002.png").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("option", [f.name for f in dataclasses.fields(Options)])
def test_prep_page_redoes_a_page_made_with_an_option_flipped(tmp_path, option):
    # One case per clean-up option, taken from Options itself: an option added later is covered too (bug: a page
    # made before PREP_BINARIZE changed was reused, because settings() listed the options by hand).
    prep_page(None, make_task(tmp_path))
    flipped = dataclasses.replace(Options(), **{option: not getattr(Options(), option)})
    redone = prep_page(None, make_task(tmp_path, flipped))
    assert redone.reused is False
    with Image.open(tmp_path / "pages" / "page-0001.png") as img:
        assert json.loads(img.info[PNG_META_KEY])["settings"][option] is getattr(flipped, option)
    assert prep_page(None, make_task(tmp_path, flipped)).reused is True


def test_prep_page_redoes_a_page_rendered_at_another_dpi(tmp_path):
    prep_page(None, make_task(tmp_path, limits=Limits(dpi=150)))
    assert prep_page(None, make_task(tmp_path)).reused is False


def test_worker_log_lines_carry_the_job_context(tmp_path, caplog):
    caplog.handler.addFilter(JobContextFilter())
    with caplog.at_level(logging.INFO, logger="services.prep"):
        inspect_document({"jobKey": "k1", "stage": "PREP", "attempt": 2}, make_task(tmp_path).source, Limits())
    record = next(r for r in caplog.records if "document is a PDF" in r.getMessage())
    assert (record.jobKey, record.stage, record.attempt) == ("k1", "PREP", 2)


def test_prep_page_removes_the_temp_file_a_killed_writer_left(tmp_path):
    task = make_task(tmp_path)
    task.out_dir.mkdir(parents=True, exist_ok=True)
    temp_of_a_finished_process(task.out_dir, task.out_path.name)  # a real writer, gone: a killed replica's leftover
    prep_page(None, task)
    assert sorted(p.name for p in task.out_dir.iterdir()) == ["page-0001.png", "page-0001.raw.jpg"]
