"""Reads prep's `pages/manifest.json`: which page images to recognise, in which order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from services.common.errors import BadRequest
from services.common.paths import file_in_job
from services.common.stage_api import PAGES_DIR, PAGES_MANIFEST

MANIFEST_VERSION = 1
# 72 PostScript points per inch: the page size of a page that has no image to show.
POINTS_PER_INCH = 72.0


@dataclass(frozen=True, slots=True)
class PageSpec:
    page: int
    image: Path
    width: int
    height: int
    dpi: float

    @property
    def size_pt(self) -> tuple[float, float]:
        return self.width * POINTS_PER_INCH / self.dpi, self.height * POINTS_PER_INCH / self.dpi


def _page_spec(job_dir: Path, entry: Any) -> PageSpec:
    if not isinstance(entry, dict):
        raise BadRequest("manifest page entry is not an object")
    try:
        page, name = int(entry["page"]), str(entry["file"])
        width, height = int(entry.get("width", 0)), int(entry.get("height", 0))
        dpi = float(entry.get("dpi") or 300)
    except (KeyError, TypeError, ValueError) as e:
        raise BadRequest(f"manifest page entry {entry!r:.120} is invalid: {e}") from e
    if page < 1 or dpi <= 0:
        raise BadRequest(f"manifest page entry {entry!r:.120} is invalid")
    return PageSpec(page, file_in_job(job_dir, f"{PAGES_DIR}/{name}"), width, height, dpi)


def read_manifest(job_dir: Path) -> list[PageSpec]:
    """The pages in page order; BadRequest when the manifest is missing or not one prep writes."""
    path = job_dir / PAGES_DIR / PAGES_MANIFEST
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise BadRequest(f"no {PAGES_DIR}/{PAGES_MANIFEST}: run prep first") from e
    except (OSError, orjson.JSONDecodeError) as e:
        raise BadRequest(f"cannot read {PAGES_DIR}/{PAGES_MANIFEST}: {e}") from e
    if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION or not isinstance(doc.get("pages"), list):
        raise BadRequest(f"{PAGES_DIR}/{PAGES_MANIFEST} is not a version {MANIFEST_VERSION} pages manifest")
    specs = sorted((_page_spec(job_dir, entry) for entry in doc["pages"]), key=lambda s: s.page)
    if not specs:
        raise BadRequest(f"{PAGES_DIR}/{PAGES_MANIFEST} lists no pages")
    if len({s.page for s in specs}) != len(specs):
        raise BadRequest(f"{PAGES_DIR}/{PAGES_MANIFEST} lists a page twice")
    return specs
