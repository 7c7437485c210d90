"""Walking the reading Tesseract just made (tesserocr's result iterator), without tripping on empty elements.

A blank page has no results at all (no iterator), and a block holding only a picture or a rule has no text:
tesserocr raises for that ("No text returned"), which must never fail a page over a look at its layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def levels(api: Any, level: Any) -> Iterator[Any]:
    """The iterator at each element of `level` (a tesserocr RIL), none for a page without results."""
    from tesserocr import iterate_level  # late: libtesseract loads after the worker sets OMP_THREAD_LIMIT

    iterator = api.GetIterator()
    if iterator is None:
        return
    yield from iterate_level(iterator, level)


def text_at(position: Any, level: Any) -> str:
    """The element's text, "" when it has none."""
    try:
        return str(position.GetUTF8Text(level) or "")
    except RuntimeError:
        return ""
