"""How big the text is and which way its lines run, measured on the page itself (never on the dpi a file claims).

Both come from row profiles of a clean black-and-white page, cut into vertical strips so that columns and
pictures do not smear the lines together: in a strip, a text line is a run of inked rows whose dense band (the
rows holding at least half the ink of its fuller rows) is the x-height. Lines that do not look like text (a picture is a
run far taller than its dense band) are ignored; the median of the rest is the page's x-height. Which way the
lines run (a page turned by 90 degrees) is told by the whole page's profiles first: lines and the gaps between
them make the profile across them spiky, while along them letters and words average out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from services.common.manifest import INK_BELOW

# Narrow enough that a strip rarely spans two columns whose lines are out of step, wide enough to hold words.
STRIPS = 12
# A run of inked rows shorter than this is a rule, a speck or a dotted leader, not a line of text.
MIN_LINE_PX = 3
# A text line's run (ascenders to descenders) is 1.2 to 3 times its x-height; a picture is far taller.
LINE_TO_CORE = (1.2, 3.0)
# Fewer text lines than this and the page says too little about its text size to act on it.
MIN_TEXT_LINES = 8
# The middle half of the line heights may spread over at most this share of their median.
MAX_SPREAD = 1.0
# A strip row with fewer ink pixels than this share of the strip's width is noise, not text.
ROW_INK_SHARE = 1 / 200
# A line's dense band: the rows holding at least half the ink of its fuller rows (the 75th percentile, not the
# maximum: a row along a horizontal stroke, the bar of an e or the top of a T, would set the bar too high).
CORE_PERCENTILE = 75
# Tesseract reads an x-height of about 14 to 30 px well (measured on real scans: docs/performance.md); outside
# that band the page is scaled to just inside it (enlarging further read worse on the same pages, and costs time).
READABLE_X_HEIGHT_PX = (14.0, 30.0)
SCALED_UP_TO_PX = 16.0
SCALED_DOWN_TO_PX = 26.0
# Bounds on one correction: 4x up (a 72 dpi screen capture to about 300) and 8x down (2400 dpi to 300).
MAX_UPSCALE = 4.0
MIN_DOWNSCALE = 0.125
# A correction smaller than this is not worth a second clean-up pass.
MIN_RESCALE = 0.1
# Lines run down the page when its column profile is this much spikier than its row profile (upright text
# measures 1.9-3.3 against 1.1-1.6 on real scans; a page of one short line can mislead, at the cost of a check).
DIRECTION_MARGIN = 1.2
# Latin text has more ink above its x-height band (capitals, b d f h k l t) than below it (g j p q y): upright
# pages measure 1.2-3.1 times more above on real scans, the same pages upside down 0.33-0.71. Below this ratio
# the page is taken for upside down (a wrong guess costs one orientation check: the OCR's readings decide).
UPSIDE_DOWN_BELOW = 0.8


@dataclass(frozen=True, slots=True)
class TextSize:
    """The page's x-height in pixels (None when too few lines tell it), whether its lines run down the page
    (a page turned by 90 degrees), and whether it looks upside down (read along its lines)."""

    x_height_px: float | None
    vertical: bool
    lines: int
    upside_down: bool = False


def _percentile(values: np.ndarray, percent: float) -> float:
    """np.percentile's default (linear) for one short array: called once per line, np.percentile's own overhead was
    most of the text measurement's time (0.1 s of a page's 0.8)."""
    ordered = np.sort(values)
    position = (ordered.size - 1) * percent / 100
    low = int(position)
    high = min(low + 1, ordered.size - 1)
    return float(ordered[low] + (float(ordered[high]) - float(ordered[low])) * (position - low))


def _line_cores(profile: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(dense-band height, run height, ink, ink above the band, ink below it) of each run of inked rows in one
    strip's profile."""
    inked = np.concatenate(([0], (profile > 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(inked))
    cores = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start < MIN_LINE_PX:
            continue
        run = profile[start:end]
        dense = np.flatnonzero(run >= _percentile(run, CORE_PERCENTILE) / 2)
        above, below = int(run[: dense[0]].sum()), int(run[dense[-1] + 1 :].sum())
        cores.append((int(dense.size), int(end - start), int(run.sum()), above, below))
    return cores


def _text_cores(ink: np.ndarray) -> np.ndarray:
    """(dense-band height, ink, ink above the band, below it) of the runs that look like text lines, rows being
    the first axis of `ink`."""
    height, width = ink.shape
    strip = width // STRIPS
    if strip < 1 or height < MIN_LINE_PX:
        return np.empty((0, 4))
    profiles = ink[:, : strip * STRIPS].reshape(height, STRIPS, strip).sum(axis=2, dtype=np.int32)
    profiles[profiles < max(2, round(strip * ROW_INK_SHARE))] = 0
    cores = np.array([c for s in range(STRIPS) for c in _line_cores(profiles[:, s])], dtype=np.float64)
    if cores.size == 0:
        return np.empty((0, 4))
    low, high = LINE_TO_CORE
    looks_like_text = (cores[:, 1] >= low * cores[:, 0]) & (cores[:, 1] <= high * cores[:, 0])
    text_cores: np.ndarray = cores[looks_like_text][:, [0, 2, 3, 4]]
    return text_cores


def _weighted_percentiles(values: np.ndarray, weights: np.ndarray, percents: list[float]) -> list[float]:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return [float(values[order][np.searchsorted(cumulative, cumulative[-1] * p / 100)]) for p in percents]


def _spikiness(ink: np.ndarray, axis: int) -> float:
    """Mean square over squared mean of the ink profile (within the inked span): lines and gaps make it high."""
    profile = ink.sum(axis=axis, dtype=np.int64).astype(np.float64)
    inked = np.flatnonzero(profile)
    if inked.size == 0:
        return 0.0
    span = profile[inked[0] : inked[-1] + 1]
    return float(np.mean(span**2) / max(float(np.mean(span)) ** 2, 1e-9))


def lines_run_down(ink: np.ndarray) -> bool:
    """Whether the text lines run down the page: the column profile is clearly spikier than the row profile."""
    return _spikiness(ink, 0) > DIRECTION_MARGIN * _spikiness(ink, 1)


def measure_text(page: Image.Image) -> TextSize:
    """The text size and direction of a binarised page."""
    ink = np.asarray(page) < INK_BELOW
    vertical = lines_run_down(ink)
    cores = _text_cores(ink.T if vertical else ink)
    lines = len(cores)
    if lines < MIN_TEXT_LINES:
        return TextSize(None, vertical, lines)
    upside_down = float(cores[:, 2].sum()) < UPSIDE_DOWN_BELOW * float(cores[:, 3].sum())
    # Ink clipped at its median: a strip that cuts a line's last letters weighs less, a picture no more.
    weights = np.minimum(cores[:, 1], np.median(cores[:, 1]))
    low, median, high = _weighted_percentiles(cores[:, 0], weights, [25, 50, 75])
    if high - low > MAX_SPREAD * median:
        # Body text has one x-height; widely spread "lines" are letters seen sideways, or pictures.
        return TextSize(None, vertical, lines, upside_down)
    return TextSize(median, vertical, lines, upside_down)


def upright_turn(size: TextSize | None) -> int:
    """The counter-clockwise turn (as `Image.rotate` takes it) that sets the text upright by its line profiles: 0
    when it is upright, or when too few consistent lines were measured to tell.

    Lines running down the page are measured on the transposed page: text whose top points left (set upright by
    a turn of 270) stands upright there, text whose top points right (a turn of 90) upside down.
    """
    if size is None or size.x_height_px is None:
        return 0
    if size.vertical:
        return 90 if size.upside_down else 270
    return 180 if size.upside_down else 0


def text_scale(size: TextSize | None, pixels: int, max_pixels: int) -> float:
    """The factor that brings the x-height just inside the band Tesseract reads well (1 when it is inside).

    Never beyond MAX_UPSCALE/MIN_DOWNSCALE (a wrong measure must not make a page absurd) nor over the budget.
    """
    x_height = size.x_height_px if size is not None else None
    if x_height is None or READABLE_X_HEIGHT_PX[0] <= x_height <= READABLE_X_HEIGHT_PX[1]:
        return 1.0
    target_px = SCALED_UP_TO_PX if x_height < READABLE_X_HEIGHT_PX[0] else SCALED_DOWN_TO_PX
    factor = min(max(target_px / x_height, MIN_DOWNSCALE), MAX_UPSCALE)
    factor = min(factor, (max_pixels / max(pixels, 1)) ** 0.5)
    return 1.0 if abs(factor - 1.0) < MIN_RESCALE else round(factor, 3)
