"""`pages/manifest.json`, the contract between prep (its only writer) and OCR (its reader).

Prep writes it last and atomically, so its presence means every page it lists is on disk. One module owns the
fields and the version for both sides: a change to the document lands here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .atomic import atomic_write_bytes, remove_dead_temp_files
from .errors import BadRequest
from .stage_api import PAGES_DIR, PAGES_MANIFEST

MANIFEST_VERSION = 1
# A page entry without its resolution was rendered at prep's default.
DEFAULT_PAGE_DPI = 300.0
SHOWN_PATH = f"{PAGES_DIR}/{PAGES_MANIFEST}"
# Where a page's text comes from: Tesseract on the PNG, or the text the PDF page already has (its `file` is then
# the job's source document, of which it is page `page`: never copied, so pages sharing fonts share them in
# document.pdf too). What prep found on the page: no text, an invisible (OCR) layer, or visible (born-digital)
# text; see services/prep/app/textlayer.py.
TEXT_OCR, TEXT_EXISTING = "ocr", "existing"
TEXT_SOURCES = (TEXT_OCR, TEXT_EXISTING)
LAYER_NONE = "none"
TEXT_LAYERS = (LAYER_NONE, "invisible", "visible")
# The pages prep writes are 8-bit gray, binarised (ink 0, paper 255) unless PREP_BINARIZE is off: whoever looks for
# the ink on them (prep measuring its text, OCR finding where it is or what shape a mark has) counts anything
# darker than mid-gray, so both sides agree on what is ink.
INK_BELOW = 128


@dataclass(frozen=True, slots=True)
class ManifestPage:
    """One prepared page: its file, its size in pixels and resolution, and where its text comes from.

    `file` is a plain name inside `pages/` (the PNG), or for a page that keeps its own text (`text` existing) the
    source's name inside the job folder: see `page_file`.
    """

    page: int
    file: str
    width: int = 0
    height: int = 0
    dpi: float = DEFAULT_PAGE_DPI
    skew_deg: float = 0.0
    text: str = TEXT_OCR
    text_layer: str = LAYER_NONE
    # What prep did to the pixels (issue 7): the scale it applied to size the text, whether the text lines run
    # down the page (turned by 90 degrees: the OCR service sets it upright), the decoded page at the same scale
    # for the OCR service to read when the clean one reads worse (a name in `pages/`, or ""), and why the page
    # could not be read at all ("" when it could: `file` is then a blank page of the right size).
    scale: float = 1.0
    lines_vertical: bool = False
    fallback: str = ""
    error: str = ""
    # The pixels' resolution on the source page, when `dpi` (what Tesseract is told) was kept within what it reads
    # well (a 2400 dpi scan's text scaled to a good size is still finer than 600): 0 when they are the same. The
    # page in document.pdf keeps the source page's size by it.
    paper_dpi: float = 0.0
    # Whether the page's text looks upside down (more ink below its lines' x-height band than above): the OCR
    # service checks the orientation before its first reading instead of after a poor one.
    upside_down: bool = False
    # Rows (top to bottom) where the page can be cut across into pieces read apart in the same reading order:
    # the OCR service reads them on workers it has to spare (services/prep/app/cuts.py).
    cut_rows: tuple[int, ...] = ()
    # The counter-clockwise turn (0, 90, 180, 270) prep's line profiles say sets a turned page upright: the OCR
    # service reads the page that way first, and asks orientation detection only when that reads badly.
    turn: int = 0

    @property
    def dpi_on_paper(self) -> float:
        return self.paper_dpi or self.dpi

    def to_json(self) -> dict[str, Any]:
        dpi: float | int = int(self.dpi) if float(self.dpi).is_integer() else self.dpi
        entry = {"page": self.page, "file": self.file, "width": self.width, "height": self.height, "dpi": dpi}
        entry |= {"skewDeg": self.skew_deg, "text": self.text, "textLayer": self.text_layer}
        entry |= {"scale": self.scale, "linesVertical": self.lines_vertical, "fallback": self.fallback}
        entry |= {"paperDpi": self.paper_dpi} if self.paper_dpi else {}
        entry |= {"upsideDown": True} if self.upside_down else {}
        entry |= {"cutRows": list(self.cut_rows)} if self.cut_rows else {}
        entry |= {"turn": self.turn} if self.turn else {}
        return entry | ({"error": self.error} if self.error else {})

    @classmethod
    def from_json(cls, entry: Any) -> ManifestPage:
        if not isinstance(entry, dict):
            raise BadRequest("manifest page entry is not an object")
        try:
            page = cls(
                page=int(entry["page"]),
                file=str(entry["file"]),
                width=int(entry.get("width", 0)),
                height=int(entry.get("height", 0)),
                dpi=float(entry.get("dpi") or DEFAULT_PAGE_DPI),
                skew_deg=float(entry.get("skewDeg", 0.0)),
                text=str(entry.get("text", TEXT_OCR)),
                text_layer=str(entry.get("textLayer", LAYER_NONE)),
                scale=float(entry.get("scale", 1.0)),
                lines_vertical=bool(entry.get("linesVertical", False)),
                fallback=str(entry.get("fallback", "")),
                error=str(entry.get("error", "")),
                paper_dpi=float(entry.get("paperDpi", 0.0)),
                upside_down=bool(entry.get("upsideDown", False)),
                cut_rows=tuple(int(row) for row in entry.get("cutRows", ())),
                turn=int(entry.get("turn", 0)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BadRequest(f"manifest page entry {entry!r:.120} is invalid: {e}") from e
        cuts_inside = all(0 < row < page.height for row in page.cut_rows) and list(page.cut_rows) == sorted(
            set(page.cut_rows)
        )
        if "/" in page.fallback or page.scale <= 0 or page.paper_dpi < 0 or not cuts_inside or page.turn % 90:
            raise BadRequest(f"manifest page entry {entry!r:.120} is invalid")
        if page.page < 1 or page.dpi <= 0 or page.text not in TEXT_SOURCES or page.text_layer not in TEXT_LAYERS:
            raise BadRequest(f"manifest page entry {entry!r:.120} is invalid")
        return page


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The document the pages came from, as prep found it."""

    file: str
    format: str
    pages: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "pages": self.pages, "bytes": self.bytes}

    @classmethod
    def from_json(cls, doc: Any) -> SourceInfo:
        if not isinstance(doc, dict):
            raise BadRequest(f"{SHOWN_PATH}: source is not an object")
        try:
            return cls(str(doc["file"]), str(doc["format"]), int(doc["pages"]), int(doc["bytes"]))
        except (KeyError, TypeError, ValueError) as e:
            raise BadRequest(f"{SHOWN_PATH}: source {doc!r:.120} is invalid: {e}") from e


