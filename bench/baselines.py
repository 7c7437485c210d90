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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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
# How often a dropped document's state.json is looked at: its time is taken when the look sees it finished, so
# a coarse poll rounds the pipeline's time up (at 0.5 s a 0.3 s document counted 0.5 s, a 1.1 s one 1.5 s),
# while OCRmyPDF's is taken when its process exits. A look at a few state files costs well under a millisecond.
JOB_POLL_S = 0.02
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
    """OCRmyPDF on the corpus PDF, plain or with `--clean --deskew`."""
    return run_ocrmypdf_sidecar(pdf, pages, ["--clean", "--deskew"] if clean else [])


def run_ocrmypdf_sidecar(document: Path, pages: int, options: Sequence[str]) -> Run:
    """OCRmyPDF with only the sidecar as output; the sidecar separates pages with form feeds."""
    with tempfile.TemporaryDirectory(prefix="bench-ocrmypdf-") as tmp:
        sidecar = Path(tmp) / "sidecar.txt"
        argv = [str(ocrmypdf_bin()), "--jobs", str(WORKERS), "--output-type", "none", "--sidecar", str(sidecar)]
        argv += ["-l", LANG, "--quiet", *options, str(document), "-"]
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
# Full pipeline end to end: the stack's real services on a temp data folder.
# ---------------------------------------------------------------------------------------------------------------


def ocr_stack_bin() -> Path:
    return REPO_DIR / ".venv" / "bin" / "ocr-stack"


def _free_port() -> int:
    # Free ports, never the stack's defaults: two benches (or a bench and a developer's stack) may run at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stack_env(data_dir: Path) -> dict[str, str]:
    prep_port, ocr_port, sidecar_port = _free_port(), _free_port(), _free_port()
    return {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LOG_JSON": "true",
        "PREP_PORT": str(prep_port),
        "OCR_PORT": str(ocr_port),
        "ORCHESTRATOR_PORT": str(sidecar_port),
        "PREP_URL": f"http://127.0.0.1:{prep_port}",
        "OCR_URL": f"http://127.0.0.1:{ocr_port}",
    }


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class PipelineJob:
    """One document through the stack: its final state.json (plus `_dir`), text per page, drop-to-end seconds."""

    state: dict[str, object]
    texts: list[str]
    seconds: float

    @property
    def done(self) -> bool:
        return self.state.get("state") == "DONE"


def _input_name(state: dict[str, object]) -> str:
    source = state.get("input")
    return str(source.get("name", "")) if isinstance(source, dict) else ""


def _terminal_states(jobs_dir: Path, seen: set[str], name: str | None = None) -> dict[str, object] | None:
    """A finished job not seen yet (the one of the document `name`, when given)."""
    for state_path in jobs_dir.glob("*/state.json"):
        if state_path.parent.name in seen:
            continue
        try:
            state: dict[str, object] = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # written atomically, but a job folder may be half-created
        if state.get("state") in ("DONE", "ERROR") and name in (None, _input_name(state)):
            return state | {"_dir": str(state_path.parent)}
    return None


def _pipeline_pages(state: dict[str, object], pages: int) -> list[str]:
    """The job's text, split per page on form feeds (as the OCR service writes document.txt)."""
    job_dir = Path(str(state["_dir"]))
    result = state.get("result")
    outputs = result.get("outputs", {}) if isinstance(result, dict) else {}
    text_path = job_dir / str(outputs.get("text", "document.txt"))
    try:
        texts = text_path.read_text(encoding="utf-8").split("\f")
    except OSError:
        texts = []  # an ERROR job has no text
    return (texts + [""] * pages)[:pages]


