"""Runners for the systems compared by ocr_bench.py; each returns the recognised text per page and the wall time.

tesseract:     bare `tesseract page.png - -l fra+eng`, WORKERS pages at a time, one thread each;
ocrmypdf:      `ocrmypdf --jobs 2 --output-type none --sidecar FILE -l fra+eng corpus.pdf -`, with or
               without `--clean --deskew` (from bench/.venv, installed by bench/setup.sh);
prep variants: one of our page normalisations (services/prep/app/normalise.py or a bench variant of it) then
               tesseract on the result, in the same WORKERS processes, so the time includes the prep;
pipeline:      the whole stack end to end (`ocr-stack up`, corpus.pdf dropped into its inbox).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LANG = "fra+eng"
WORKERS = 2
DPI = 300
# Generous: a degraded page takes Tesseract 5-20 s on one thread; a stuck run should fail, not hang the bench.
PAGE_TIMEOUT_S = 300
OCRMYPDF_TIMEOUT_S = 3600
PIPELINE_TIMEOUT_S = 3600
PIPELINE_POLL_S = 0.5
PIPELINE_STOP_GRACE_S = 30
# Tesseract uses OpenMP threads otherwise; one thread per process is how the OCR service runs it.
SINGLE_THREAD_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}

if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))


@dataclass(frozen=True, slots=True)
class Run:
    """What one system produced on the corpus: text per page (in page order) and the wall time of the whole run."""

    texts: list[str]
    seconds: float


class Unavailable(RuntimeError):
    """The system cannot run here (a program or module is missing); the bench reports it and goes on."""


def tesseract_text(image: Path | bytes, extra_args: Sequence[str] = ()) -> str:
    """Text of one page: a path to an image file, or PNM bytes piped on stdin (no temp file, no PNG encode)."""
    source = "stdin" if isinstance(image, bytes) else str(image)
    argv = ["tesseract", source, "-", "-l", LANG, "--dpi", str(DPI), *extra_args]
    done = subprocess.run(
        argv,
        input=image if isinstance(image, bytes) else None,
        capture_output=True,
        env=SINGLE_THREAD_ENV,
        timeout=PAGE_TIMEOUT_S,
        check=True,
    )
    return done.stdout.decode("utf-8")


def run_tesseract(pngs: Sequence[Path], extra_args: Sequence[str] = ()) -> Run:
    """Bare Tesseract CLI on the page PNGs, WORKERS processes at a time (threads only wait on the subprocesses)."""
    if shutil.which("tesseract") is None:
        raise Unavailable("tesseract is not installed")
    start = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        texts = list(pool.map(lambda png: tesseract_text(png, extra_args), pngs))
    return Run(texts, time.perf_counter() - start)


def ocrmypdf_bin() -> Path:
    path = BENCH_DIR / ".venv" / "bin" / "ocrmypdf"
    if not path.exists():
        raise Unavailable("OCRmyPDF is not installed: run bash bench/setup.sh")
    return path


def run_ocrmypdf(pdf: Path, pages: int, clean: bool) -> Run:
    """OCRmyPDF on the corpus PDF with only the sidecar as output; the sidecar separates pages with form feeds."""
    extra = ["--clean", "--deskew"] if clean else []
    with tempfile.TemporaryDirectory(prefix="bench-ocrmypdf-") as tmp:
        sidecar = Path(tmp) / "sidecar.txt"
        argv = [str(ocrmypdf_bin()), "--jobs", str(WORKERS), "--output-type", "none", "--sidecar", str(sidecar)]
        argv += ["-l", LANG, "--quiet", *extra, str(pdf), "-"]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, timeout=OCRMYPDF_TIMEOUT_S, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise Unavailable(f"ocrmypdf exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
        texts = sidecar.read_text(encoding="utf-8").split("\f")
    # A trailing form feed after the last page leaves an empty tail; pad in case a page produced no text at all.
    return Run((texts + [""] * pages)[:pages], seconds)


# A page transform: grayscale page at DPI in, page for Tesseract out. Must be a module-level function (pickled).
Transform = Callable[[Image.Image], Image.Image]


def _pnm_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PPM")  # PGM for mode L: Leptonica reads it from stdin with no decoding cost
    return buf.getvalue()


def _prep_page(png: Path, transform: Transform, extra_args: Sequence[str]) -> tuple[str, float]:
    start = time.perf_counter()
    with Image.open(png) as img:
        page = transform(img.convert("L"))
    prep_s = time.perf_counter() - start
    return tesseract_text(_pnm_bytes(page), extra_args), prep_s


def run_prep_tesseract(pngs: Sequence[Path], transform: Transform, extra_args: Sequence[str] = ()) -> tuple[Run, float]:
    """Normalise each page then OCR it, WORKERS pages at a time; also returns the CPU seconds spent in prep."""
    start = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        results = list(pool.map(_prep_page, pngs, [transform] * len(pngs), [tuple(extra_args)] * len(pngs)))
    seconds = time.perf_counter() - start
    return Run([text for text, _ in results], seconds), sum(prep_s for _, prep_s in results)


# ---------------------------------------------------------------------------------------------------------------
# Full pipeline end to end. HOOK for the lead: the stack's contract is the data folder (inbox/, jobs/<key>/
# state.json, the job's text output); adjust `_pipeline_pages` if the text output's layout changes.
# ---------------------------------------------------------------------------------------------------------------


def ocr_stack_bin() -> Path:
    return REPO_DIR / ".venv" / "bin" / "ocr-stack"


def _read_state(jobs_dir: Path) -> dict[str, object] | None:
    for state_path in jobs_dir.glob("*/state.json"):
        try:
            state: dict[str, object] = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # written atomically, but a job folder may be half-created
        if state.get("state") in ("DONE", "ERROR"):
            return state | {"_dir": str(state_path.parent)}
    return None


def _pipeline_pages(state: dict[str, object], pages: int) -> list[str]:
    """The job's text, split per page on form feeds (as the OCR service writes document.txt)."""
    job_dir = Path(str(state["_dir"]))
    result = state.get("result")
    outputs = result.get("outputs", {}) if isinstance(result, dict) else {}
    text_path = job_dir / str(outputs.get("text", "document.txt"))
    texts = text_path.read_text(encoding="utf-8").split("\f")
    return (texts + [""] * pages)[:pages]


