"""Atomic, durable file writes: temp file in the same folder, fsync, `os.replace`, fsync of the folder."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

# Errors that mean "the volume is in trouble", as opposed to a bug in our code.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT})

TEMP_PREFIX = ".tmp-"
# A temp file is written start to finish within one page's work or one document merge (minutes at most); one
# untouched for this long has no writer left, wherever that writer ran.
STALE_TEMP_S = 3600.0
# `w<pid>-<start ticks>-<host id>` in a temp name: which process of which machine (or container) writes it.
_WRITER_RE = re.compile(r"\.w(\d+)-(\d+)-([0-9a-f]{8})\.")


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode(errors="replace").strip()
    except OSError:
        return ""


@functools.cache
def host_id() -> str:
    """This machine's boot and this container's pid namespace, hashed: equal only where pids mean the same."""
    with contextlib.suppress(OSError):
        pid_ns = str(Path("/proc/self/ns/pid").readlink())
        return hashlib.sha256(
            f"{socket.gethostname()}|{_read('/proc/sys/kernel/random/boot_id')}|{pid_ns}".encode()
        ).hexdigest()[:8]
    return secrets.token_hex(4)  # no /proc: nothing can be proved about other writers, so match none


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22); None if it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rsplit(")", 1)[-1].split()
    # A zombie (Z) or dying (X) process writes nothing more: killed, it may wait a while for whoever reaps it.
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else None


def writer_tag(pid: int | None = None) -> str:
    """The writer identity put in temp names: pid, start time and host id, so a dead writer can be told apart
    from a live one even when containers sharing the volume reuse the same pids."""
    pid = os.getpid() if pid is None else pid
    return f"w{pid}-{process_start(pid) or 0}-{host_id()}"


def temp_path_for(path: Path) -> Path:
    """A temp name beside `path`: dot-prefixed so readers skip it; the writer's identity and a random tag keep
    writers apart."""
    return path.with_name(f"{TEMP_PREFIX}{path.name}.{writer_tag()}.{secrets.token_hex(4)}")


def remove_temp_files(folder: Path, name: str = "") -> int:
    """Remove temp files a killed writer left in `folder` (of file `name`, or all); only for files with one writer
    (state.json, metrics.json: the orchestrator holding the lease), who calls it at start."""
    removed = 0
    for leftover in folder.glob(f"{TEMP_PREFIX}{name}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed


def temp_is_dead(path: Path, now_s: float | None = None) -> bool:
    """Whether no process can still write this temp file: its writer ran here and is gone, or it is stale."""
    match = _WRITER_RE.search(path.name)
    if match and match.group(3) == host_id() and process_start(int(match.group(1))) != match.group(2):
        return True
    try:
        age_s = (time.time() if now_s is None else now_s) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age_s > STALE_TEMP_S


def remove_dead_temp_files(folder: Path, name: str = "") -> int:
    """Remove the temp files in `folder` (of file `name`, or all) whose writer is provably dead (`temp_is_dead`).

    For files that several processes may write at once: stage replicas answering a retry of the same job."""
    removed = 0
    for leftover in folder.glob(f"{TEMP_PREFIX}{name}*"):
        if temp_is_dead(leftover):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed


def remove_temp_files_of(folder: Path, pid: int) -> int:
    """Remove the temp files of one process of this host that we just killed (its start time no longer matters)."""
    removed = 0
    for leftover in folder.glob(f"{TEMP_PREFIX}*.w{pid}-*-{host_id()}.*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_temp(tmp: Path, path: Path) -> None:
    """Make a finished temp file durable and put it in place (the caller fsyncs the folder afterwards)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Give a writer a temp path beside `path`; when the block succeeds, the file replaces `path` atomically.

    A reader sees the old file or the new one, never a mix. On any failure the temp file is removed and the
    error propagates: the caller redoes the write from its source (after a failed fsync the page cache cannot
    be trusted, so we never just retry the fsync).
    """
    tmp = temp_path_for(path)
    try:
        yield tmp
        commit_temp(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, atomically and durably."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` through a synced temp file (used when a rename would cross filesystems)."""
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def move_durably(src: Path, dst: Path) -> None:
    """Move `src` to `dst`: a rename on one filesystem, else copy-then-unlink, never a lost file."""
    try:
        src.rename(dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        atomic_copy(src, dst)
        src.unlink()
    fsync_dir(dst.parent)
    with contextlib.suppress(OSError):
        fsync_dir(src.parent)
