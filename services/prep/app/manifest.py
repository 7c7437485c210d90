"""`pages/manifest.json`: the list of prepared pages, written last and atomically, so its presence means done."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from services.common.atomic import atomic_write_bytes, remove_temp_files
from services.common.stage_api import PAGES_MANIFEST

from .worker import DocumentInfo, PageResult

MANIFEST_VERSION = 1


def manifest_path(pages_dir: Path) -> Path:
    return pages_dir / PAGES_MANIFEST


def build_manifest(source: Path, info: DocumentInfo, results: Sequence[PageResult]) -> dict[str, Any]:
    pages = sorted(results, key=lambda r: r.page)
    return {
        "version": MANIFEST_VERSION,
        "pages": [r.to_json() for r in pages],
        "source": {"file": source.name, "format": str(info.format), "pages": info.pages, "bytes": info.bytes},
        "warnings": [f"page {r.page}: {w}" for r in pages for w in r.warnings],
    }


def write_manifest(pages_dir: Path, manifest: dict[str, Any]) -> None:
    remove_temp_files(pages_dir, PAGES_MANIFEST)  # the leftover of a killed run, if any
    atomic_write_bytes(manifest_path(pages_dir), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def read_complete_manifest(pages_dir: Path) -> dict[str, Any] | None:
    """The manifest of a finished prep: present, readable, and every page it lists on disk; else None."""
    try:
        doc = orjson.loads(manifest_path(pages_dir).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
        return None
    pages = doc.get("pages")
    source = doc.get("source")
    if not isinstance(pages, list) or not pages or not isinstance(source, dict):
        return None
    if source.get("pages") != len(pages):
        return None
    for entry in pages:
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "/" in name or not (pages_dir / name).is_file():
            return None
    return doc
