"""Reading order: Tesseract's order of text blocks, with one correction, for a heading set under a column.

Tesseract reads a page column by column. A narrow heading that opens a section below two columns sits under the
left one, so it is read as the left column's last block, before the right column (real scans: the
LinnSequencer manual page of OCRmyPDF's test files, about 30 characters out of place each time, OCRmyPDF's
text the same). The correction moves such a block after the blocks Tesseract reads next that lie wholly above
it and beside it (the other columns), when it is nearer the block under it than the block over it: a heading
goes with the text it introduces (the column's own last paragraph sits closer to the paragraph before it).
Only the page's text is reordered; the hOCR and the page PDF keep Tesseract's order (they carry positions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .results import levels, text_at

Box = tuple[int, int, int, int]  # left, top, right, bottom


def _blocks(api: Any) -> list[tuple[Box, str]]:
    """Tesseract's blocks that hold text, in its order, with their texts as its text renderer joins them."""
    from tesserocr import RIL  # late: libtesseract loads after the worker sets OMP_THREAD_LIMIT

    blocks = []
    for block in levels(api, RIL.BLOCK):
        text, box = text_at(block, RIL.BLOCK), block.BoundingBox(RIL.BLOCK)
        if text and box is not None:
            blocks.append((tuple(box), text))
    return blocks


def _side_by_side(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) <= max(a[0], b[0])


def _moved_heading(boxes: list[Box], i: int) -> int | None:
    """Where block `i` belongs when it is a heading read too early (see the module's docstring), else None."""
    block = boxes[i]
    j = i + 1
    while j < len(boxes) and boxes[j][3] <= block[1] and _side_by_side(boxes[j], block):
        j += 1
    if i == 0 or j == i + 1 or j == len(boxes):
        return None
    over, under = boxes[i - 1], boxes[j]
    if _side_by_side(over, block) or _side_by_side(under, block):
        return None
    gap_over, gap_under = block[1] - over[3], under[1] - block[3]
    return j - 1 if 0 <= gap_under < gap_over else None


def reading_order(boxes: list[Box]) -> list[int]:
    """The blocks' indices in reading order: Tesseract's, with headings read too early moved after the columns."""
    order = list(range(len(boxes)))
    i = 0
    while i < len(order):
        target = _moved_heading([boxes[k] for k in order], i)
        if target is None:
            i += 1
            continue
        order.insert(target, order.pop(i))
    return order


def _newlines(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if c == "\n"]


def write_reading_order(api: Any, outbase: Path) -> bool:
    """Reorder the reading's `.txt` by `reading_order`; whether anything moved.

    The text is cut where Tesseract's blocks end (their texts, joined, are the page's text but for a last line
    break), so corrections already made to it in place (bullets: one character for one) are kept.
    """
    blocks = _blocks(api)
    order = reading_order([box for box, _ in blocks])
    if order == sorted(order):
        return False
    path = Path(f"{outbase}.txt")
    text = path.read_text("utf-8")
    body, tail = text.rstrip("\n"), text[len(text.rstrip("\n")) :]
    joined = "".join(t for _, t in blocks)
    if len(joined.rstrip("\n")) != len(body) or _newlines(joined.rstrip("\n")) != _newlines(body):
        return False  # not cut the way Tesseract's text renderer cut it: leave the text alone
    padded = body + joined[len(body) :]
    ends = [0]
    for _, block_text in blocks:
        ends.append(ends[-1] + len(block_text))
    chunks = [padded[ends[k] : ends[k + 1]] for k in range(len(blocks))]
    path.write_text("".join(chunks[k] for k in order).rstrip("\n") + tail, "utf-8")
    return True
