"""Dark borders: the table under a photographed page, the scanner lid around a small original, a copier's frame.

Left in, they wreck the clean-up that follows: the lighting estimate takes the dark table for shadow, the contrast
stretch and the global threshold split table from paper instead of ink from paper, and the table's texture comes
out as a frame of speckles that Tesseract reads as letters. They are found on a small copy where text has been
erased (a max filter), as the dark areas reachable from the image's edge along a row or a column without crossing
paper, and painted the paper's own gray, so the later steps see one sheet of paper.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .normalise import max_filter, otsu_threshold

# About this many pixels across: a border is centimetres wide, so this keeps it several pixels wide.
SAMPLE_WIDTH_PX = 400
# Erases text strokes (a few sample pixels) but not a border.
TEXT_ERASE_RADIUS_PX = 2
# Less dark edge area than this is a scanner's thin shadow, which the background flattening already handles.
MIN_BORDER_SHARE = 0.03
# The border is darker than this share of the paper's brightness: a page of dark paper is not a border.
MAX_BORDER_TO_PAPER = 0.6
# The painted area reaches this far (sample pixels) past the border into the blurred edge of the sheet.
EDGE_GROWTH_PX = 2


def _reachable_from_edges(dark: np.ndarray) -> np.ndarray:
    """Dark pixels joined to the image edge by a straight run of dark pixels along their row or column."""
    from_left = np.logical_and.accumulate(dark, axis=1)
    from_right = np.logical_and.accumulate(dark[:, ::-1], axis=1)[:, ::-1]
    from_top = np.logical_and.accumulate(dark, axis=0)
    from_bottom = np.logical_and.accumulate(dark[::-1], axis=0)[::-1]
    reached: np.ndarray = from_left | from_right | from_top | from_bottom
    return reached


def dark_border_mask(img: Image.Image) -> tuple[np.ndarray, int] | None:
    """The border as a mask at sample scale and the paper's gray level, or None when there is no dark border."""
    factor = max(1, round(img.width / SAMPLE_WIDTH_PX))
    small = img.reduce(factor) if factor > 1 else img
    paperish = max_filter(np.asarray(small), TEXT_ERASE_RADIUS_PX)
    threshold = otsu_threshold(paperish)
    dark = paperish <= threshold
    if not dark.any() or dark.all():
        return None
    paper = float(np.median(paperish[~dark]))
    if float(np.median(paperish[dark])) > MAX_BORDER_TO_PAPER * paper:
        return None
    border = _reachable_from_edges(dark)
    if border.mean() < MIN_BORDER_SHARE:
        return None
    return max_filter(border, EDGE_GROWTH_PX), round(paper)


def paint_dark_border(img: Image.Image) -> tuple[Image.Image, float]:
    """The page with its dark border painted paper-gray, and the share of the page that was border (0 if none)."""
    found = dark_border_mask(img)
    if found is None:
        return img, 0.0
    mask, paper = found
    full = Image.fromarray(mask.astype(np.uint8) * 255, "L").resize(img.size, Image.Resampling.NEAREST)
    painted = img.copy()
    painted.paste(paper, mask=full)
    return painted, round(float(mask.mean()), 3)
