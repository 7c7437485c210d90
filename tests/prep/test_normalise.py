"""The clean-up steps on synthetic pages: skew estimate and correction, lighting, noise, dust."""

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
    remove_specks,
    stretch_contrast,
    stroke_width,
)
from services.prep.app.prepare import prepare_page
from services.prep.app.render import Page
from services.prep.app.textsize import measure_text
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


@pytest.mark.parametrize("skew", [-2.3, 1.7])
def test_deskew_turns_the_page_about_its_centre_without_moving_or_blurring_the_ink(skew):
    # A black square off the centre: where a rotation about the centre puts it, still solid black in the middle.
    page = np.full((1200, 900), 255, dtype=np.uint8)
    page[180:240, 600:660] = 0
    straight = np.asarray(deskew(Image.fromarray(page, "L"), skew))
    ink = 255.0 - straight
    ys, xs = np.mgrid[0 : page.shape[0], 0 : page.shape[1]]
    found = (float((ink * xs).sum() / ink.sum()), float((ink * ys).sum() / ink.sum()))
    # deskew(img, s) turns the page clockwise by s degrees (it undoes a counter-clockwise skew of s).
    turn = np.radians(skew)
    centre = (449.5, 599.5)  # in pixel indices, as the centroid is
    dx, dy = 629.5 - centre[0], 209.5 - centre[1]  # the square's centre from the page's
    expected = (centre[0] + np.cos(turn) * dx - np.sin(turn) * dy, centre[1] + np.sin(turn) * dx + np.cos(turn) * dy)
    assert found == pytest.approx(expected, abs=0.3)
    assert straight.shape == page.shape
    assert straight[int(expected[1]), int(expected[0])] == 0
    assert straight[0, 0] == 255 and straight[-1, -1] == 255  # corners filled with white paper


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


def _x_height(page: Image.Image) -> float:
    size = measure_text(page).x_height_px
    assert size is not None
    return size


def _ink(img: Image.Image) -> np.ndarray:
    return np.asarray(img) < 128


