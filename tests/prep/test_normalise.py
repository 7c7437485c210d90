"""The clean-up steps on synthetic pages: skew estimate and correction, lighting, noise."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from services.prep.app.normalise import (
    Options,
    denoise,
    deskew,
    estimate_skew,
    flatten_background,
    normalise_page,
    stretch_contrast,
)
from tests.factory import SAMPLE_EN, SAMPLE_FR, page_image

from .conftest import SMALL_PAGE

LINES = [*SAMPLE_FR, *SAMPLE_EN, *SAMPLE_FR, *SAMPLE_EN]


@pytest.fixture(scope="module")
def text_page():
    return page_image(LINES, size=SMALL_PAGE, font_size=40)


@pytest.mark.parametrize("angle", [-4.0, -2.5, -1.0, -0.3, 0.0, 0.6, 1.5, 3.0, 4.0])
def test_estimate_skew_finds_the_rotation_of_a_synthetic_page(text_page, angle):
    rotated = text_page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    assert estimate_skew(rotated) == pytest.approx(angle, abs=0.15)


def test_a_page_skewed_by_3_degrees_comes_out_straight(text_page):
    skewed = text_page.rotate(3.0, resample=Image.Resampling.BICUBIC, fillcolor=255)
    clean, measured = normalise_page(skewed, 300)
    assert measured == pytest.approx(3.0, abs=0.5)
    assert abs(estimate_skew(clean)) <= 0.5
    assert clean.size == skewed.size


def test_a_blank_page_has_no_skew():
    assert estimate_skew(Image.new("L", SMALL_PAGE, 255)) == 0.0


def test_deskew_leaves_a_nearly_straight_page_untouched(text_page):
    assert deskew(text_page, 0.05) is text_page


def test_uneven_lighting_becomes_flat_white_paper(text_page):
    # Paper from 250 on the left down to 130 on the right, ink at 40: a shadow across the page.
    light = np.linspace(250, 130, SMALL_PAGE[0], dtype=np.float32)[None, :]
    ink = np.asarray(text_page, dtype=np.float32) / 255.0
    shaded = Image.fromarray((40 + (light - 40) * ink).astype(np.uint8), "L")
    clean = stretch_contrast(flatten_background(shaded, 300))
    paper = np.asarray(clean)[np.asarray(text_page) == 255]
    text = np.asarray(clean)[np.asarray(text_page) == 0]
    assert np.percentile(paper, 5) >= 230
    assert np.percentile(text, 95) <= 100


def test_denoise_is_exactly_a_3x3_median():
    rng = np.random.default_rng(7)
    noisy = Image.fromarray(rng.integers(0, 256, (120, 90), dtype=np.uint8), "L")
    assert np.array_equal(np.asarray(denoise(noisy)), np.asarray(noisy.filter(ImageFilter.MedianFilter(3))))


def test_switched_off_steps_leave_the_page_as_it_is(text_page):
    clean, skew = normalise_page(text_page, 300, Options(deskew=False, clean=False, denoise=False))
    assert (clean, skew) == (text_page, 0.0)


@pytest.mark.parametrize("turn", [90, 270])
def test_the_skew_of_a_page_turned_sideways_is_measured_along_its_lines(text_page, turn):
    skewed = text_page.rotate(2.0, resample=Image.Resampling.BICUBIC, fillcolor=255)
    turned = skewed.rotate(turn, expand=True)
    straight = deskew(turned, estimate_skew(turned)).rotate(-turn, expand=True)
    assert abs(estimate_skew(straight)) <= 0.2
