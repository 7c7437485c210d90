"""The real-scan corpus (`../shared/corpus/real-dev`): its files, ground truth, keywords, and how to score a run.

The folder's README states the conventions used here: `expected/<name>.txt` holds the pages separated by form
feeds, `expected/<name>.keywords` one phrase a line, `@pN phrase` meaning "on page N"; `manifest.json` gives
per file its tags and which pages are scored for CER (`scored_pages`, null = all; `text` null = keywords only).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cer

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DIR = BENCH_DIR.parent.parent / "shared" / "corpus" / "real-dev"

# The causes, recognised from the manifest tags (a file can belong to several; others are "plain scans").
CAUSE_TAGS: dict[str, tuple[str, ...]] = {
    "rotation": ("rotation-0-90-180-270", "rotate-tag-90"),
    "oversized": ("huge-page",),
    "resolution": ("low-dpi-", "high-dpi-", "no-dpi", "non-square-dpi"),
    "photos": ("colour", "typewriter"),
    "text layer": ("has-text-layer", "partial-text-layer"),
}
PLAIN = "plain scans"
_PAGE_KEYWORD = re.compile(r"^@p(\d+)\s+(.+)$")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_PUNCT_OR_SPACE = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Keyword:
    phrase: str
    page: int | None  # None: anywhere in the document


@dataclass(frozen=True, slots=True)
class RealFile:
    name: str
    path: Path
    pages: int
    tags: tuple[str, ...]
    truths: tuple[str, ...] | None  # one per page; None when the file is scored by keywords only
    scored_pages: tuple[int, ...]  # 1-based
    keywords: tuple[Keyword, ...]

    @property
    def causes(self) -> list[str]:
        found = [c for c, prefixes in CAUSE_TAGS.items() if any(t.startswith(prefixes) for t in self.tags)]
        return found or [PLAIN]


def _keywords(path: Path) -> tuple[Keyword, ...]:
    found: list[Keyword] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        m = _PAGE_KEYWORD.match(line.strip())
        found.append(Keyword(m.group(2).strip(), int(m.group(1))) if m else Keyword(line.strip(), None))
    return tuple(found)


def load(folder: Path) -> list[RealFile]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files: list[RealFile] = []
    for entry in manifest["files"]:
        expected = entry["expected"]
        truths = None
        if expected.get("text"):
            pages_text = (folder / "expected" / expected["text"]).read_text(encoding="utf-8").split("\f")
            truths = tuple((pages_text + [""] * entry["pages"])[: entry["pages"]])
        scored = expected.get("scored_pages") or list(range(1, entry["pages"] + 1))
        files.append(
            RealFile(
                name=entry["name"],
                path=folder / "inputs" / entry["name"],
                pages=int(entry["pages"]),
                tags=tuple(entry.get("tags", ())),
                truths=truths,
                scored_pages=tuple(int(p) for p in scored),
                keywords=_keywords(folder / "expected" / expected["keywords"]),
            )
        )
    return files


def _for_keywords(text: str) -> str:
    # Case and spacing are not what a keyword search looks at; curly and straight quotes are the same key.
    return cer.normalise(text.translate(_QUOTES)).casefold()


def _loose(text: str) -> str:
    """Case, accents and punctuation ignored, lines in any order: layout and reading order do not count."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    lines = (_PUNCT_OR_SPACE.sub(" ", line).strip().casefold() for line in stripped.splitlines())
    return "\n".join(sorted(line for line in lines if line))


@dataclass(frozen=True, slots=True)
class FileScore:
    """Edit counts over the scored pages (strict: whitespace collapsed; loose: see `_loose`) and keywords found."""

    strict: cer.Score
    loose: cer.Score
    keywords_found: int
    keywords_total: int
    missed: tuple[str, ...]
    cer_per_page: dict[int, float]


def score(file: RealFile, texts: Sequence[str]) -> FileScore:
    texts = (list(texts) + [""] * file.pages)[: file.pages]
    strict, loose, per_page = [], [], {}
    if file.truths is not None:
        for page in file.scored_pages:
            truth, hyp = file.truths[page - 1], texts[page - 1]
            s = cer.score(truth, hyp)
            strict.append(s)
            per_page[page] = round(s.cer, 4)
            ref = _loose(truth)
            loose.append(cer.Score(cer.levenshtein(ref, _loose(hyp)), len(ref)))
    whole = _for_keywords(" ".join(texts))
    missed = [
        (f"@p{k.page} " if k.page else "") + k.phrase
        for k in file.keywords
        if _for_keywords(k.phrase) not in (_for_keywords(texts[k.page - 1]) if k.page else whole)
    ]
    return FileScore(
        strict=cer.total(strict),
        loose=cer.total(loose),
        keywords_found=len(file.keywords) - len(missed),
        keywords_total=len(file.keywords),
        missed=tuple(missed),
        cer_per_page=per_page,
    )
