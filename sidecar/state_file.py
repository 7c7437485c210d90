"""One safe read of `jobs/<jobKey>/state.json`: no symlinks followed, size capped, any bytes survived.

The folder and the file are opened relative to an open descriptor of the jobs folder with `O_NOFOLLOW`, so a job
folder or a state.json that is a symlink is refused by the kernel itself: nothing outside the jobs folder is ever
read, whatever races with the check. The file's (inode, size, mtime, ctime) is its signature: an unchanged
signature means an unchanged file, so repeated events and rescans cost one `fstat`, not a parse.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.common.clock import format_time, from_epoch, now_iso, parse_time
from services.common.paths import STATE_FILE

from .facts import NO_FACTS, JobFacts, job_facts

Signature = tuple[int, int, int, int]

# O_PATH: the job folder is only a handle to open state.json from (never listed); such an open skips the file-open
# work and the inotify open/close hooks of a full one (about 5-10 % of a job's read in a scan).
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted as state.json must not hang the reader.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CANONICAL_TIME_CHARS = len("2026-01-01T00:00:00.000Z")
# Reasons a job folder is skipped (a bounded set: they become a Prometheus label).
SKIP_SYMLINK = "symlink"
SKIP_NOT_A_FILE = "not_a_file"


@dataclass(slots=True)
class Entry:
    """A job as the index holds it: the raw bytes served as-is, plus the few fields the listing needs."""

    key: str
    signature: Signature
    raw: bytes | None
    state: str | None
    stage: str | None
    attempt: int | None
    updated_at: str
    problem: str | None = None
    name: str | None = None
    """The input's original file name (`input.name`), for finding a job by the file that was dropped."""
    _etag: str | None = None
    facts: JobFacts = NO_FACTS
    """What the job adds to the aggregate metrics, read from the same parse (see `facts`)."""

    @property
    def etag(self) -> str:
        """A strong ETag of the bytes, computed on the first detail request (most jobs are never asked for)."""
        if self._etag is None:
            self._etag = '"' + hashlib.blake2b(self.raw or b"", digest_size=12).hexdigest() + '"'
        return self._etag

    def summary(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "jobKey": self.key,
            "state": self.state,
            "stage": self.stage,
            "attempt": self.attempt,
            "updatedAt": self.updated_at,
            "name": self.name,
        }
        if self.problem is not None:
            doc["unreadable"] = self.problem
        return doc


@dataclass(frozen=True, slots=True)
class Missing:
    """No job here (any more): no folder, or a folder without a state.json yet."""


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The file still has the signature the caller already knows."""


ReadResult = Entry | Missing | Skipped | Unchanged
MISSING = Missing()
UNCHANGED = Unchanged()


@contextmanager
def open_jobs_dir(jobs_dir: Path) -> Iterator[int]:
    fd = os.open(jobs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def read_state(jobs_fd: int, key: str, max_bytes: int, known: Signature | None = None) -> ReadResult:
    """Read the state.json of job `key` (a name already checked with `is_valid_job_key`)."""
    if known is not None and _signature_at(jobs_fd, key) == known:
        return UNCHANGED
    try:
        dir_fd = os.open(key, _DIR_FLAGS, dir_fd=jobs_fd)
    except OSError as e:
        # O_NOFOLLOW with O_DIRECTORY refuses a symlink with ENOTDIR, like a plain file: tell them apart.
        if e.errno == errno.ENOTDIR and _is_symlink(jobs_fd, key):
            return Skipped(SKIP_SYMLINK)
        return _refusal(e, key)
    try:
        fd = os.open(STATE_FILE, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        return _refusal(e, key)
    finally:
        os.close(dir_fd)
    try:
        return _read_open_file(fd, key, max_bytes, known)
    finally:
        os.close(fd)


def _signature_at(jobs_fd: int, key: str) -> Signature | None:
    """One `stat`, no open (so no inotify event either): enough to tell that a known file has not changed.

    It may follow a symlinked folder, which is harmless: it only ever confirms a signature read safely before.
    """
    try:
        st = os.stat(f"{key}/{STATE_FILE}", dir_fd=jobs_fd, follow_symlinks=False)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _is_symlink(jobs_fd: int, key: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(key, dir_fd=jobs_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _refusal(e: OSError, key: str) -> ReadResult:
    if e.errno == errno.ELOOP:
        return Skipped(SKIP_SYMLINK)
    if e.errno == errno.ENXIO:  # a socket
        return Skipped(SKIP_NOT_A_FILE)
    if e.errno in {errno.ENOENT, errno.ENOTDIR}:
        return MISSING
    # EACCES, EIO...: listed as unreadable; a zero signature makes the next event or rescan try again.
    return unreadable(key, (0, 0, 0, 0), now_iso(), f"state.json cannot be read: {e.strerror}")


def _read_open_file(fd: int, key: str, max_bytes: int, known: Signature | None) -> ReadResult:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return Skipped(SKIP_NOT_A_FILE)
    signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if signature == known:
        return UNCHANGED
    if st.st_size > max_bytes:
        return unreadable(key, signature, from_epoch(st.st_mtime), f"state.json is larger than {max_bytes} bytes")
    raw = _read_all(fd, st.st_size, max_bytes)
    if len(raw) > max_bytes:
        return unreadable(key, signature, from_epoch(st.st_mtime), f"state.json is larger than {max_bytes} bytes")
    return parse_state(key, signature, raw, st.st_mtime)


def _read_all(fd: int, size: int, max_bytes: int) -> bytes:
    """Read to the end, at most max_bytes + 1, sized by fstat (`os.read(fd, 1 MiB)` would allocate 1 MiB each time)."""
    chunks = [os.read(fd, size + 1)]
    total = len(chunks[0])
    while total <= max_bytes and len(chunks[-1]) > 0 and total > size:  # the file grew since fstat
        chunks.append(os.read(fd, max_bytes + 1 - total))
        total += len(chunks[-1])
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_state(key: str, signature: Signature, raw: bytes, mtime_s: float) -> Entry:
    """Turn bytes into an entry; invalid UTF-8, invalid JSON and non-objects become an `unreadable` entry.

    The file's mtime stands in for updatedAt when there is none (formatted only then: it costs more than the parse).
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return unreadable(key, signature, from_epoch(mtime_s), f"state.json is not valid JSON: {e}")
    if not isinstance(doc, dict):
        return unreadable(key, signature, from_epoch(mtime_s), "state.json is not a JSON object")
    updated = doc.get("updatedAt")
    return Entry(
        key=key,
        signature=signature,
        raw=raw,
        state=_text(doc.get("state")),
        stage=_text(doc.get("stage")),
        attempt=doc.get("attempt") if type(doc.get("attempt")) is int else None,
        updated_at=_canonical_time(updated) if isinstance(updated, str) else from_epoch(mtime_s),
        facts=job_facts(doc, raw),
        name=_input_name(doc.get("input")),
    )


def _input_name(value: object) -> str | None:
    return _text(value.get("name")) if isinstance(value, dict) else None


def unreadable(key: str, signature: Signature, mtime: str, problem: str) -> Entry:
    return Entry(key, signature, None, None, None, None, mtime, problem)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _canonical_time(text: str) -> str:
    """updatedAt as the contract writes it, so that string order is time order (other RFC 3339 shapes converted)."""
    if len(text) == _CANONICAL_TIME_CHARS and text.endswith("Z"):
        return text
    try:
        return format_time(parse_time(text))
    except ValueError:
        return text
