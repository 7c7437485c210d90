"""OCR on real scans (`../shared/corpus/real-dev`): the pipeline end to end vs OCRmyPDF plain and cleaned, one run.

Every file goes through each system in turn (interleaved, so load on the shared machine hits all alike): the
pipeline is the real stack (`ocr-stack up` on a temp data folder, started once, one document dropped at a time),
OCRmyPDF runs from bench/.venv (bash bench/setup.sh). Prints markdown tables (total, per cause, per file) and
writes bench/results/real.json and real.md (real-partial.* when only some systems or files ran).

    bash bench/setup.sh && bench/.venv/bin/python bench/real_bench.py      # all, about 10 minutes
    .venv/bin/python bench/real_bench.py --only pipeline                   # the pipeline alone (fast iteration)
    .venv/bin/python bench/real_bench.py --only pipeline --file cardinal.pdf --file multipage.pdf
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
import real_corpus  # noqa: E402
import real_report  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PIPELINE = "pipeline"
PIPELINE_BATCH = "pipeline, all files at once"
OCRMYPDF = "ocrmypdf"
OCRMYPDF_CLEAN = "ocrmypdf --deskew --clean --rotate-pages"
SYSTEM_KEYS = {
    "pipeline": PIPELINE,
    "ocrmypdf": OCRMYPDF,
    "ocrmypdf-clean": OCRMYPDF_CLEAN,
    "pipeline-batch": PIPELINE_BATCH,
}
# A page that already has text is kept as it is (our default `skip` mode does the same); without it OCRmyPDF
# refuses graph_ocred.pdf and multipage.pdf outright ("page already has text").
# And Tesseract's time per page is not limited (OCRmyPDF's default gives up after 180 s and delivers the page
# without text: on this shared machine under load, skew.pdf then "read" at 99.7 % CER).
OCRMYPDF_COMMON = ("--skip-text", "--tesseract-timeout", "3600")
OCRMYPDF_CLEAN_OPTIONS = ("--deskew", "--clean", "--rotate-pages")
# What OCRmyPDF's own error message tells a user to add for an image without a usable dpi (typewriter.png,
# baiona_color.jpg's JFIF 1x1); 300 is its example. PDFs carry their own page size.
OCRMYPDF_IMAGE_DPI = ("--image-dpi", "300")
SKIPPED_MARK = "[OCR skipped on page"
FILE_TIMEOUT_S = 900
# The stacks' own logs (JSON lines), outside the repo: when a document fails, they say why.
STACK_LOG = Path(tempfile.gettempdir()) / f"bench-real-stack-{os.getpid()}.log"

Outcome = dict[str, object]  # state, seconds, texts, and optional error / pipeline details


def _existing_text(document: Path, page: int) -> str:
    """The text a page already had: what a reader of OCRmyPDF's --skip-text output gets for a skipped page."""
    import pypdfium2 as pdfium  # in bench/.venv through the product's own dependencies

    pdf = pdfium.PdfDocument(document)
    try:
        textpage = pdf[page - 1].get_textpage()
        return str(textpage.get_text_bounded())
    finally:
        pdf.close()


def run_ocrmypdf(file: real_corpus.RealFile, options: tuple[str, ...]) -> Outcome:
    image_dpi = OCRMYPDF_IMAGE_DPI if file.path.suffix.lower() != ".pdf" else ()
    start = time.perf_counter()
    try:
        run = baselines.run_ocrmypdf_sidecar(file.path, file.pages, [*OCRMYPDF_COMMON, *image_dpi, *options])
    except (baselines.Unavailable, subprocess.SubprocessError) as e:
        return {"state": "ERROR", "seconds": time.perf_counter() - start, "texts": [], "error": str(e)}
    texts = [
        _existing_text(file.path, n) if SKIPPED_MARK in text else text for n, text in enumerate(run.texts, start=1)
    ]
    return {"state": "DONE", "seconds": run.seconds, "texts": texts}