class PipelineStack:
    """`ocr-stack up` on an empty DATA_DIR (free ports), fed one document at a time; stopped with SIGTERM.

    Each document's time runs from the drop to its terminal state (stack start-up excluded, as a long-running
    service would be warm). HOOK: the stack's contract is the data folder (inbox/, jobs/<key>/state.json, the
    job's text output); adjust `_pipeline_pages` if the text output's layout changes.
    """

    def __init__(self, data_dir: Path, timeout_s: float = PIPELINE_TIMEOUT_S, log_path: Path | None = None) -> None:
        launcher = ocr_stack_bin()
        if not launcher.exists():
            raise Unavailable(f"{launcher} not found: run `make install` so the pipeline can be benchmarked")
        self.data_dir, self.timeout_s = data_dir, timeout_s
        self.inbox, self.jobs = data_dir / "inbox", data_dir / "jobs"
        self._seen: set[str] = set()
        # The services' logs, kept when asked: when the stack fails mid-run, they say why.
        self._log_file: IO[bytes] | None = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
        env = _stack_env(data_dir)
        self._stack = subprocess.Popen(
            [str(launcher), "up", "--no-samples"],
            env=env,
            stdout=self._log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        # Ready when the inbox exists (dropping earlier would race the first intake scan) and both stage services
        # answer /healthz, which they do only once their worker pools are warm: the first document is not
        # charged for the start-up.
        health = [f"{env[name]}/healthz" for name in ("PREP_URL", "OCR_URL")]
        deadline = time.monotonic() + timeout_s
        while not (self.inbox.is_dir() and all(_answers(url) for url in health)):
            if self._stack.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise Unavailable(f"ocr-stack exited ({self._stack.returncode}) or was not ready in time")
            time.sleep(PIPELINE_POLL_S)

    def process(self, document: Path, pages: int) -> PipelineJob:
        """Drop `document` into the inbox, wait for its job to end (DONE or ERROR), return it."""
        staged = self.data_dir / f"{document.name}.part"
        shutil.copyfile(document, staged)
        start = time.perf_counter()
        staged.rename(self.inbox / document.name)  # atomic, so intake never sees a half-written file
        deadline = time.monotonic() + self.timeout_s
        while (state := _terminal_states(self.jobs, self._seen, document.name)) is None:
            if self._stack.poll() is not None:
                raise Unavailable(f"ocr-stack exited ({self._stack.returncode}) before {document.name} finished")
            if time.monotonic() > deadline:
                raise Unavailable(f"{document.name} not finished after {self.timeout_s:.0f} s")
            time.sleep(JOB_POLL_S)
        seconds = time.perf_counter() - start
        self._seen.add(Path(str(state["_dir"])).name)
        return PipelineJob(state, _pipeline_pages(state, pages), seconds)

    def process_batch(self, documents: Sequence[tuple[Path, int]]) -> tuple[list[PipelineJob], float]:
        """Drop every document at once (as a user filling the inbox), wait for all; jobs in document order.

        Each job's `seconds` runs from the common drop to its own end; the second value is the wall time of all.
        """
        for document, _ in documents:
            shutil.copyfile(document, self.data_dir / f"{document.name}.part")
        start = time.perf_counter()
        for document, _ in documents:
            (self.data_dir / f"{document.name}.part").rename(self.inbox / document.name)
        deadline = time.monotonic() + self.timeout_s * len(documents)
        ended: dict[str, PipelineJob] = {}
        while len(ended) < len(documents):
            state = _terminal_states(self.jobs, self._seen)
            if state is None:
                if self._stack.poll() is not None or time.monotonic() > deadline:
                    raise Unavailable(f"ocr-stack stopped or timed out with {len(ended)}/{len(documents)} done")
                time.sleep(JOB_POLL_S)
                continue
            self._seen.add(Path(str(state["_dir"])).name)
            name = str(state["input"]["name"]) if isinstance(state.get("input"), dict) else ""  # type: ignore[index]
            pages = dict((d.name, p) for d, p in documents).get(name, 0)
            ended[name] = PipelineJob(state, _pipeline_pages(state, pages), time.perf_counter() - start)
        return [ended[d.name] for d, _ in documents], max(job.seconds for job in ended.values())

    @property
    def alive(self) -> bool:
        return self._stack.poll() is None

    def close(self) -> None:
        self._stack.send_signal(signal.SIGTERM)
        try:
            self._stack.wait(timeout=PIPELINE_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._stack.kill()
            self._stack.wait()
        if self._log_file is not None:
            self._log_file.close()

    def __enter__(self) -> PipelineStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_pipeline(corpus_dir: Path, data_dir: Path) -> tuple[list[str], float]:
    """The generated corpus (corpus.pdf) through the whole stack; Unavailable unless the job ends DONE."""
    pages = len(sorted(corpus_dir.glob("page-*.gt.txt")))
    with PipelineStack(data_dir) as stack:
        job = stack.process(corpus_dir / "corpus.pdf", pages)
    if not job.done:
        raise Unavailable(f"pipeline job ended in {job.state.get('state')}: {job.state.get('error')}")
    return job.texts, job.seconds
