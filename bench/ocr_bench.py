"""OCR quality and speed on a generated corpus of degraded scans: our prep vs bare Tesseract and OCRmyPDF.

All systems run in one process on the same pages, interleaved (with --rounds N each round runs every system once, in
a rotated order, and the best time is kept, since the machine is shared and noisy). Prints a markdown table and
writes bench/results/ocr_pipeline.json (or ocr_tuning.json with --tuning).

    bash bench/setup.sh                                  # once: bench/.venv with OCRmyPDF, unpaper, ghostscript
    bench/.venv/bin/python bench/ocr_bench.py            # 12 pages: tesseract, ocrmypdf, ocrmypdf-clean, prep
    bench/.venv/bin/python bench/ocr_bench.py --tuning   # plus the prep variants (ablations, binarisation, ...)
    bench/.venv/bin/python bench/ocr_bench.py --pipeline # plus the whole stack end to end (ocr-stack up)
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
import cer  # noqa: E402
import corpus  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_CORPUS_DIR = Path(tempfile.gettempdir()) / "ocr-bench-corpus"
REFERENCE = "tesseract"


# ---------------------------------------------------------------------------------------------------------------
# Page transforms for the prep candidates: module-level so the worker processes can unpickle them.
# ---------------------------------------------------------------------------------------------------------------


def _prep_module():  # type: ignore[no-untyped-def]
    # By module path: the package re-exports the function `normalise`, which shadows the module's name on it.
    try:
        return importlib.import_module("services.prep.app.normalise")
    except ImportError as e:
        raise baselines.Unavailable(f"services/prep/app/normalise.py cannot be imported: {e}") from e


def _normalise(img: Image.Image, **options: bool) -> Image.Image:
    """The prep's entry point (named `normalise_page`, formerly `normalise`) with some steps switched off."""
    n = _prep_module()
    entry = getattr(n, "normalise_page", None) or n.normalise
    return entry(img, baselines.DPI, n.Options(**options))[0]  # type: ignore[no-any-return]


def identity(img: Image.Image) -> Image.Image:
    """Control: the prep candidates' plumbing (PNG decode, PGM on stdin) with no processing."""
    return img


def prep(img: Image.Image) -> Image.Image:
    """The prep service's page preparation with its default options: dark borders, clean-up, text size, dust."""
    try:
        prepare = importlib.import_module("services.prep.app.prepare")
        render = importlib.import_module("services.prep.app.render")
    except ImportError as e:
        raise baselines.Unavailable(f"services/prep/app/prepare.py cannot be imported: {e}") from e
    limits = render.Limits()
    page = render.Page(img, float(baselines.DPI))
    return prepare.prepare_page(page, _prep_module().Options(), limits.max_page_pixels).image  # type: ignore[no-any-return]


def prep_without_dust_removal(img: Image.Image) -> Image.Image:
    """The clean-up steps alone (normalise.py), without the text-sized dust removal of prepare.py."""
    return _normalise(img)


def prep_no_denoise(img: Image.Image) -> Image.Image:
    return _normalise(img, denoise=False)


def prep_no_deskew(img: Image.Image) -> Image.Image:
    return _normalise(img, deskew=False)


def prep_no_clean(img: Image.Image) -> Image.Image:
    return _normalise(img, clean=False)


def flatten_only(img: Image.Image) -> Image.Image:
    """Background division alone: is the lighting the whole story?"""
    return _prep_module().flatten_background(img, baselines.DPI)


def _binarise(page: Image.Image) -> Image.Image:
    """A global Otsu threshold of our own: once the background is flat, one threshold fits the whole page."""
    a = np.asarray(page)
    return Image.fromarray(np.where(a > _prep_module().otsu_threshold(a), 255, 0).astype(np.uint8), "L")


def prep_binarised(img: Image.Image) -> Image.Image:
    return _binarise(prep(img))