def _job_details(state: dict[str, object]) -> dict[str, object]:
    """What the job says about itself: failed pages, warnings, per-page results, and where its time went.

    `stagesS`: the wall time of each stage (pages in parallel); `pageS`: the OCR workers' own seconds per page,
    summed by where the text came from (`ocr`: rendering done, Tesseract; `existing`: the page's own text).
    """
    result = state.get("result")
    details: dict[str, object] = {}
    if isinstance(result, dict):
        details = {k: result[k] for k in ("failedPages", "warnings", "meanConfidence", "pageResults") if k in result}
    stages = state.get("stages")
    if isinstance(stages, dict):
        details["stagesS"] = {name: info.get("durationS") for name, info in stages.items() if isinstance(info, dict)}
    page_s: dict[str, float] = {}
    for page_json in sorted(Path(str(state["_dir"])).glob("ocr/page-*.json")):
        page = json.loads(page_json.read_text())
        source = str(page.get("text", "ocr"))
        page_s[source] = round(page_s.get(source, 0.0) + float(page.get("durationS", 0.0)), 3)
    details["pageS"] = page_s
    return details


class PipelineRunner:
    """The stack, one document at a time; a stack that stopped is started afresh for the next file (logged)."""

    def __init__(self, resources: ExitStack, log_path: Path) -> None:
        self._resources, self.log_path = resources, log_path
        self._stack: baselines.PipelineStack | None = None

    def _ready_stack(self) -> baselines.PipelineStack:
        if self._stack is None or not self._stack.alive:
            data_dir = Path(self._resources.enter_context(tempfile.TemporaryDirectory(prefix="bench-real-stack-")))
            stack = baselines.PipelineStack(data_dir, FILE_TIMEOUT_S, self.log_path)
            self._stack = self._resources.enter_context(stack)
        return self._stack

    def __call__(self, file: real_corpus.RealFile) -> Outcome:
        start = time.perf_counter()
        try:
            job = self._ready_stack().process(file.path, file.pages)
        except baselines.Unavailable as e:
            seconds = time.perf_counter() - start
            return {"state": "ERROR", "seconds": seconds, "texts": [], "error": f"{e} (log: {self.log_path})"}
        outcome: Outcome = {"state": job.state.get("state"), "seconds": job.seconds, "texts": job.texts}
        if not job.done:
            outcome["error"] = str(job.state.get("error"))
        return outcome | _job_details(job.state)


def systems(keys: list[str], resources: ExitStack) -> dict[str, Callable[[real_corpus.RealFile], Outcome]]:
    table: dict[str, Callable[[real_corpus.RealFile], Outcome]] = {}
    for key in keys:
        name = SYSTEM_KEYS[key]
        if name == PIPELINE_BATCH:
            continue  # not file by file: see run_batch
        if name == PIPELINE:
            table[name] = PipelineRunner(resources, STACK_LOG)
        elif name == OCRMYPDF:
            table[name] = lambda f: run_ocrmypdf(f, ())
        else:
            table[name] = lambda f: run_ocrmypdf(f, OCRMYPDF_CLEAN_OPTIONS)
    return table


def _keep_texts(texts_dir: Path, system: str, file: real_corpus.RealFile, outcome: Outcome) -> None:
    # Outside the repo on purpose: recognised text of the real-dev files is not to be committed with the results.
    folder = texts_dir / system.replace(" ", "").replace("--", "_")
    folder.mkdir(parents=True, exist_ok=True)
    texts = outcome.get("texts")
    (folder / f"{file.name}.txt").write_text("\f".join(texts if isinstance(texts, list) else []), encoding="utf-8")


def run_all(
    files: list[real_corpus.RealFile],
    table: dict[str, Callable[[real_corpus.RealFile], Outcome]],
    texts_dir: Path | None,
) -> Iterator[dict[str, object]]:
    names = list(table)
    for i, file in enumerate(files if names else []):
        order = names[i % len(names) :] + names[: i % len(names)]  # rotate, so no system always runs first
        for name in order:
            print(f"{file.name}: {name} ...", file=sys.stderr, flush=True)
            outcome = table[name](file)
            if texts_dir is not None:
                _keep_texts(texts_dir, name, file, outcome)
            yield real_report.file_row(name, file, outcome)


