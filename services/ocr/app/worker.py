"""The worker side: one libtesseract (tesserocr) API per process, loaded once, turning page images into outputs.

A worker is a plain loop over a pipe (`serve`): it receives a `PageTask`, writes the page's .pdf and .txt under
temp names, renames them, writes the page's .json last, and answers with the `PageResult`. Failures Tesseract
reports are answered as errors; a crash or a hang is the parent's business (see `pool.py`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PIL import Image

from services.common.atomic import commit_temp, fsync_dir
from services.common.errors import StageFailed
from services.common.logs import bind_job_context, configure_logging
from services.common.manifest import TEXT_EXISTING

from .existing import write_existing
from .orientation import load_osd
from .page import PageResult, PageTask, hocr_path, pdf_path, text_path, write_result
from .pieces import JoinTask, Piece, PieceTask, join_pieces, read_piece
from .reading import read_page

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Prep writes clean pages as PNG and the decoded pages it keeps as fallbacks as JPEG.
IMAGE_SIGNATURES = (PNG_SIGNATURE, b"\xff\xd8\xff")
# Messages of the pipe protocol between the pool and a worker.
READY, OK, ERROR = "ready", "ok", "error"
# What a worker is asked: a page, a piece of one, or the join of a page's pieces and the rest of its reading.
WorkerTask = PageTask | PieceTask | JoinTask

_api: Any = None
# The orientation-detection engine, None when the OSD data is not installed (orientation.py then reads trials).
_osd: Any = None


def load_engine(lang: str, tessdata_dir: str) -> None:
    """Load the models once per process; the first page then costs only its recognition."""
    global _api, _osd
    # One thread per worker: parallelism comes from the processes; set before libtesseract loads.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import tesserocr

    api = tesserocr.PyTessBaseAPI(path=tessdata_dir.rstrip("/") + "/", lang=lang)
    # One recognition pass feeds every renderer: the searchable PDF, the plain text, the words with their boxes.
    api.SetVariable("tessedit_create_pdf", "1")
    api.SetVariable("tessedit_create_txt", "1")
    api.SetVariable("tessedit_create_hocr", "1")
    _api = api
    _osd = load_osd(tesserocr, tessdata_dir.rstrip("/") + "/")


def _check_image(image: Path) -> None:
    # Tesseract reads a file it does not recognise as an image as a list of file names: never hand it one.
    with open(image, "rb") as fh:
        head = fh.read(len(PNG_SIGNATURE))
    if not head.startswith(IMAGE_SIGNATURES):
        raise StageFailed(f"{image.name} is not a PNG or JPEG image")


def _engine() -> Any:
    if _api is None:
        raise RuntimeError("load_engine() was not called in this process")
    return _api


def recognise(task: PageTask, join: JoinTask | None = None) -> PageResult:
    """OCR one page into `ocr/page-NNNN.{pdf,txt,hocr,json}`; raise StageFailed if Tesseract cannot read it.

    With `join`, the page was read in pieces already: they are joined into its first reading.
    """
    api = _engine()
    started = time.perf_counter()
    first = None
    if join is not None:
        # First: the join removes the pieces' temp files whatever happens next.
        with Image.open(task.image) as img:
            first = join_pieces(task, join.pieces, img.size)
    try:
        _check_image(task.image)
        if task.fallback is not None:
            _check_image(task.fallback)
    except BaseException:
        if first is not None:
            first.discard()
        raise
    best = read_page(api, _osd, task, first)
    try:
        commit_temp(Path(f"{best.outbase}.pdf"), pdf_path(task.out_dir, task.page))
        commit_temp(Path(f"{best.outbase}.txt"), text_path(task.out_dir, task.page))
        commit_temp(Path(f"{best.outbase}.hocr"), hocr_path(task.out_dir, task.page))
    finally:
        best.discard()
    fsync_dir(task.out_dir)
    confidences = best.confidences
    result = PageResult(
        page=task.page,
        ok=True,
        confidence=round(sum(confidences) / len(confidences), 2) if confidences else 0.0,
        words=len(confidences),
        duration_s=round(time.perf_counter() - started + (join.pieces_s if join else 0.0), 3),
        text_layer=task.text_layer,
        rotation=best.rotation,
        image=best.image,
        pieces=len(join.pieces) if join and best is first else 1,
    )
    write_result(task.out_dir, result)
    return result


def _run(task: WorkerTask) -> PageResult | Piece:
    if isinstance(task, PieceTask):
        return read_piece(_engine(), task)
    if isinstance(task, JoinTask):
        return recognise(task.task, task)
    return write_existing(task) if task.text == TEXT_EXISTING else recognise(task)


def _handle(task: WorkerTask) -> tuple[str, object]:
    with bind_job_context(task.task.job if isinstance(task, PieceTask | JoinTask) else task.job):
        try:
            result = _run(task)
        except (StageFailed, OSError) as e:
            log.warning("page %d failed: %s", task.page, e)
            return ERROR, str(e)
        except Exception as e:  # noqa: BLE001 - a bug on one page must not take the worker down
            log.exception("page %d failed unexpectedly", task.page)
            return ERROR, f"{type(e).__name__}: {e}"
        if isinstance(result, PageResult):
            log.info("page %d recognised: %d words, confidence %.1f", task.page, result.words, result.confidence)
        return OK, result


def serve(conn: Connection, lang: str, tessdata_dir: str) -> None:
    """A worker process's main loop: load the engine, say ready, then answer tasks until told to stop."""
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging("ocr")
    try:
        load_engine(lang, tessdata_dir)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails its start-up
        conn.send((ERROR, f"{type(e).__name__}: {e}"))
        return
    conn.send((READY, os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        reply = _handle(task)
        try:
            conn.send(reply)
        except OSError:
            # The parent is gone (killed): the page's outputs are on disk all the same; nothing left to do.
            return
