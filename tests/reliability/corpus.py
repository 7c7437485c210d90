"""The hostile corpus, generated: broken and lying PDFs, a pixel bomb, a TIFF with thousands of frames, odd names."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests import factory

from .conftest import TINY_FONT, TINY_PAGE

ERROR = frozenset({"ERROR"})
DONE = frozenset({"DONE"})


@dataclass(frozen=True)
class Hostile:
    name: str
    """The inbox name, odd on purpose for some."""
    expected: frozenset[str]
    write: Callable[[Path], None]


def _page(text: str) -> Image.Image:
    return factory.page_image([text], size=TINY_PAGE, font_size=TINY_FONT)


def _pdf_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    _page(text).convert("RGB").save(buf, "PDF", resolution=factory.DPI)
    return buf.getvalue()


def broken_xref(path: Path) -> None:
    """A whole PDF whose cross-reference table and startxref are garbage (readers may rebuild it, or refuse)."""
    data = _pdf_bytes("Broken xref")
    xref = data.rindex(b"xref")
    path.write_bytes(data[:xref] + b"xref\n0 99\nthis is not a table\ntrailer\n<<>>\nstartxref\n999999\n%%EOF\n")


def zero_pages(path: Path) -> None:
    from pypdf import PdfWriter

    with open(path, "wb") as fh:
        PdfWriter().write(fh)


def many_frames(frames: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        tiny = [Image.new("L", (8, 8), 255 - (i % 2) * 40) for i in range(frames)]
        factory.write_tiff(path, tiny)

    return write


def valid(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        factory.write_image(path, _page(text), format="PNG")

    return write


def corpus(tiff_frames: int) -> list[Hostile]:
    return [
        Hostile("empty.pdf", ERROR, lambda p: p.write_bytes(b"")),
        Hostile("truncated.pdf", ERROR, lambda p: factory.write_truncated_pdf(p, [_page("Truncated")])),
        # pdfium rebuilds a broken xref from the objects themselves, as mature readers do: DONE is right too.
        Hostile("broken-xref.pdf", ERROR | DONE, broken_xref),
        Hostile("encrypted.pdf", ERROR, lambda p: factory.write_encrypted_pdf(p, [_page("Secret")])),
        Hostile("zero-pages.pdf", ERROR, zero_pages),
        Hostile("text.pdf", ERROR, lambda p: p.write_text("just some text, not a PDF at all\n" * 20)),
        Hostile("page.pdf", ERROR, lambda p: p.write_text("<!doctype html><html><body><h1>Hi</h1></body></html>")),
        Hostile("bomb.png", ERROR, lambda p: factory.write_pixel_bomb(p, side=30000)),
        Hostile("frames.tiff", ERROR, many_frames(tiff_frames)),
        Hostile("name with  spaces.png", DONE, valid("Spaces in the name")),
        Hostile("unicodé ñame 文档 🚀.png", DONE, valid("Unicode name")),
        Hostile("new\nline.png", DONE, valid("Newline name")),
        Hostile("-leading-dash.png", DONE, valid("Leading dash")),
        Hostile("--help -rf *.png", DONE, valid("Option-like name")),
    ]
