"""The page clean-up steps, pure functions on grayscale ("L") images: skew estimate, deskew, background, denoise.

Each step is cheap on purpose (about a tenth of what Tesseract spends on the same page): anything that can be
estimated on a downscaled copy is, and full-resolution work is a handful of vectorised passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageFilter

# Pages are scanned within a few degrees of straight; a larger angle is more likely a layout (a rotated table).
MAX_SKEW_DEG = 5.0
COARSE_STEP_DEG = 0.25
FINE_STEP_DEG = 0.05
# Below this the rotation's resampling blur costs more OCR accuracy than the skew itself.
MIN_ROTATION_DEG = 0.1
# The skew is estimated on a copy about this wide: 0.05 degrees is then under a pixel of drift across the text.
SKEW_SAMPLE_WIDTH_PX = 1000
# A page with fewer ink pixels than this (on the sample) is blank or nearly so: nothing to straighten.
MIN_INK_POINTS = 500
# More points than this add time, not precision: the estimate uses an even subsample.
MAX_INK_POINTS = 150_000
# Lighting varies over centimetres, text over millimetres: the background is estimated at 1/8 scale (at 300 dpi)
# where a 7-pixel max filter (about 5 mm) erases strokes and a wide blur keeps only the lighting.
BACKGROUND_SCALE_AT_300_DPI = 8
BACKGROUND_MAX_FILTER_PX = 7
BACKGROUND_BLUR_PX = 6.0
# Contrast stretch: this share of the darkest pixels becomes pure black; paper pixels (above Otsu's threshold)
# brighter than their median minus 1.5 noise sigmas become pure white. The 16th percentile of a normal
# distribution is one sigma below its median; measured on the noisy benchmark corpus (sigma 10-18).
INK_PERCENTILE = 0.5
PAPER_NOISE_PERCENTILE = 15.87
PAPER_NOISE_SIGMAS = 1.5
MIN_CONTRAST_LEVELS = 16
# Paper whose robust noise sigma is at most this many gray levels is flat (bilevel or rendered): no median.
# Measured on a 1/2-size copy (a box filter), which keeps sensor grain (sigma 10-18 on the bench corpus) visible.
MIN_NOISE_LEVELS = 2
NOISE_SAMPLE_FACTOR = 2
# Dust that survives the median (specks of 3-5 px) is read by Tesseract as punctuation and accents. A speck is an
# ink blob no wider than a stroke (dots are as wide as the pen that made them) with no ink near it where a mark
# of that size has its letter: a period, comma or colon follows a letter (ink to its left within
# SPECK_LEFT_GAP_X x-heights, the space French puts before a colon included); an i's dot or an accent sits over
# its letter (ink below within SPECK_BELOW_GAP_X); the dot of a ! or ? sits under its stroke (ink above within
# SPECK_ABOVE_GAP_X); the dot of a decimal or an ellipsis has ink on its right too (SPECK_RIGHT_GAP_X). Measured
# on real scans (Times, a light sans, typewriter): dots sit 0.15-0.3 x-heights from their letter, a few up to
# 0.4; a gap counted in stroke widths instead removed the dots of thin fonts. Dust nearer to ink than that stays.
SPECK_BOX_STROKES = 1.0
SPECK_LEFT_GAP_X = 0.5
SPECK_RIGHT_GAP_X = 0.25
SPECK_ABOVE_GAP_X = 0.35
SPECK_BELOW_GAP_X = 0.5
# Dust smaller than a dot (narrower and shorter than a stroke: periods, commas and dots are as wide as the pen) is
# erased beside letters too, where Tesseract reads it as a period after a word, when no other ink comes within
# DUST_CLEARANCE_STROKES of it (the pieces of a broken or faded letter nearly touch: without the clearance a
# typewriter page lost letters) and no letter lies under it within SPECK_BELOW_GAP_X (a thin i's dot, binarised
# to less than the stems: without this guard "ri" was read "n"). Measured: the synthetic bench's errors 622 ->
# 400, real-dev's 170 -> 171 (an illustration's hatching).
DUST_CLEARANCE_STROKES = 0.5
# The stroke width is the commonest horizontal ink run, counted on every 4th row (stems outnumber everything else).
STROKE_ROW_STEP = 4
# Fewer runs than this and the page has too little text to tell its stroke width: nothing is removed.
MIN_STROKE_RUNS = 500
WHITE = 255
_LEVELS = np.arange(WHITE + 1, dtype=np.int32)
_DIVIDED = np.minimum(_LEVELS[:, None] * WHITE // np.maximum(_LEVELS[None, :], 1), WHITE).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class Options:
    """Which steps run; the defaults are the ones measured to help Tesseract on degraded scans."""

    deskew: bool = True
    clean: bool = True
    denoise: bool = True
    binarize: bool = True
    # Used by prepare.py (the page around these steps): whether a page is scaled to the size of its text, and
    # whether the decoded page is kept beside the clean one for the OCR service to fall back on.
    text_scale: bool = True
    fallback: bool = True


def otsu_threshold(gray: np.ndarray) -> int:
    """The gray level that best separates ink from paper (Otsu's between-class variance)."""
    return otsu_from_histogram(np.bincount(gray.ravel(), minlength=256))


def gray_histogram(img: Image.Image) -> np.ndarray:
    """The 256 gray-level counts of an "L" image (Pillow's own count: ten times faster than numpy's bincount)."""
    return np.asarray(img.histogram(), dtype=np.int64)


def otsu_from_histogram(counts: np.ndarray) -> int:
    hist = counts.astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(hist)
    mass_dark = np.cumsum(hist * levels)
    weight_light = total - weight_dark
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_dark = mass_dark / weight_dark
        mean_light = (mass_dark[-1] - mass_dark) / weight_light
        between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.nanargmax(np.nan_to_num(between, nan=-1.0)))


