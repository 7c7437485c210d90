"""Character error rate: Levenshtein distance / reference length, after whitespace normalisation.

Line breaks and spacing are layout, not recognition, so runs of whitespace (including the form feeds between
pages of a sidecar) collapse to one space before comparing. Uses rapidfuzz's C implementation when installed
(bench/.venv) and otherwise a numpy dynamic programme that handles a 4,000-character page in about a second.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_WHITESPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _levenshtein_numpy(a: str, b: str) -> int:
    """Row-by-row DP; the insertion chain inside a row is a running minimum, so each row is a few numpy ops.

    Within row i: D[j] = min(t[j], D[j-1] + 1) where t holds the deletion/substitution candidates, which unrolls
    to D[j] = j + min_{k<=j}(t[k] - k), i.e. a cumulative minimum.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(b) + 1, dtype=np.int64)
    row = offsets.copy()
    for i, char in enumerate(a, start=1):
        cost = (codes_b != ord(char)).astype(np.int64)
        t = np.empty_like(row)
        t[0] = i
        t[1:] = np.minimum(row[1:] + 1, row[:-1] + cost)
        row = np.minimum.accumulate(t - offsets) + offsets
    return int(row[-1])


try:
    from rapidfuzz.distance import Levenshtein as _rapidfuzz_levenshtein

    def levenshtein(a: str, b: str) -> int:
        return int(_rapidfuzz_levenshtein.distance(a, b))

except ImportError:  # the product venv has no rapidfuzz; the numpy version gives the same numbers, slower
    levenshtein = _levenshtein_numpy


@dataclass(frozen=True, slots=True)
class Score:
    """Edit distance and reference length, kept separate so pages add up into a corpus-level CER."""

    errors: int
    ref_chars: int

    @property
    def cer(self) -> float:
        return self.errors / max(self.ref_chars, 1)


def score(reference: str, hypothesis: str) -> Score:
    ref, hyp = normalise(reference), normalise(hypothesis)
    return Score(levenshtein(ref, hyp), len(ref))


def total(scores: Sequence[Score]) -> Score:
    """Corpus CER is total errors over total reference characters, so long pages weigh more than short ones."""
    return Score(sum(s.errors for s in scores), sum(s.ref_chars for s in scores))


def score_pages(references: Sequence[str], hypotheses: Sequence[str]) -> list[Score]:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} reference pages but {len(hypotheses)} recognised pages")
    return [score(r, h) for r, h in zip(references, hypotheses, strict=True)]
