"""The HTTP contract between the orchestrator and the stage services, and the job-folder layout they share.

POST /v1/prep  {"jobKey": k, "input": "source.pdf"}  -> 200 {"pages": n, "durationS": s, "warnings": [...]}
POST /v1/ocr   {"jobKey": k}                          -> 200 {"pages": n, "meanConfidence": c, "outputs": {...},
                                                               "pageResults": [...], "warnings": [...],
                                                               "durationS": s}
Errors: {"error": {"type", "message", "retryable"}} with 422 for a bad document, 400 for a bad request,
5xx for a failure that may not happen again.
"""

from __future__ import annotations

PREP_PATH = "/v1/prep"
OCR_PATH = "/v1/ocr"
# Where each stage service listens unless PREP_PORT / OCR_PORT say otherwise (and where it is called).
DEFAULT_PREP_PORT = 8081
DEFAULT_OCR_PORT = 8082

# Inside jobs/<jobKey>/
SOURCE_STEM = "source"  # the original input, renamed from the inbox: source.pdf, source.png, ...
DUPLICATES_DIR = "duplicates"  # later drops of the same content, kept, never deleted
PAGES_DIR = "pages"  # prep output: page-0001.png ... and manifest.json (written last)
PAGES_MANIFEST = "manifest.json"
OCR_DIR = "ocr"  # per-page OCR output: page-0001.txt, page-0001.json, page-0001.pdf
DOCUMENT_TEXT = "document.txt"  # all pages, separated by form feeds
DOCUMENT_PDF = "document.pdf"  # searchable PDF: text layer over the page images


def page_name(page_number: int, suffix: str) -> str:
    """`page-0001.png` for page 1: zero-padded so a plain `ls` lists pages in order."""
    return f"page-{page_number:04d}{suffix}"