def _ink_points(img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the dark pixels of a downscaled copy, centred, as float arrays (y, x)."""
    factor = max(1, round(img.width / SKEW_SAMPLE_WIDTH_PX))
    small = np.asarray(img.reduce(factor) if factor > 1 else img)
    ys, xs = np.nonzero(small < otsu_threshold(small))
    if ys.size > MAX_INK_POINTS:
        stride = -(-ys.size // MAX_INK_POINTS)
        ys, xs = ys[::stride], xs[::stride]
    return ys.astype(np.float64), xs.astype(np.float64) - small.shape[1] / 2.0


def _sharpness(ys: np.ndarray, xs: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Projection-profile energy per angle: text lines straightened by the right angle give the spikiest profile."""
    scores = np.empty(angles_deg.size)
    offset = float(np.abs(xs).max() * np.tan(np.radians(MAX_SKEW_DEG + 1)) + 1)
    for i, angle in enumerate(angles_deg):
        rows = (ys + xs * np.tan(np.radians(angle)) + offset).astype(np.int64)
        counts = np.bincount(rows)
        scores[i] = float(np.dot(counts, counts))
    return scores


def _best_angle(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float]:
    """(angle, sharpness) of the straightest rows of points (ys across, xs centred along), coarse then fine."""
    coarse = np.arange(-MAX_SKEW_DEG, MAX_SKEW_DEG + COARSE_STEP_DEG / 2, COARSE_STEP_DEG)
    coarse_scores = _sharpness(ys, xs, coarse)
    best = float(coarse[int(np.argmax(coarse_scores))])
    fine = np.arange(best - COARSE_STEP_DEG, best + COARSE_STEP_DEG + FINE_STEP_DEG / 2, FINE_STEP_DEG)
    fine = fine[np.abs(fine) <= MAX_SKEW_DEG + 1e-9]
    fine_scores = _sharpness(ys, xs, fine)
    return round(float(fine[int(np.argmax(fine_scores))]), 2), float(fine_scores.max())


def estimate_skew(img: Image.Image) -> float:
    """The page's skew in degrees, counter-clockwise positive (as `Image.rotate` would have made it); 0 if blank.

    Lines running down the page (a page turned by 90 degrees, set upright later by the OCR service) are
    straightened as well: the columns' profile is tried too, and whichever direction gives sharper lines wins.
    """
    ys, xs = _ink_points(img)
    if ys.size < MIN_INK_POINTS:
        return 0.0
    across, across_score = _best_angle(ys, xs)
    # Transposed (x for y): a counter-clockwise tilt of the columns is a clockwise one of the transposed rows.
    down, down_score = _best_angle(xs - xs.min(), ys - (ys.max() + ys.min()) / 2)
    return across if across_score >= down_score else -down


def deskew(img: Image.Image, skew_deg: float) -> Image.Image:
    """Rotate the page straight, keeping its size (as scanners and OCRmyPDF do) and filling corners with white.

    OpenCV's bilinear warp, turned about the page's centre as `Image.rotate` does (OpenCV's pixel centres are at
    whole coordinates, Pillow's at half ones): within half a level of exact bilinear interpolation, and 6x faster
    than Pillow's `rotate` (22 against 126 ms an A4 page at 300 dpi), whose fixed-point sampling is off by up to
    40 levels on some stroke edges. Read: real-dev 170 errors (168 with Pillow's, session before), the
    synthetic bench 622 against Pillow's 610; OpenCV's bicubic read worse on real scans (c02-22.pdf 10 -> 133).
    """
    if abs(skew_deg) < MIN_ROTATION_DEG:
        return img
    centre = ((img.width - 1) / 2.0, (img.height - 1) / 2.0)
    turn = cv2.getRotationMatrix2D(centre, -skew_deg, 1.0)
    straight = cv2.warpAffine(
        np.asarray(img), turn, img.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=WHITE
    )
    return Image.fromarray(straight, "L")


def max_filter(pixels: np.ndarray, radius: int) -> np.ndarray:
    """The maximum over a (2r+1)-square window: separable, so 4r numpy passes (Pillow's rank filter is 10x slower)."""
    out = pixels
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        length = out.shape[axis]
        out = np.max([np.take(padded, range(k, k + length), axis=axis) for k in range(2 * radius + 1)], axis=0)
    return out


def flatten_background(img: Image.Image, dpi: float) -> Image.Image:
    """Divide by the estimated paper brightness, so uneven lighting and shadows become a flat white."""
    factor = max(1, round(BACKGROUND_SCALE_AT_300_DPI * dpi / 300))
    small = img.reduce(factor) if factor > 1 else img.copy()
    paper = Image.fromarray(max_filter(np.asarray(small), BACKGROUND_MAX_FILTER_PX // 2), "L")
    paper = paper.filter(ImageFilter.GaussianBlur(BACKGROUND_BLUR_PX))
    background = np.asarray(paper.resize(img.size, Image.Resampling.BILINEAR))
    # min(pixel * 255 // background, 255) looked up by (pixel, background): no integer division per pixel.
    index = np.asarray(img).astype(np.uint16) << 8
    index |= background
    return Image.fromarray(_DIVIDED.ravel().take(index), "L")


def _hist_percentile(hist: np.ndarray, percent: float) -> int:
    cumulative = np.cumsum(hist)
    return int(np.searchsorted(cumulative, cumulative[-1] * percent / 100))


def stretch_contrast(img: Image.Image) -> Image.Image:
    """Map the darkest ink to black and the paper, noise included, to white (a lookup table: one pass).

    The white point sits below the paper's median by its noise (a robust sigma from the paper pixels' spread),
    so a clean page keeps its grays and a grainy scan's paper becomes flat white: the OCR sees less speckle, and
    the PNG is less than half the size (5 MB to 2 MB on a noisy A4 page, for the same CER).
    """
    hist = gray_histogram(img)
    ink = _hist_percentile(hist, INK_PERCENTILE)
    paper_hist = hist.copy()
    paper_hist[: otsu_from_histogram(hist) + 1] = 0
    if paper_hist.sum() == 0:
        return img
    paper = _hist_percentile(paper_hist, 50.0)
    spread = paper - _hist_percentile(paper_hist, PAPER_NOISE_PERCENTILE)
    white = paper - round(PAPER_NOISE_SIGMAS * spread)
    if white - ink < MIN_CONTRAST_LEVELS:  # a blank or uniform page: stretching would only amplify noise
        return img
    levels = np.clip((np.arange(256) - ink) * WHITE / (white - ink), 0, WHITE).astype(np.uint8)
    return img.point(levels.tolist())


def denoise(img: Image.Image) -> Image.Image:
    """A 3x3 median: removes the scanner's salt-and-pepper and dust without softening stroke edges.

    OpenCV's median (edges replicated): the same pixels as Pillow's `MedianFilter(3)`, 25 times faster.
    """
    return Image.fromarray(cv2.medianBlur(np.asarray(img), 3), "L")


def has_sensor_noise(img: Image.Image) -> bool:
    """Whether the paper is grainy: its lighter half spreads over more than MIN_NOISE_LEVELS gray levels.

    A bilevel scan (CCITT, JBIG2, a 1-bit PNG) or a rendered page has flat paper: a median would only round off
    its strokes' corners (measured on real scans: an office scan went from 1.5 % to 2.3 % CER with it).
    """
    hist = gray_histogram(img.reduce(NOISE_SAMPLE_FACTOR))
    paper = hist.copy()
    paper[: otsu_from_histogram(hist) + 1] = 0
    if paper.sum() == 0:
        return False
    return _hist_percentile(paper, 50.0) - _hist_percentile(paper, PAPER_NOISE_PERCENTILE) > MIN_NOISE_LEVELS


def binarize(img: Image.Image) -> Image.Image:
    """One global Otsu threshold: once the background is flat, one threshold fits the whole page.

    Measured on the benchmark corpus (bench/README.md): same or better CER than handing Tesseract the gray page,
    and Tesseract runs about 20% faster on a black-and-white page.
    """
    levels = np.where(np.arange(256) > otsu_from_histogram(gray_histogram(img)), WHITE, 0).astype(np.uint8)
    return img.point(levels.tolist())


def stroke_width(ink: np.ndarray) -> int | None:
    """The page's stroke width in pixels: the commonest length of horizontal ink runs (vertical stems are most of
    them); None when the page has too little ink to tell."""
    rows = ink[::STROKE_ROW_STEP].view(np.int8)
    edges = np.diff(rows, axis=1, prepend=0, append=0)
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    if runs.size < MIN_STROKE_RUNS:
        return None
    return int(np.argmax(np.bincount(runs)))


def _ink_in(table: np.ndarray, top: np.ndarray, bottom: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Ink pixels in each box [top, bottom) x [left, right), clipped to the page, from a summed-area table."""
    h, w = table.shape[0] - 1, table.shape[1] - 1
    t, b, lo, hi = np.clip(top, 0, h), np.clip(bottom, 0, h), np.clip(left, 0, w), np.clip(right, 0, w)
    return table[b, hi] - table[t, hi] - table[b, lo] + table[t, lo]  # type: ignore[no-any-return]


def speck_mask(ink: np.ndarray, width: int, x_height_px: float) -> np.ndarray:
    """The pixels of the ink blobs that are dust on a page of this stroke width and x-height (see SPECK_*, DUST_*).

    Every blob (8-connected) is judged by its box: how big it is, and how much ink lies in the bands beside,
    above and below it (a summed-area table: four lookups a band, every blob at once).
    """
    # Grana's algorithm: the same components, 15 % faster than the default on a page of text.
    blobs = ink.view(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(blobs, 8, cv2.CV_32S, cv2.CCL_GRANA)
    x0, y0, w0, h0, area = (stats[:, i] for i in range(5))  # each blob's own box and its ink
    size = np.maximum(w0, h0)
    # (x, y, w, h): the box grown to at least a stroke each way, about its centre, for the bands to a letter: a
    # one-pixel sliver is judged by the ink of a pen's width around it.
    x, w = x0 - np.maximum(width - w0, 0) // 2, np.maximum(w0, width)
    y, h = y0 - np.maximum(width - h0, 0) // 2, np.maximum(h0, width)
    table = cv2.integral(blobs)
    left, right, above, below = (
        max(1, math.ceil(x_height_px * g))
        for g in (SPECK_LEFT_GAP_X, SPECK_RIGHT_GAP_X, SPECK_ABOVE_GAP_X, SPECK_BELOW_GAP_X)
    )
    # As big as a dot, with none of the letters a dot belongs to where that letter would be.
    alone_in_its_rows = _ink_in(table, y, y + h, x - left, x + w + right) == area
    alone_in_its_columns = _ink_in(table, y - above, y + h + below, x, x + w) == area
    speck = (size <= width * SPECK_BOX_STROKES) & alone_in_its_rows & alone_in_its_columns
    # Smaller than a dot: dust beside a letter too, unless it nearly touches other ink or sits over a letter.
    gap = math.ceil(width * DUST_CLEARANCE_STROKES)
    clear = _ink_in(table, y0 - gap, y0 + h0 + gap, x0 - gap, x0 + w0 + gap) == area
    over_nothing = _ink_in(table, y + h, y + h + below, x, x + w) == 0
    dust = (size < width) & clear & over_nothing
    found = speck | dust
    found[0] = False  # label 0 is the paper
    mask: np.ndarray = found[labels]
    return mask


def remove_specks(img: Image.Image, x_height_px: float) -> Image.Image:
    """Erase dust from a black-and-white page whose text has this x-height: blobs no wider than a stroke, away
    from any letter they could be the dot or the period of, and blobs smaller than any dot that no ink comes near
    and no letter is under.

    Sized by the page's own stroke width and text, so small print keeps its dots.
    """
    ink = np.asarray(img) < WHITE // 2
    width = stroke_width(ink)
    if width is None:
        return img
    dust = speck_mask(ink, width, x_height_px)
    if not dust.any():
        return img
    return Image.fromarray(np.where(dust, np.uint8(WHITE), np.asarray(img)), "L")


def normalise_page(img: Image.Image, dpi: float, options: Options = Options()) -> tuple[Image.Image, float]:
    """All steps in their order; returns the clean page and the skew that was measured (0 when not estimated).

    The median comes first so the contrast stretch does not amplify sensor noise; the threshold comes last,
    after the rotation, so straightened strokes are not jagged (order measured in bench/ocr_bench.py --tuning).
    """
    page = img.convert("L") if img.mode != "L" else img
    if options.denoise and has_sensor_noise(page):
        page = denoise(page)
    if options.clean:
        page = stretch_contrast(flatten_background(page, dpi))
    skew_deg = estimate_skew(page) if options.deskew else 0.0
    page = deskew(page, skew_deg)
    if options.binarize and options.clean:
        page = binarize(page)
    return page, skew_deg