def prep_no_denoise_binarised(img: Image.Image) -> Image.Image:
    """Does the binarisation make the median redundant (it also drops isolated specks that survive it)?"""
    return _binarise(_normalise(img, denoise=False))


def prep_median_before_stretch(img: Image.Image) -> Image.Image:
    """Denoise first, then flatten and stretch: the stretch then does not amplify the sensor noise."""
    n = _prep_module()
    page = n.denoise(img)
    page = n.stretch_contrast(n.flatten_background(page, baselines.DPI))
    return n.deskew(page, n.estimate_skew(page))


def prep_median_first_binarised(img: Image.Image) -> Image.Image:
    return _binarise(prep_median_before_stretch(img))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A prep candidate: a page transform, and extra Tesseract arguments."""

    transform: Callable[[Image.Image], Image.Image]
    tesseract_args: tuple[str, ...] = ()


SAUVOLA = ("-c", "thresholding_method=2")
ADAPTIVE_OTSU = ("-c", "thresholding_method=1")
CORE_PREP = {"prep+tesseract": Candidate(prep)}
TUNING = {
    "pipe-only+tesseract": Candidate(identity),
    "prep-without-dust-removal+tesseract": Candidate(prep_without_dust_removal),
    "tesseract-sauvola": Candidate(identity, SAUVOLA),
    "tesseract-adaptive-otsu": Candidate(identity, ADAPTIVE_OTSU),
    "flatten-only+tesseract": Candidate(flatten_only),
    "prep-no-denoise+tesseract": Candidate(prep_no_denoise),
    "prep-no-deskew+tesseract": Candidate(prep_no_deskew),
    "prep-no-clean+tesseract": Candidate(prep_no_clean),
    "prep-binarised+tesseract": Candidate(prep_binarised),
    "prep-median-first+tesseract": Candidate(prep_median_before_stretch),
    "prep-no-denoise-binarised+tesseract": Candidate(prep_no_denoise_binarised),
    "prep-median-first-binarised+tesseract": Candidate(prep_median_first_binarised),
    "prep+tesseract-sauvola": Candidate(prep, SAUVOLA),
}


@dataclass(slots=True)
class Outcome:
    """Best time over the rounds, the text of the first round (OCR is deterministic), and prep CPU seconds."""

    seconds: float
    texts: list[str]
    prep_cpu_s: float | None = None
    error: str | None = None


def systems(pngs: list[Path], folder: Path, args: argparse.Namespace) -> dict[str, Callable[[], Outcome]]:
    pdf = folder / "corpus.pdf"

    def plain(run: Callable[[], baselines.Run]) -> Callable[[], Outcome]:
        return lambda: (lambda r: Outcome(r.seconds, r.texts))(run())

    def prepped(c: Candidate) -> Callable[[], Outcome]:
        return lambda: (lambda rp: Outcome(rp[0].seconds, rp[0].texts, rp[1]))(
            baselines.run_prep_tesseract(pngs, c.transform, c.tesseract_args)
        )

    table: dict[str, Callable[[], Outcome]] = {
        REFERENCE: plain(lambda: baselines.run_tesseract(pngs)),
        "ocrmypdf": plain(lambda: baselines.run_ocrmypdf(pdf, len(pngs), clean=False)),
        "ocrmypdf --clean --deskew": plain(lambda: baselines.run_ocrmypdf(pdf, len(pngs), clean=True)),
    }
    candidates = {**CORE_PREP, **(TUNING if args.tuning else {})}
    table.update({name: prepped(c) for name, c in candidates.items()})
    if args.pipeline:
        table["pipeline (ocr-stack)"] = lambda: pipeline_outcome(folder)
    if args.only:
        table = {k: v for k, v in table.items() if k == REFERENCE or any(s in k for s in args.only.split(","))}
    return table


def pipeline_outcome(folder: Path) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as data_dir:
        texts, seconds = baselines.run_pipeline(folder, Path(data_dir))
    return Outcome(seconds, texts)


def run_all(table: dict[str, Callable[[], Outcome]], rounds: int) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    names = list(table)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate, so no system always runs first
        for name in order:
            print(f"round {r + 1}/{rounds}: {name} ...", file=sys.stderr, flush=True)
            try:
                got = table[name]()
            except (baselines.Unavailable, subprocess.SubprocessError, OSError) as e:
                outcomes.setdefault(name, Outcome(float("nan"), [], error=str(e)))
                continue
            best = outcomes.get(name)
            if best is None or best.error or got.seconds < best.seconds:
                outcomes[name] = Outcome(
                    got.seconds, best.texts if best and not best.error else got.texts, got.prep_cpu_s
                )
    return outcomes


def summarise(outcomes: dict[str, Outcome], truths: list[str]) -> list[dict[str, object]]:
    ref_s = outcomes[REFERENCE].seconds if REFERENCE in outcomes else float("nan")
    rows: list[dict[str, object]] = []
    for name, o in outcomes.items():
        row: dict[str, object] = {"system": name, "pages": len(truths)}
        if o.error:
            rows.append(row | {"error": o.error})
            continue
        scores = cer.score_pages(truths, o.texts)
        overall = cer.total(scores)
        row |= {
            "seconds": round(o.seconds, 2),
            "pages_per_s": round(len(truths) / o.seconds, 4),
            "speed_vs_tesseract": round(ref_s / o.seconds, 3),
            "cer": round(overall.cer, 4),
            "errors": overall.errors,
            "ref_chars": overall.ref_chars,
            "cer_per_page": [round(s.cer, 4) for s in scores],
        }
        if o.prep_cpu_s is not None:
            row["prep_cpu_s_per_page"] = round(o.prep_cpu_s / len(truths), 3)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| system | pages | seconds | pages/s | speed vs bare tesseract | CER | prep CPU s/page |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['system']} | {r['pages']} | n/a: {str(r['error'])[:80]} | | | | |")
            continue
        prep_s = r.get("prep_cpu_s_per_page", "")
        lines.append(
            f"| {r['system']} | {r['pages']} | {r['seconds']:.1f} | {r['pages_per_s']:.3f} | "
            f"{r['speed_vs_tesseract']:.2f}x | {100 * float(str(r['cer'])):.2f}% | {prep_s} |"
        )
    return "\n".join(lines)


def prep_provenance() -> dict[str, str]:
    """Which prep code was measured: the last commit touching it, and whether the working tree differed."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, cwd=baselines.REPO_DIR, check=False)
        return done.stdout.strip()

    return {
        "last_commit": git("log", "-1", "--format=%h %s", "--", "services/prep"),
        "uncommitted_changes": git("status", "--porcelain", "--", "services/prep"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=12, help="corpus size (default 12, about 5 minutes in all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS_DIR, help="folder of the generated corpus")
    parser.add_argument("--rounds", type=int, default=1, help="timed runs per system; the best is kept")
    parser.add_argument("--tuning", action="store_true", help="also run the prep variants")
    parser.add_argument("--pipeline", action="store_true", help="also run the whole stack end to end")
    parser.add_argument("--only", help="comma-separated substrings of system names to run (bare tesseract always runs)")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/ocr_pipeline.json)")
    args = parser.parse_args()

    folder = args.corpus / f"seed{args.seed}-pages{args.pages}"
    pngs = corpus.generate(folder, args.pages, args.seed)
    truths = [corpus.ground_truth(png) for png in pngs]
    rows = summarise(run_all(systems(pngs, folder, args), args.rounds), truths)
    print(markdown(rows))
    out = args.out or RESULTS_DIR / ("ocr_tuning.json" if args.tuning else "ocr_pipeline.json")
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "node": platform.machine(),
        },
        "tesseract": subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "corpus": json.loads((folder / corpus.MANIFEST).read_text()),
        "prep_source": prep_provenance(),
        "workers": baselines.WORKERS,
        "rounds": args.rounds,
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