def run_pipeline(corpus_dir: Path, data_dir: Path) -> tuple[list[str], float]:
    """Start `ocr-stack up` on an empty DATA_DIR, drop corpus.pdf into its inbox, wait for DONE, stop it (SIGTERM).

    The time runs from the drop to DONE (stack start-up excluded, as a long-running service would be warm).
    """
    launcher = ocr_stack_bin()
    if not launcher.exists():
        raise Unavailable(f"{launcher} not found: run `make install` so the pipeline can be benchmarked")
    pages = len(sorted(corpus_dir.glob("page-*.gt.txt")))
    env = {**os.environ, "DATA_DIR": str(data_dir), "LOG_JSON": "true"}
    stack = subprocess.Popen(
        [str(launcher), "up", "--no-samples"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        inbox, jobs = data_dir / "inbox", data_dir / "jobs"
        deadline = time.monotonic() + PIPELINE_TIMEOUT_S
        while not inbox.is_dir():  # the launcher creates it; dropping earlier would race the first intake scan
            if stack.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"ocr-stack exited ({stack.returncode}) before creating {inbox}")
            time.sleep(PIPELINE_POLL_S)
        staged = data_dir / "corpus.pdf.part"
        shutil.copyfile(corpus_dir / "corpus.pdf", staged)
        start = time.perf_counter()
        staged.rename(inbox / "corpus.pdf")  # atomic, so intake never sees a half-written file
        while (state := _read_state(jobs)) is None:
            if stack.poll() is not None or time.monotonic() > deadline:
                raise Unavailable("ocr-stack stopped or timed out before the job finished")
            time.sleep(PIPELINE_POLL_S)
        seconds = time.perf_counter() - start
        if state.get("state") != "DONE":
            raise Unavailable(f"pipeline job ended in {state.get('state')}: {state.get('error')}")
        return _pipeline_pages(state, pages), seconds
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            stack.wait(timeout=PIPELINE_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait()
