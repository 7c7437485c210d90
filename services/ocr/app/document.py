"""Joins the per-page outputs into `document.txt` (form-feed separated) and `document.pdf` (pages in order)."""

from __future__ import annotations

import ctypes
import io
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from services.common.atomic import atomic_output
from services.common.deadline import ensure_in_time
from services.common.manifest import TEXT_EXISTING
from services.common.stage_api import DOCUMENT_PDF, DOCUMENT_TEXT

from .page import PageResult, PageSpec, pdf_path, text_path

log = logging.getLogger(__name__)

PAGE_SEPARATOR = "\f"
# PDFium is not thread-safe, and two requests may merge documents on two threads at once.
_pdfium_lock = threading.Lock()
# A4 in points, for a failed page whose image cannot be read and whose manifest entry gives no size.
A4_PT = (595.0, 842.0)


def document_text(out_dir: Path, specs: Sequence[PageSpec], results: Sequence[PageResult]) -> bytes:
    """A page that was not recognised contributes an empty text, so page N stays the Nth form-feed section."""
    texts = [
        text_path(out_dir, spec.page).read_text("utf-8") if result.ok else ""
        for spec, result in zip(specs, results, strict=True)
    ]
    return PAGE_SEPARATOR.join(texts).encode("utf-8")


def _image_page_pdf(spec: PageSpec) -> bytes | None:
    """The page image alone, as a one-page PDF without text, or None if the image cannot be read."""
    try:
        with Image.open(spec.image) as img:
            buf = io.BytesIO()
            img.convert("L").save(buf, "PDF", resolution=spec.entry.dpi_on_paper)
            return buf.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        log.warning("page %d: image unreadable (%s), a blank page stands in for it", spec.page, e)
        return None


def _append_unrecognised(doc: pdfium.PdfDocument, spec: PageSpec) -> None:
    # The reader keeps the page count and order of the original, with the image when there is one to show.
    data = _image_page_pdf(spec)
    if data is None:
        size = spec.size_pt if spec.entry.width and spec.entry.height else A4_PT
        doc.new_page(*size).close()
        return
    src = pdfium.PdfDocument(data)
    try:
        doc.import_pages(src)
    finally:
        src.close()


def _import(doc: pdfium.PdfDocument, path: Path, indices: list[int] | None = None) -> None:
    src = pdfium.PdfDocument(path)
    try:
        doc.import_pages(src, indices)
    finally:
        src.close()


def _to_paper_size(doc: pdfium.PdfDocument, spec: PageSpec) -> None:
    """The page just imported (Tesseract's, sized by the dpi it was told) scaled to the source page's size.

    Text layer and image scale together (one transform of the page's content), so they stay aligned.
    """
    if not spec.entry.paper_dpi:
        return
    page = doc[len(doc) - 1]
    try:
        width, height = page.get_size()
        factor = spec.entry.dpi / spec.entry.paper_dpi
        matrix = pdfium_c.FS_MATRIX(factor, 0, 0, factor, 0, 0)
        clip = pdfium_c.FS_RECTF(0, 0, width * factor, height * factor)
        pdfium_c.FPDFPage_TransFormWithClip(page.raw, ctypes.byref(matrix), ctypes.byref(clip))
        page.set_mediabox(0, 0, width * factor, height * factor)
        page.set_cropbox(0, 0, width * factor, height * factor)
    finally:
        page.close()


def _runs(specs: Sequence[PageSpec]) -> list[list[PageSpec]]:
    """Consecutive pages kept from the same source, together; every other page alone."""
    runs: list[list[PageSpec]] = []
    for spec in specs:
        previous = runs[-1][-1] if runs else None
        kept = spec.entry.text == TEXT_EXISTING
        if kept and previous is not None and previous.entry.text == TEXT_EXISTING and previous.image == spec.image:
            runs[-1].append(spec)
        else:
            runs.append([spec])
    return runs


def _merge(doc: pdfium.PdfDocument, out_dir: Path, specs: Sequence[PageSpec], results: Sequence[PageResult]) -> None:
    ok = {result.page: result.ok for result in results}
    for run in _runs(specs):
        first = run[0]
        if first.entry.text == TEXT_EXISTING:
            # Straight from the source, a run in one import: pages sharing fonts or images keep sharing them
            # (one import per page would copy them into every page). Its text was never at stake: kept either way.
            _import(doc, first.image, [spec.page - 1 for spec in run])
        elif ok[first.page]:
            _import(doc, pdf_path(out_dir, first.page))
            _to_paper_size(doc, first)
        else:
            _append_unrecognised(doc, first)


def save_pdf(target: Path, out_dir: Path, specs: Sequence[PageSpec], results: Sequence[PageResult]) -> None:
    """Merge the pages' searchable PDFs in page order; an unrecognised page is its image without a text layer."""
    with _pdfium_lock:
        doc = pdfium.PdfDocument.new()
        try:
            _merge(doc, out_dir, specs, results)
            doc.save(target)
        finally:
            doc.close()


def write_document(job_dir: Path, out_dir: Path, specs: Sequence[PageSpec], results: Sequence[PageResult]) -> None:
    """Blocking: both document outputs, each atomically, and both only if the call is still waited for.

    Both are made under temp names first and put in place after one deadline check (services.common.deadline),
    so a call the orchestrator gave up on leaves neither, not a text without its PDF.
    """
    with atomic_output(job_dir / DOCUMENT_TEXT) as text_tmp, atomic_output(job_dir / DOCUMENT_PDF) as pdf_tmp:
        text_tmp.write_bytes(document_text(out_dir, specs, results))
        save_pdf(pdf_tmp, out_dir, specs, results)
        ensure_in_time(f"{DOCUMENT_TEXT} and {DOCUMENT_PDF}")