def run_batch(files: list[real_corpus.RealFile], texts_dir: Path | None) -> list[dict[str, object]]:
    """Every file dropped into a fresh stack's inbox at once, as a user fills it: the inbox's own throughput.

    Rows per file as usual (a file's seconds run from the common drop to its end, so they overlap); the totals
    use the wall time of all (`batch_wall_s`).
    """
    print(f"all {len(files)} files at once: {PIPELINE_BATCH} ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-real-batch-") as data_dir:
        with baselines.PipelineStack(Path(data_dir), FILE_TIMEOUT_S, STACK_LOG) as stack:
            jobs, wall_s = stack.process_batch([(f.path, f.pages) for f in files])
        rows = []
        for file, job in zip(files, jobs, strict=True):
            outcome: Outcome = {"state": job.state.get("state"), "seconds": job.seconds, "texts": job.texts}
            if not job.done:
                outcome["error"] = str(job.state.get("error"))
            outcome |= _job_details(job.state)
            if texts_dir is not None:
                _keep_texts(texts_dir, PIPELINE_BATCH, file, outcome)
            rows.append(real_report.file_row(PIPELINE_BATCH, file, outcome) | {"batch_wall_s": round(wall_s, 2)})
    return rows


def provenance() -> dict[str, str]:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, cwd=baselines.REPO_DIR, check=False)
        return done.stdout.strip()

    return {"head": git("log", "-1", "--format=%h %s"), "uncommitted": git("status", "--porcelain", "--", "services")}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=real_corpus.DEFAULT_DIR, help="the real-dev folder")
    parser.add_argument("--only", help=f"comma-separated systems among {', '.join(SYSTEM_KEYS)} (default: all)")
    parser.add_argument("--file", action="append", help="run only this file (by name; repeatable)")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/real.json)")
    parser.add_argument("--texts", type=Path, help="also write each system's text per file here (outside the repo)")
    args = parser.parse_args()
    args.keys = args.only.split(",") if args.only else list(SYSTEM_KEYS)
    unknown = [k for k in args.keys if k not in SYSTEM_KEYS]
    if unknown:
        parser.error(f"unknown system(s) {unknown}; choose among {list(SYSTEM_KEYS)}")
    return args


def main() -> None:
    args = parse_args()
    if not (args.corpus / "manifest.json").is_file():
        print(f"real-dev corpus not found at {args.corpus}: real-scan bench skipped", file=sys.stderr)
        return
    files = real_corpus.load(args.corpus)
    if args.file:
        files = [f for f in files if f.name in args.file]
        if not files:
            sys.exit(f"no file named {args.file} in {args.corpus}/manifest.json")
    partial = bool(args.file or args.only)
    with ExitStack() as resources:
        rows = list(run_all(files, systems(args.keys, resources), args.texts))
    if "pipeline-batch" in args.keys:
        rows += run_batch(files, args.texts)
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "node": platform.machine()},
        "note": "2 shared cores: compare systems within this run only",
        "tesseract": subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "source": provenance(),
        # Relative to the repository, so results committed from one machine name no path of it.
        "corpus": os.path.relpath(args.corpus, real_corpus.BENCH_DIR.parent),
        "totals": real_report.totals(rows, [f.name for f in files]),
        "causes": real_report.by_cause(rows, files),
        "files": rows,
    }
    markdown = real_report.markdown(report)
    print(markdown)
    out = args.out or RESULTS_DIR / ("real-partial.json" if partial else "real.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(markdown + "\n")
    print(f"\nwrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    if STACK_LOG.exists():
        print(f"the stacks' logs: {STACK_LOG}", file=sys.stderr)


if __name__ == "__main__":
    main()
