"""The change journal: one line per state change, appended by the orchestrator, followed by readers on shared volumes.

On NFS, SMB or CSI volumes inotify sees no write made by another machine, and polling 100k job folders costs a core.
So the orchestrator (the only writer of state.json) appends `{"v":1,"at":...,"jobKey":...,"state":...}` to
`jobs/.journal/changes.jsonl` after each state.json it wrote, and a reader follows that one file. The journal is a
hint, never the truth: a reader re-reads the state.json it names, and rescans when the journal cannot be trusted
(missing, truncated, rotated past what it had read, a corrupt line). It is bounded: past `max_bytes` the writer
renames it to `changes.jsonl.1` (replacing the previous one) and starts a new file, so it never holds more than two.
Lines are written with one `write` on an O_APPEND descriptor (atomic on a local filesystem; on a network filesystem
only one orchestrator writes at a time), and not fsynced: a lost line is repaired by the reader's periodic rescan.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .clock import now_iso
from .job import is_valid_job_key

log = logging.getLogger(__name__)

JOURNAL_DIR = ".journal"
JOURNAL_FILE = "changes.jsonl"
ROTATED_SUFFIX = ".1"
VERSION = 1
# About 60k lines of ~130 bytes: minutes of changes at the highest rates we measured, seconds to read in full.
DEFAULT_MAX_BYTES = 8 << 20
# A reader never reads more than this per call, so one call stays short even after a long pause.
MAX_READ_BYTES = 4 << 20


def journal_path(jobs_dir: Path) -> Path:
    return jobs_dir / JOURNAL_DIR / JOURNAL_FILE


def rotated_path(path: Path) -> Path:
    return path.with_name(path.name + ROTATED_SUFFIX)


def encode_line(job_key: str, state: str) -> bytes:
    return orjson.dumps({"v": VERSION, "at": now_iso(), "jobKey": job_key, "state": state}) + b"\n"


class CorruptLine(ValueError):
    """A journal line that is not one of ours: the reader cannot trust what it missed and rescans."""


def decode_line(line: bytes) -> str:
    """The job key a journal line names (raises CorruptLine)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise CorruptLine(f"not JSON: {e}") from e
    key = doc.get("jobKey") if isinstance(doc, dict) else None
    if not isinstance(key, str) or key.startswith(".") or not is_valid_job_key(key):
        raise CorruptLine("no valid jobKey")
    return key


class JournalWriter:
    """Appends one line per state change; never raises (the state.json write already succeeded and is the truth)."""

    def __init__(self, jobs_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path, self.max_bytes = journal_path(jobs_dir), max_bytes
        self._fd: int | None = None
        self._size = 0
        self._failing = False

    def append(self, job_key: str, state: str) -> None:
        try:
            fd = self._open()
            line = encode_line(job_key, state)
            os.write(fd, line)
            self._size += len(line)
            if self._size >= self.max_bytes:
                self._rotate()
        except OSError as e:
            self._close()
            if not self._failing:  # said once per outage, not once per change
                log.warning("change journal %s cannot be written: %s", self.path, e.strerror or e)
            self._failing = True
            return
        if self._failing:
            log.info("change journal %s is written again", self.path)
            self._failing = False

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate(self) -> None:
        self._close()
        self.path.replace(rotated_path(self.path))
        self._open()  # at once: a reader finding no journal would fall back to rescans

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def close(self) -> None:
        self._close()


@dataclass(slots=True)
class JournalBatch:
    """What one read found: the jobs named since the last read, and why the reader must rescan (None: no need)."""

    keys: set[str] = field(default_factory=set)
    problem: str | None = None
    lines: int = 0


class JournalReader:
    """Follows the journal from where it stood when `start()` was called, across rotations.

    It keeps the file it follows open: after a rotation it reads the rest of that file through its descriptor, and
    since an open file's inode cannot be reused, `.1` having another inode proves a whole file was missed.
    """

    def __init__(self, jobs_dir: Path) -> None:
        self.path = journal_path(jobs_dir)
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._rotated_away = False  # the file we followed became .1: read the next one from its start

    @property
    def following(self) -> bool:
        return self._fd is not None or self._rotated_away

    def start(self) -> str | None:
        """Stand at the journal's end (everything before is covered by a scan); returns a problem or None."""
        self.close()
        try:
            self._open(at_end=True)
        except OSError as e:
            return _missing(e)
        return None

    def _open(self, at_end: bool) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        st = os.fstat(fd)
        self._fd, self._inode = fd, (st.st_dev, st.st_ino)
        self._offset, self._partial, self._rotated_away = (st.st_size if at_end else 0), b"", False

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._inode = self._fd, None, None
            os.close(fd)
        self._rotated_away = False

    def read(self) -> JournalBatch:
        """The jobs named by lines appended since the last call."""
        batch = JournalBatch()
        try:
            st = self.path.stat()
        except OSError as e:
            if not (e.errno == errno.ENOENT and self._fd is not None and self._leave_rotated(batch)):
                self.close()
                batch.problem = batch.problem or _missing(e)
            return batch
        if self._fd is None and not self._rotated_away:
            batch.problem = self.start() or "the journal appeared: rescanning once to cover what came before it"
            return batch
        if (st.st_dev, st.st_ino) != self._inode:
            if self._fd is not None and not self._leave_rotated(batch):
                batch.problem = batch.problem or "the journal was rotated past what had been read"
            self.close()
            try:
                self._open(at_end=False)
            except OSError as e:
                batch.problem = _missing(e)
                return batch
        elif st.st_size < self._offset:
            batch.problem = f"the journal was truncated ({st.st_size} bytes, {self._offset} had been read)"
            self._offset, self._partial = 0, b""
        self._read_rest(batch)
        return batch

    def _leave_rotated(self, batch: JournalBatch) -> bool:
        """Read the rest of the file we followed; True if it is `.1` (so no file was missed in between)."""
        while self._read_rest(batch) == MAX_READ_BYTES:
            pass
        if self._partial:
            batch.problem = "the rotated journal ends in a partial line"
        try:
            st = rotated_path(self.path).stat()
            immediate = (st.st_dev, st.st_ino) == self._inode
        except OSError:
            immediate = False
        self.close()
        self._rotated_away = immediate
        return immediate

    def _read_rest(self, batch: JournalBatch) -> int:
        """Read up to MAX_READ_BYTES of new lines into `batch`; returns the bytes read."""
        if self._fd is None:
            return 0
        try:
            data = os.pread(self._fd, MAX_READ_BYTES, self._offset)
        except OSError as e:
            batch.problem = f"the journal cannot be read: {e.strerror or e}"
            return 0
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # empty after a complete line; else a line still being written
        for line in lines:
            batch.lines += 1
            try:
                batch.keys.add(decode_line(line))
            except CorruptLine as e:
                batch.problem = f"corrupt journal line before byte {self._offset}: {e}"
        return len(data)


def _missing(e: OSError) -> str:
    if e.errno == errno.ENOENT:
        return "no change journal (an orchestrator that writes none, or none written yet)"
    return f"the journal cannot be read: {e.strerror or e}"
