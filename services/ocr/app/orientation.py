"""Which way up a page is: Tesseract's orientation detection (OSD), and a check by reading when OSD is unsure.

OSD looks at the shapes of a sample of characters and is quick (about a tenth of a page's recognition), but its
confidence falls on low-resolution or sparse pages, where OCRmyPDF stops trusting it and leaves the page as it is.
There the page is not left as it is: a crop from its middle is read in each of the four orientations, and the one
Tesseract reads with the highest confidence wins (an upright crop reads at 90+, a turned one at about 40).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from services.common.manifest import INK_BELOW

log = logging.getLogger(__name__)

OSD_DATA = "osd.traineddata"
ROTATIONS = (0, 90, 180, 270)
# OSD's own confidence above which its answer is taken as is (OCRmyPDF's --rotate-pages-threshold default).
OSD_SURE_CONF = 14.0
# The crop read in each orientation: the middle of the inked area, at most this many pixels a side (600 px at
# 300 dpi is eight lines of body text; each trial reading costs about a twentieth of the page's).
TRIAL_CROP_MAX_PX = 600
MIN_CROP_PX = 400
# Upright beats the others by this much mean word confidence, or the page stays as it is.
TRIAL_MARGIN_CONF = 15


@dataclass(frozen=True, slots=True)
class Orientation:
    """The rotation (counter-clockwise degrees, as `Image.rotate` takes it) that sets the page upright, and how
    it was found: `osd`, `trial` (reading a crop each way), or `none` (no detection possible)."""

    rotation: int
    method: str
    confidence: float


def tesserocr_psm(api: Any) -> Any:
    """tesserocr's PSM enum (imported late: libtesseract loads after the worker sets OMP_THREAD_LIMIT)."""
    import tesserocr

    return tesserocr.PSM


def load_osd(tesserocr: Any, tessdata_dir: str) -> Any | None:
    """An OSD-only engine, or None (logged once) when the orientation data is not installed."""
    if not (Path(tessdata_dir) / OSD_DATA).is_file():
        log.warning("no %s in %s: pages turned sideways are found by reading trials only", OSD_DATA, tessdata_dir)
        return None
    return tesserocr.PyTessBaseAPI(path=tessdata_dir, lang="osd", psm=tesserocr.PSM.OSD_ONLY)


def _osd(osd: Any, page: Image.Image, dpi: float) -> tuple[int, float] | None:
    osd.SetImage(page)
    osd.SetSourceResolution(round(dpi))
    found = osd.DetectOrientationScript()
    if not found:
        return None
    return int(found["orient_deg"]) % 360, float(found["orient_conf"])


def _middle_crop(page: Image.Image) -> Image.Image:
    """The middle of the inked area (a page's text may fill only its top), at most TRIAL_CROP_MAX_PX a side."""
    box = page.point(lambda v: 255 if v < INK_BELOW else 0).getbbox()
    left, top, right, bottom = box if box else (0, 0, page.width, page.height)
    centre_x, centre_y = (left + right) // 2, (top + bottom) // 2
    half_w = max(min((right - left) // 2, TRIAL_CROP_MAX_PX) // 2, 1)
    half_h = max(min((bottom - top) // 2, TRIAL_CROP_MAX_PX) // 2, 1)
    # Never thinner than a few lines: a crop of one line's middle cannot tell up from down.
    half_w, half_h = max(half_w, min(MIN_CROP_PX, page.width) // 2), max(half_h, min(MIN_CROP_PX, page.height) // 2)
    return page.crop((centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h))


def trial_rotation(api: Any, page: Image.Image, dpi: float, candidates: tuple[int, ...] = ROTATIONS) -> Orientation:
    """Read the page's middle in each candidate orientation; the clear winner, else no rotation."""
    crop = _middle_crop(page)
    scores: dict[int, float] = {}
    # One block of horizontal lines: in its automatic layout Tesseract reads a turned crop's vertical lines
    # too, which would make every orientation score alike.
    api.SetPageSegMode(tesserocr_psm(api).SINGLE_BLOCK)
    try:
        for rotation in candidates:
            api.SetImage(crop.rotate(rotation, expand=True) if rotation else crop)
            api.SetSourceResolution(round(dpi))
            api.Recognize()
            scores[rotation] = float(api.MeanTextConf())
    finally:
        api.SetPageSegMode(tesserocr_psm(api).AUTO)
    best = max(scores, key=lambda r: scores[r])
    runner_up = max((score for rotation, score in scores.items() if rotation != best), default=0.0)
    if best != 0 and scores[best] < runner_up + TRIAL_MARGIN_CONF:
        return Orientation(0, "trial", scores.get(0, 0.0))  # no clear winner: leave the page as it is
    return Orientation(best, "trial", scores[best])


def detect_orientation(
    osd: Any | None, api: Any, page: Image.Image, dpi: float, lines_vertical: bool = False
) -> Orientation:
    """OSD when it is sure, else a reading trial. `api` is left set to the trial's image: the caller re-reads.

    The trial reads only the two orientations that fit the direction prep saw the lines run in (90 and 270 for
    lines running down the page, else 0 and 180): half the cost, and the rest would read as badly.
    """
    found = _osd(osd, page, dpi) if osd is not None else None
    if found is not None and found[1] >= OSD_SURE_CONF:
        return Orientation(found[0], "osd", found[1])
    return trial_rotation(api, page, dpi, (90, 270) if lines_vertical else (0, 180))