@dataclass(frozen=True, slots=True)
class PagesManifest:
    """The pages in page order (never empty, no page twice), where they came from, and prep's warnings."""

    pages: tuple[ManifestPage, ...]
    source: SourceInfo | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": MANIFEST_VERSION, "pages": [p.to_json() for p in self.pages]}
        if self.source is not None:
            doc["source"] = self.source.to_json()
        return doc | {"warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, doc: Any) -> PagesManifest:
        if (
            not isinstance(doc, dict)
            or doc.get("version") != MANIFEST_VERSION
            or not isinstance(doc.get("pages"), list)
        ):
            raise BadRequest(f"{SHOWN_PATH} is not a version {MANIFEST_VERSION} pages manifest")
        pages = tuple(sorted((ManifestPage.from_json(entry) for entry in doc["pages"]), key=lambda p: p.page))
        if not pages:
            raise BadRequest(f"{SHOWN_PATH} lists no pages")
        if len({p.page for p in pages}) != len(pages):
            raise BadRequest(f"{SHOWN_PATH} lists a page twice")
        source = SourceInfo.from_json(doc["source"]) if "source" in doc else None
        warnings = doc.get("warnings", [])
        if not isinstance(warnings, list):
            raise BadRequest(f"{SHOWN_PATH}: warnings is not a list")
        return cls(pages, source, tuple(str(w) for w in warnings))


def page_file(pages_dir: Path, page: ManifestPage) -> Path:
    """Where the page's file is: `pages/<file>`, or `<job>/<file>` (the source) for a page keeping its text."""
    return (pages_dir.parent if page.text == TEXT_EXISTING else pages_dir) / page.file


def manifest_path(pages_dir: Path) -> Path:
    return pages_dir / PAGES_MANIFEST


def write_manifest(pages_dir: Path, manifest: PagesManifest) -> None:
    """Prep's last write for a document: atomic, so a reader sees the whole manifest or none."""
    remove_dead_temp_files(pages_dir, PAGES_MANIFEST)  # the leftover of a killed run, if any
    atomic_write_bytes(manifest_path(pages_dir), orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2))


def read_manifest(pages_dir: Path) -> PagesManifest:
    """The manifest as written; BadRequest when it is missing or not one prep writes."""
    try:
        doc = orjson.loads(manifest_path(pages_dir).read_bytes())
    except FileNotFoundError as e:
        raise BadRequest(f"no {SHOWN_PATH}: run prep first") from e
    except (OSError, orjson.JSONDecodeError) as e:
        raise BadRequest(f"cannot read {SHOWN_PATH}: {e}") from e
    return PagesManifest.from_json(doc)


def read_complete_manifest(pages_dir: Path) -> PagesManifest | None:
    """The manifest of a finished prep: valid, its source's page count met, every page on disk; else None."""
    try:
        manifest = read_manifest(pages_dir)
    except BadRequest:
        return None
    if manifest.source is None or manifest.source.pages != len(manifest.pages):
        return None
    for page in manifest.pages:
        if "/" in page.file or not page_file(pages_dir, page).is_file():
            return None
        if page.fallback and not (pages_dir / page.fallback).is_file():
            return None
    return manifest
