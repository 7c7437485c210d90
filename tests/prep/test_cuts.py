"""Where prep says a page can be cut across into pieces that read in the same order (services/prep/app/cuts.py)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from services.prep.app.cuts import find_cut_rows
from tests.factory import FULL_WIDTH, TWO_COLUMNS, font, page_image

LINES = [f"Line {n} of a page that reads from the top down" for n in range(1, 15)]


def ink_share_above(page: Image.Image, row: int) -> float:
    ink = np.asarray(page) < 128
    return float(ink[:row].sum() / ink.sum())


def test_a_page_of_one_column_is_cut_at_a_blank_row_near_the_middle_of_its_ink():
    page = page_image(LINES, size=(1748, 2480), font_size=48)
    [row] = find_cut_rows(page)
    assert not (np.asarray(page)[row] < 128).any()
    assert 0.4 <= ink_share_above(page, row) <= 0.6


def header_over_columns() -> tuple[Image.Image, int, int]:
    """Full-width lines over two columns whose lines are out of step; and where the header ends, the columns begin."""
    img = Image.new("L", (2000, 2000), 255)
    draw = ImageDraw.Draw(img)
    f, pitch = font(34), 51
    y = 100
    for line in FULL_WIDTH * 4:
        draw.text((100, y), line, fill=0, font=f)
        y += pitch
    header_end, y = y, y + pitch
    columns_start = y
    for left, right in zip(*TWO_COLUMNS, strict=True):
        draw.text((100, y), left, fill=0, font=f)
        draw.text((1050, y + pitch // 3), right, fill=0, font=f)
        y += pitch
    return img, header_end, columns_start


def test_columns_are_not_cut_apart_the_header_over_them_is():
    page, header_end, columns_start = header_over_columns()
    # Half the ink is down in the columns: the cut nearest to it that keeps the order is at the header's end.
    assert ink_share_above(page, columns_start) < 0.5
    [row] = find_cut_rows(page)
    assert header_end - 2 * 51 < row < columns_start


def test_a_column_longer_than_the_one_beside_it_is_not_cut_where_the_other_has_ended():
    img = Image.new("L", (2000, 2000), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(FULL_WIDTH):
        draw.text((100, 100 + i * 51), line, fill=0, font=font(34))
    left, right = TWO_COLUMNS
    columns_start = 100 + 3 * 51
    for i, line in enumerate(left):
        draw.text((100, columns_start + i * 51), line, fill=0, font=font(34))
    for i, line in enumerate(right[:3]):
        draw.text((1050, columns_start + i * 51), line, fill=0, font=font(34))
    assert ink_share_above(img, columns_start + 3 * 51) < 0.5  # the middle of the ink is in the left's tail
    [row] = find_cut_rows(img)
    assert row < columns_start


def test_a_page_of_columns_from_top_to_bottom_is_not_cut():
    img = Image.new("L", (2000, 1800), 255)
    draw = ImageDraw.Draw(img)
    for i, (left, right) in enumerate(zip(*TWO_COLUMNS, strict=True)):
        # The lines of the two columns in step: blank rows run across the page between them.
        draw.text((100, 100 + i * 51), left, fill=0, font=font(34))
        draw.text((1050, 100 + i * 51), right, fill=0, font=font(34))
    assert find_cut_rows(img) == ()


def test_a_page_of_a_few_lines_is_read_whole():
    assert find_cut_rows(page_image(LINES[:4], size=(1748, 2480))) == ()
    assert find_cut_rows(Image.new("L", (1748, 2480), 255)) == ()
