"""Where the data lives: `$DATA_DIR` with `inbox/`, `jobs/`, `requests/` and `metrics.json`, each relocatable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .env import env_path

STATE_FILE = "state.json"
DEFAULT_DATA_DIR = Path("./data")


@dataclass(frozen=True, slots=True)
class DataPaths:
    """The places of the on-disk contract. Every service, the sidecar included, reads them the same way."""

    data_dir: Path
    inbox_dir: Path
    jobs_dir: Path
    metrics_path: Path
    requests_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DataPaths:
        data_dir = env_path(environ, "DATA_DIR", DEFAULT_DATA_DIR)
        return cls(
            data_dir=data_dir,
            inbox_dir=env_path(environ, "INBOX_DIR", data_dir / "inbox"),
            jobs_dir=env_path(environ, "JOBS_DIR", data_dir / "jobs"),
            metrics_path=env_path(environ, "METRICS_PATH", data_dir / "metrics.json"),
            requests_dir=env_path(environ, "REQUESTS_DIR", data_dir / "requests"),
        )

    def job_dir(self, job_key: str) -> Path:
        return self.jobs_dir / job_key

    def state_path(self, job_key: str) -> Path:
        return self.jobs_dir / job_key / STATE_FILE


def job_dir_for_request(jobs_dir: Path, job_key: str) -> Path:
    """The folder of an existing job named in a stage request; the key never escapes `jobs_dir`."""
    from .errors import BadRequest
    from .job import is_valid_job_key

    if not is_valid_job_key(job_key):
        raise BadRequest(f"invalid jobKey {job_key[:80]!r}")
    folder = jobs_dir / job_key
    if folder.is_symlink() or not folder.is_dir():
        raise BadRequest(f"no job folder for jobKey {job_key!r}")
    return folder


def file_in_job(job_dir: Path, relative: str) -> Path:
    """A file named relative to a job folder, refusing absolute paths, `..` and symlinks out of it."""
    from .errors import BadRequest

    candidate = job_dir / relative
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise BadRequest(f"path {relative!r} is not inside the job folder")
    if candidate.is_symlink():
        raise BadRequest(f"path {relative!r} is a symlink")
    return candidate