def _dusty(page: Image.Image, sizes: tuple[int, ...], seed: int = 3) -> tuple[Image.Image, list[tuple[int, int, int]]]:
    """`page` with square specks dropped on the paper, each at least 20 px from any ink (and from the others)."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(page).copy()
    near_ink = np.asarray(Image.fromarray(_ink(page).astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(41))) > 0
    specks: list[tuple[int, int, int]] = []
    while len(specks) < 60:
        size = int(rng.choice(sizes))
        y, x = int(rng.integers(0, pixels.shape[0] - size)), int(rng.integers(0, pixels.shape[1] - size))
        if near_ink[y : y + size, x : x + size].any():
            continue
        pixels[y : y + size, x : x + size] = 0
        near_ink[max(0, y - 20) : y + size + 20, max(0, x - 20) : x + size + 20] = True
        specks.append((y, x, size))
    return Image.fromarray(pixels, "L"), specks


@pytest.fixture(scope="module")
def black_and_white_page(text_page):
    return text_page.point(lambda v: 255 if v > 128 else 0)


def test_stroke_width_is_the_width_of_the_stems():
    bars = np.full((400, 1200), 255, np.uint8)
    for x in range(20, 1180, 15):
        bars[50:350, x : x + 5] = 0
    assert stroke_width(_ink(Image.fromarray(bars))) == 5


def test_a_page_with_too_little_ink_has_no_stroke_width():
    assert stroke_width(np.zeros((100, 100), dtype=bool)) is None


def test_dust_far_from_the_text_is_erased_and_the_text_is_left_whole(black_and_white_page):
    dusty, specks = _dusty(black_and_white_page, sizes=(2, 3, 4))
    clean = _ink(remove_specks(dusty, _x_height(black_and_white_page)))
    assert not any(clean[y : y + s, x : x + s].any() for y, x, s in specks)
    # Every pixel of the text is kept: i's dots, accents, periods and commas included.
    assert np.array_equal(clean, _ink(black_and_white_page))


def test_the_text_alone_loses_nothing(black_and_white_page):
    assert np.array_equal(
        _ink(remove_specks(black_and_white_page, _x_height(black_and_white_page))), _ink(black_and_white_page)
    )


def _stroke(ink: np.ndarray) -> int:
    width = stroke_width(ink)
    assert width is not None and width >= 3  # room for dust narrower than the pen
    return width


def _last_foot(page: Image.Image) -> tuple[np.ndarray, int, int, int]:
    """The page's ink, and the bottom row, rightmost column there and stroke width of its last line's last letter."""
    ink = _ink(page)
    rows, cols = np.nonzero(ink)
    bottom, right = int(rows.max()), int(cols[rows == rows.max()].max())
    return ink, bottom, right, _stroke(ink)


def _with_dot(page: Image.Image, top: int, left: int, size: int) -> Image.Image:
    pixels = np.asarray(page).copy()
    pixels[top : top + size, left : left + size] = 0
    return Image.fromarray(pixels, "L")


def test_a_mark_beside_a_letter_is_kept_as_a_period_would_be(black_and_white_page):
    _, bottom, right, width = _last_foot(black_and_white_page)
    # A stroke-wide dot on the last line's baseline, a stroke width after its last letter's foot.
    marked = _with_dot(black_and_white_page, bottom - width + 1, right + width, width)
    assert np.array_equal(_ink(remove_specks(marked, _x_height(black_and_white_page))), _ink(marked))


def test_dust_smaller_than_a_dot_is_erased_beside_a_letter_too(black_and_white_page):
    # Where a period would be, but narrower than the pen: no font's period is, a grain of dust is.
    ink, bottom, right, width = _last_foot(black_and_white_page)
    size = width - 2
    dusty = _with_dot(black_and_white_page, bottom - size + 1, right + width, size)
    assert np.array_equal(_ink(remove_specks(dusty, _x_height(black_and_white_page))), ink)


def test_dust_smaller_than_a_dot_is_kept_when_it_nearly_touches_a_letter(black_and_white_page):
    # A piece of a broken letter: one pixel from the rest of it.
    _, bottom, right, width = _last_foot(black_and_white_page)
    size = width - 2
    piece = _with_dot(black_and_white_page, bottom - size + 1, right + 2, size)
    assert np.array_equal(_ink(remove_specks(piece, _x_height(black_and_white_page))), _ink(piece))


def test_a_dot_smaller_than_the_stems_is_kept_over_a_letter_as_a_thin_i_dot_would_be(black_and_white_page):
    ink = _ink(black_and_white_page)
    rows, cols = np.nonzero(ink)
    top = int(rows.min())
    column = int(cols[rows == top].min())
    size, x_height = _stroke(ink) - 2, _x_height(black_and_white_page)
    # Over the page's highest ink, a quarter of an x-height above it, where an i's dot sits over its stem.
    dotted = _with_dot(black_and_white_page, top - round(x_height / 4) - size, column, size)
    assert np.array_equal(_ink(remove_specks(dotted, x_height)), _ink(dotted))


def test_dust_as_big_as_a_stroke_is_kept_when_a_page_has_no_text_to_compare_with():
    pixels = np.full((300, 300), 255, np.uint8)
    pixels[100:104, 100:104] = 0
    page = Image.fromarray(pixels, "L")
    assert remove_specks(page, 20.0) is page


@pytest.mark.parametrize("text_scale", [True, False])
def test_a_prepared_page_comes_without_its_dust(text_page, text_scale):
    dusty, specks = _dusty(text_page, sizes=(3, 4), seed=11)
    ready = prepare_page(Page(dusty, 300.0), Options(deskew=False, text_scale=text_scale), 40_000_000)
    assert not any(_ink(ready.image)[y : y + s, x : x + s].any() for y, x, s in specks)
    kept = prepare_page(Page(dusty, 300.0), Options(deskew=False, denoise=False, text_scale=text_scale), 40_000_000)
    assert all(_ink(kept.image)[y : y + s, x : x + s].any() for y, x, s in specks)


def test_flatten_background_divides_each_pixel_by_the_paper_brightness(text_page):
    light = np.linspace(250, 130, SMALL_PAGE[0], dtype=np.float32)[None, :]
    shaded = Image.fromarray((40 + (light - 40) * np.asarray(text_page, dtype=np.float32) / 255).astype(np.uint8))
    paper = shaded.reduce(8).filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.GaussianBlur(6.0))
    background = np.asarray(paper.resize(shaded.size, Image.Resampling.BILINEAR), dtype=np.int32)
    expected = np.minimum(np.asarray(shaded, dtype=np.int32) * 255 // np.maximum(background, 1), 255)
    assert np.array_equal(np.asarray(flatten_background(shaded, 300)), expected)
