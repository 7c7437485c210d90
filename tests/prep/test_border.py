"""Dark borders (the table under a photographed page) painted out before the clean-up."""

from __future__ import annotations

import numpy as np
from PIL import Image

from services.prep.app.border import paint_dark_border
from services.prep.app.normalise import has_sensor_noise
from tests.factory import SAMPLE_EN, page_image, photographed_page

from .conftest import SMALL_PAGE


def test_the_dark_table_around_a_photographed_page_is_painted_paper_gray():
    photo = photographed_page(SAMPLE_EN * 3, size=SMALL_PAGE, font_size=40)
    painted, share = paint_dark_border(photo)
    assert share > 0.2
    corners = np.asarray(painted)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.min() > 120  # the table (25) became paper (about 190)
    assert painted.size == photo.size


def test_a_page_without_a_dark_border_is_left_as_it_is():
    page = page_image(SAMPLE_EN * 3, size=SMALL_PAGE, font_size=40)
    painted, share = paint_dark_border(page)
    assert (share, painted) == (0.0, page)


def test_only_grainy_paper_gets_the_median_filter():
    page = page_image(SAMPLE_EN * 3, size=SMALL_PAGE, font_size=40)
    grain = np.random.default_rng(1).normal(0, 12, (SMALL_PAGE[1], SMALL_PAGE[0]))
    noisy = np.clip(np.asarray(page, dtype=np.float64) * 0.8 + 30 + grain, 0, 255).astype(np.uint8)
    assert has_sensor_noise(page) is False
    assert has_sensor_noise(Image.fromarray(noisy, "L")) is True
