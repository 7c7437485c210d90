"""Text size and direction measured on the page itself."""

from __future__ import annotations

import pytest
from PIL import Image

from services.prep.app.textsize import MAX_UPSCALE, TextSize, measure_text, text_scale
from tests.factory import SAMPLE_EN, SAMPLE_FR, page_image

from .conftest import SMALL_PAGE

LINES = [*SAMPLE_EN, *SAMPLE_FR] * 2


@pytest.fixture(scope="module")
def text_page():
    # DejaVu Sans at 40 px: an x-height of about 22 px.
    return page_image(LINES, size=SMALL_PAGE, font_size=40)


def test_the_x_height_of_a_page_is_measured_from_its_lines(text_page):
    size = measure_text(text_page)
    assert size.vertical is False
    assert size.x_height_px == pytest.approx(22, abs=3)


def test_a_page_turned_by_90_degrees_has_lines_running_down_and_the_same_x_height(text_page):
    upright, turned = measure_text(text_page), measure_text(text_page.rotate(90, expand=True))
    assert turned.vertical is True
    assert turned.x_height_px == pytest.approx(upright.x_height_px, abs=2)


def test_a_page_upside_down_is_told_by_more_ink_below_its_lines_than_above(text_page):
    upright, turned = measure_text(text_page), measure_text(text_page.rotate(180))
    assert (upright.upside_down, turned.upside_down) == (False, True)
    assert turned.vertical is False


def test_a_blank_page_has_no_x_height():
    assert measure_text(Image.new("L", SMALL_PAGE, 255)).x_height_px is None


@pytest.mark.parametrize(
    ("x_height", "factor"), [(8.0, 2.0), (14.0, 1.0), (22.0, 1.0), (30.0, 1.0), (52.0, 0.5), (2.0, MAX_UPSCALE)]
)
def test_text_outside_the_readable_band_is_scaled_just_inside_it(x_height, factor):
    assert text_scale(TextSize(x_height, False, 40), 1_000_000, 40_000_000) == pytest.approx(factor, abs=0.01)


def test_scaling_up_never_goes_over_the_pixel_budget():
    assert text_scale(TextSize(8.0, False, 40), 10_000_000, 20_000_000) == pytest.approx(2**0.5, abs=0.01)
