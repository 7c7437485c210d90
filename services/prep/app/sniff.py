"""What a file really is, from its first bytes: the extension a person gave it is never trusted."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from services.common.errors import BadDocument

# The PDF header may follow some junk; readers (pdfium included) look for it within the first kilobyte.
HEAD_BYTES = 1024


class Format(StrEnum):
    """The document kinds prep renders."""

    PDF = "PDF"
    PNG = "PNG"
    JPEG = "JPEG"
    TIFF = "TIFF"
    GIF = "GIF"
    BMP = "BMP"
    WEBP = "WEBP"


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", Format.PNG),
    (b"\xff\xd8\xff", Format.JPEG),
    (b"II*\x00", Format.TIFF),
    (b"MM\x00*", Format.TIFF),
    (b"II+\x00", Format.TIFF),  # BigTIFF
    (b"MM\x00+", Format.TIFF),
    (b"GIF87a", Format.GIF),
    (b"GIF89a", Format.GIF),
    (b"BM", Format.BMP),
)


def sniff(head: bytes) -> Format | None:
    """The format of a file starting with `head`, or None when it is none we render."""
    if b"%PDF-" in head[:HEAD_BYTES]:
        return Format.PDF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format.WEBP
    return next((fmt for magic, fmt in _IMAGE_MAGIC if head.startswith(magic)), None)


def _describe(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:200]:
        return "it looks like an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "it looks like XML or HTML"
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive or an office document"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "its content is of an unknown kind"
    return "it looks like plain text"


def sniff_file(path: Path, shown_name: str) -> Format:
    """The format of `path`; BadDocument (named after `shown_name`) when it is empty or not a PDF or image."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise BadDocument(f"{shown_name} is empty (0 bytes)")
    fmt = sniff(head)
    if fmt is None:
        raise BadDocument(f"{shown_name} is not a PDF or an image: {_describe(head)}")
    return fmt
