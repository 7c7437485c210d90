"""One page read in pieces on workers that would otherwise wait, and the pieces joined back into one page.

Tesseract reads a page on one core. With one document in flight and fewer pages than workers, the spare
workers would sit idle while a dense page takes seconds; prep marks where such a page can be cut across without
changing its reading order (`cutRows`, services/prep/app/cuts.py). Each piece is read as a page of its own
(the same engine, bullets and reading order), then the join stacks them into the page's one set of outputs:

- text: the pieces' texts in order, a blank line between them (a cut is a paragraph break);
- hOCR: one `ocr_page` of the whole page's size; the pieces' boxes moved down by where they start, their ids
  renumbered after the pieces above;
- PDF: one page of the whole page's size, each piece's page (its image and invisible text) placed where it
  belongs, so text layer and image stay aligned.

The joined reading is the page's first reading: the usual second readings (orientation, fallback) follow
when it reads badly, on the whole page.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from PIL import Image

from services.common.atomic import temp_path_for
from services.common.stage_api import page_name

from .page import PageTask
from .reading import Reading, new_outbase, read_image

_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")
_ID = re.compile(r"id='([a-z]+)_(\d+)_(\d+)'")
_PAGE_DIV = re.compile(r"(  <div class='ocr_page'[^\n]*>\n)(.*)(  </div>\n </body>)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PieceTask:
    """Rows `top` to `bottom` of the page of `task`, to read on their own."""

    task: PageTask
    top: int
    bottom: int

    @property
    def page(self) -> int:
        return self.task.page

    @property
    def out_dir(self) -> Path:
        return self.task.out_dir


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece's reading (temp outputs, as for a whole page) and the row it starts at."""

    reading: Reading
    top: int


@dataclass(frozen=True, slots=True)
class JoinTask:
    """Join the pieces of the page of `task` and finish the page from there; `pieces_s`: the pieces' wall time."""

    task: PageTask
    pieces: tuple[Piece, ...]
    pieces_s: float = 0.0

    @property
    def page(self) -> int:
        return self.task.page

    @property
    def out_dir(self) -> Path:
        return self.task.out_dir


def piece_tasks(task: PageTask, cut_rows: Sequence[int], height: int) -> list[PieceTask]:
    """The page of `task` (`height` rows) cut at `cut_rows` into pieces, top to bottom."""
    edges = [0, *cut_rows, height]
    return [PieceTask(task, top, bottom) for top, bottom in zip(edges, edges[1:], strict=False)]


def read_piece(api: Any, piece: PieceTask) -> Piece:
    """Read rows `top` to `bottom` of the page as a page of their own."""
    task = piece.task
    crop = temp_path_for(task.out_dir / page_name(task.page, f".{piece.top}.png"))
    try:
        with Image.open(task.image) as img:
            part = img.crop((0, piece.top, img.width, piece.bottom))
            part.save(crop, "PNG", dpi=(task.dpi, task.dpi), compress_level=1)
        return Piece(read_image(api, task, crop), piece.top)
    finally:
        with contextlib.suppress(OSError):
            crop.unlink()


def discard(pieces: Sequence[Piece]) -> None:
    for piece in pieces:
        piece.reading.discard()


def join_text(texts: Sequence[str]) -> str:
    return "\n".join(text for text in texts if text.strip())


def _moved(hocr: str, top: int, counts: dict[str, int]) -> str:
    """The piece's hOCR body with boxes moved down by `top` and ids numbered after `counts` (updated)."""
    seen: dict[str, int] = {}

    def box(m: re.Match[str]) -> str:
        x0, y0, x1, y1 = (int(v) for v in m.groups())
        return f"bbox {x0} {y0 + top} {x1} {y1 + top}"

    def renumber(m: re.Match[str]) -> str:
        kind, page, number = m.group(1), m.group(2), int(m.group(3))
        seen[kind] = max(seen.get(kind, 0), number)
        return f"id='{kind}_{page}_{number + counts.get(kind, 0)}'"

    moved = _ID.sub(renumber, _BBOX.sub(box, hocr))
    for kind, number in seen.items():
        counts[kind] = counts.get(kind, 0) + number
    return moved


def join_hocr(documents: Sequence[str], tops: Sequence[int], size: tuple[int, int], image: Path) -> str:
    """One hOCR document: the first piece's, its page the whole page, the other pieces' contents after its own."""
    parts = [m for m in (_PAGE_DIV.search(doc) for doc in documents) if m is not None]
    if len(parts) != len(documents):
        raise ValueError("a piece's hOCR has no ocr_page")
    first = parts[0]
    counts: dict[str, int] = {}
    bodies = [_moved(part.group(2), top, counts) for part, top in zip(parts, tops, strict=True)]
    head = re.sub(r"image \"[^\"]*\"", f'image "{image}"', first.group(1), count=1)
    head = _BBOX.sub(f"bbox 0 0 {size[0]} {size[1]}", head, count=1)
    doc = documents[0]
    return doc[: first.start()] + head + "".join(bodies) + first.group(3) + doc[first.end() :]


def join_pdf(pdfs: Sequence[Path], target: Path) -> None:
    """One page: the pieces' one-page PDFs stacked top to bottom, each as a form of its own."""
    sources = [pdfium.PdfDocument(pdf) for pdf in pdfs]
    doc = pdfium.PdfDocument.new()
    try:
        sizes = [src[0].get_size() for src in sources]
        width, height = sizes[0][0], sum(h for _, h in sizes)
        page = doc.new_page(width, height)
        below = height
        for src, (_, piece_height) in zip(sources, sizes, strict=True):
            below -= piece_height
            form = src.page_as_xobject(0, doc).as_pageobject()
            form.transform(pdfium.PdfMatrix().translate(0, below))
            page.insert_obj(form)
        page.gen_content()
        doc.save(target)
    finally:
        doc.close()
        for src in sources:
            src.close()


def join_pieces(task: PageTask, pieces: Sequence[Piece], size: tuple[int, int]) -> Reading:
    """The pieces' outputs joined into one reading of the whole page (`size` in pixels); the pieces' removed."""
    outbase = new_outbase(task)
    reading = Reading(outbase, tuple(c for p in pieces for c in p.reading.confidences), 0, pieces[0].reading.image)
    try:
        texts = [Path(f"{p.reading.outbase}.txt").read_text("utf-8") for p in pieces]
        Path(f"{outbase}.txt").write_text(join_text(texts), "utf-8")
        hocrs = [Path(f"{p.reading.outbase}.hocr").read_text("utf-8") for p in pieces]
        hocr = join_hocr(hocrs, [p.top for p in pieces], size, task.image)
        Path(f"{outbase}.hocr").write_text(hocr, "utf-8")
        join_pdf([Path(f"{p.reading.outbase}.pdf") for p in pieces], Path(f"{outbase}.pdf"))
    except BaseException:
        reading.discard()
        raise
    finally:
        discard(pieces)
    return reading
