"""Progress of a RUNNING job (pages done of total), read from its folder on request, never watched.

The sidecar keeps one watch per job folder (issue 8's design): page outputs land in `pages/` and `ocr/`, which are
not watched, so progress is counted when someone asks, and only for a RUNNING job. Counting is one `scandir` of one
folder, opened with `O_NOFOLLOW` relative to the jobs folder like state.json, and cached for a second so a page
polling it costs nothing more.

- OCR: `ocr/page-NNNN.json` files (each written last for its page) of `input.pages` (known once PREP is done).
- PREP: `pages/page-NNNN.png` files; the total is known only when PREP ends, so it is `null` meanwhile.
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson

from services.common.stage_api import OCR_DIR, PAGES_DIR

from .state_file import Entry

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DONE_PAGE = {"OCR": (OCR_DIR, re.compile(r"page-\d{4,}\.json")), "PREP": (PAGES_DIR, re.compile(r"page-\d{4,}\.png"))}
CACHE_TTL_S = 1.0
# Jobs whose count is cached: far more than run at once (MAX_JOBS_IN_FLIGHT), so it never thrashes.
MAX_CACHED_JOBS = 1024


class ProgressReader:
    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self._cache: OrderedDict[str, tuple[float, str, int | None]] = OrderedDict()

    def progress(self, entry: Entry) -> dict[str, Any] | None:
        """`{"stage", "pagesDone", "pagesTotal"}` for a RUNNING job, None otherwise."""
        if entry.state != "RUNNING" or entry.stage not in _DONE_PAGE or entry.raw is None:
            return None
        done = self._pages_done(entry.key, entry.stage)
        return {"stage": entry.stage, "pagesDone": done, "pagesTotal": _total_pages(entry)}

    def answer(self, entry: Entry) -> dict[str, Any]:
        """What `GET /jobs/{jobKey}/progress` says for any job: counted while RUNNING, from state.json otherwise."""
        running = self.progress(entry)
        body: dict[str, Any] = {"jobKey": entry.key, "state": entry.state, "stage": entry.stage}
        if running is not None:
            return body | {"pagesDone": running["pagesDone"], "pagesTotal": running["pagesTotal"]}
        total = _input_pages(entry) if entry.state == "DONE" else None
        return body | {"pagesDone": total, "pagesTotal": total}

    def header(self, entry: Entry) -> str | None:
        """The `Job-Progress` header of `/jobs/{jobKey}` for a RUNNING job, e.g. `stage=OCR; done=3; total=10`."""
        running = self.progress(entry)
        if running is None:
            return None
        total = running["pagesTotal"]
        done = running["pagesDone"]
        return f"stage={running['stage']}; done={'' if done is None else done}; total={'' if total is None else total}"

    def _pages_done(self, key: str, stage: str) -> int | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] == stage and now - hit[0] < CACHE_TTL_S:
            return hit[2]
        folder, pattern = _DONE_PAGE[stage]
        count = count_matching(self.jobs_dir, key, folder, pattern)
        self._cache[key] = (now, stage, count)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED_JOBS:
            self._cache.popitem(last=False)
        return count


def count_matching(jobs_dir: Path, key: str, folder: str, pattern: re.Pattern[str]) -> int | None:
    """How many names in `jobs/<key>/<folder>/` match; 0 when the folder is not there yet, None when unreadable."""
    try:
        jobs_fd = os.open(jobs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    fds = [jobs_fd]
    try:
        fds.append(os.open(key, _DIR_FLAGS, dir_fd=jobs_fd))
        fds.append(os.open(folder, _DIR_FLAGS, dir_fd=fds[-1]))
        with os.scandir(fds[-1]) as entries:
            return sum(1 for e in entries if pattern.fullmatch(e.name))
    except FileNotFoundError:
        return 0
    except OSError:  # a symlink (ELOOP, ENOTDIR), permissions: say nothing rather than follow it
        return None
    finally:
        for fd in fds:
            os.close(fd)


def _total_pages(entry: Entry) -> int | None:
    return _input_pages(entry) if entry.stage == "OCR" else None


def _input_pages(entry: Entry) -> int | None:
    if entry.raw is None:
        return None
    source = orjson.loads(entry.raw).get("input")
    pages = source.get("pages") if isinstance(source, dict) else None
    return pages if type(pages) is int and pages >= 0 else None
