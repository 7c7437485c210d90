"""hOCR for a page whose text was not recognised but taken from the PDF itself (Tesseract writes its own for the rest).

The same shape Tesseract's hOCR renderer gives for one page image (`ocr_page` > `ocr_line` > `ocrx_word`, one
word a line, single-quoted attributes, `bbox` in pixels at the page's resolution, origin top left, ids and
`ppageno` counted within the file), so one parser, or one grep, reads every page. Existing text has no
recognition confidence: its words carry no `x_wconf`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title></title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name='ocr-system' content='ocr-pipeline (existing PDF text)' />
  <meta name='ocr-capabilities' content='ocr_page ocr_line ocrx_word'/>
 </head>
 <body>
"""
FOOTER = " </body>\n</html>\n"

Box = tuple[int, int, int, int]  # left, top, right, bottom, pixels


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    box: Box


def union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _bbox(box: Box) -> str:
    return "bbox {} {} {} {}".format(*box)


def render_hocr(size_px: tuple[int, int], dpi: float, lines: Sequence[Sequence[Word]]) -> str:
    """The hOCR document of one page: lines of words, each with its box."""
    out = [HEADER]
    page_title = f"{_bbox((0, 0, *size_px))}; ppageno 0; scan_res {round(dpi)} {round(dpi)}"
    out.append(f"  <div class='ocr_page' id='page_1' title='{page_title}'>\n")
    word_id = 0
    for line_id, line in enumerate((line for line in lines if line), start=1):
        out.append(f"   <span class='ocr_line' id='line_1_{line_id}' title='{_bbox(union([w.box for w in line]))}'>\n")
        for word in line:
            word_id += 1
            text = escape(word.text, quote=False)
            out.append(f"    <span class='ocrx_word' id='word_1_{word_id}' title='{_bbox(word.box)}'>{text}</span>\n")
        out.append("   </span>\n")
    out.append("  </div>\n")
    out.append(FOOTER)
    return "".join(out)
