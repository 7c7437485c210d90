"""Where a page can be cut across into pieces that Tesseract reads apart, on two cores, in the same order.

One document at a time, one page leaves a core idle for the whole of its reading (about 2-5 s for a dense A4
page). Cut across at a blank row, the top and the bottom read on two workers at once in about 0.55-0.75 of the
time, and the text comes out in the same order, with one condition: the cut must not cross a run of columns,
where Tesseract reads a column down to its end before the next one. So a cut is taken only at a row that is
blank across the whole page and that does not have columns both above and below it (a page's header above its
columns, or a closing paragraph under them, is cut off cleanly; two rows of columns are not cut apart).

Prep finds the cut (it has the clean page in hand); the OCR service decides whether to use it, when it has
workers to spare (services/ocr/app/pieces.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from services.common.manifest import INK_BELOW

# Pages with fewer lines of text than this read fast enough whole: a cut would cost more than it saves.
MIN_LINES = 8
# The cut is taken where the ink above it is within this share of the page's ink: a piece of 20 % saves little.
INK_SHARE = (0.2, 0.8)
# A line stands in columns when a blank gap at least this many line heights wide runs through it between ink. Word
# gaps of print are 0.3-0.65 line heights on real scans, a two-column brochure's gutter 1.4; a typewriter's word
# gaps (up to 1.2) look like gutters too, so its pages are read whole: a missed cut costs time, a wrong one order.
GUTTER_LINES = 0.8
# A box of the half-size copy holding one ink pixel (darker than INK_BELOW) among three white ones is darker than this.
INK_IN_BOX = (INK_BELOW + 3 * 255) // 4


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _gutter(line: np.ndarray, min_gap: int) -> bool:
    columns: np.ndarray = np.asarray(line.any(axis=0))
    inked = np.flatnonzero(columns)
    gaps = _runs(~columns[inked[0] : inked[-1] + 1]) if inked.size else []
    return any(end - start >= min_gap for start, end in gaps)


def _one_sided(line: np.ndarray, middle: int) -> bool:
    inked = np.flatnonzero(line.any(axis=0))
    return bool(inked.size) and (inked[-1] < middle or inked[0] > middle)


def in_columns(lines: Sequence[np.ndarray], min_gap: int, middle: int) -> bool:
    """Whether the lines next to a cut (nearest first) stand in columns: the nearest has a gutter through it, or
    it and the lines after it are one column's (all their ink on one side of the middle of the text) up to a line
    with a gutter or the page's edge: a column longer than the one beside it."""
    for line in lines:
        if _gutter(line, min_gap):
            return True
        if not _one_sided(line, middle):
            return False
    return True


def find_cut_rows(page: Image.Image) -> tuple[int, ...]:
    """The row to cut a binarised page at (a tuple of one, or none): the order-safe blank row nearest to
    splitting the page's ink in half.

    Order-safe: blank across the page, and not with lines in columns both just above and just below it. Measured
    on a half-size copy (a 2x2 box holding an ink pixel is ink): a quarter of the work, under 10 ms on an A4 page.
    """
    ink = np.asarray(page.reduce(2)) < INK_IN_BOX
    row_ink = ink.sum(axis=1, dtype=np.int64)
    lines = _runs(row_ink > 0)
    total = int(row_ink.sum())
    if len(lines) < MIN_LINES or total == 0:
        return ()
    min_gap = max(2, round(GUTTER_LINES * int(np.median([end - start for start, end in lines]))))
    inked = np.flatnonzero(ink.any(axis=0))
    middle = int(inked[0] + inked[-1]) // 2
    share_above = np.cumsum(row_ink) / total
    gaps = [(i, (above[1] + below[0]) // 2) for i, (above, below) in enumerate(zip(lines, lines[1:], strict=False))]
    gaps = [(i, row) for i, row in gaps if INK_SHARE[0] <= share_above[row] <= INK_SHARE[1]]
    for i, row in sorted(gaps, key=lambda gap: abs(share_above[gap[1]] - 0.5)):
        above_lines = [ink[slice(*run)] for run in reversed(lines[: i + 1])]
        below_lines = [ink[slice(*run)] for run in lines[i + 1 :]]
        if not (in_columns(above_lines, min_gap, middle) and in_columns(below_lines, min_gap, middle)):
            return (2 * row,)
    return ()
