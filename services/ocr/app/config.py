"""The OCR service's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.common.env import env_bool, env_float, env_int, env_path, env_str
from services.common.paths import DataPaths

from .page import DEFAULT_FALLBACK_BELOW_CONF, DEFAULT_ORIENT_BELOW_CONF, ReadingPolicy

# Where distributions put the traineddata files (Debian/Ubuntu 5.x and 4.x, Fedora, Homebrew, source builds).
# The bundled libtesseract of the tesserocr wheel has no default of its own, so we hand it one of these.
TESSDATA_CANDIDATES = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
    Path("/usr/share/tessdata"),
    Path("/opt/homebrew/share/tessdata"),
    Path("/usr/local/share/tessdata"),
)
# Starting a worker and loading fra+eng takes about a second; more than this means it is stuck.
WORKER_START_TIMEOUT_S = 60.0
# Time a worker gets to exit after being asked to stop, before it is killed.
WORKER_STOP_GRACE_S = 5.0


def default_tessdata_dir(environ: Mapping[str, str]) -> Path:
    """`TESSDATA_PREFIX` when set (Tesseract's own variable), else the first folder that exists."""
    prefix = environ.get("TESSDATA_PREFIX")
    if prefix:
        return Path(prefix)
    return next((p for p in TESSDATA_CANDIDATES if p.is_dir()), TESSDATA_CANDIDATES[0])


@dataclass(frozen=True, slots=True)
class Config:
    paths: DataPaths
    host: str = "0.0.0.0"
    port: int = 8082
    lang: str = "fra+eng"
    workers: int = 2
    page_timeout_s: float = 120.0
    page_retries: int = 1
    tessdata_dir: Path = TESSDATA_CANDIDATES[0]
    worker_start_timeout_s: float = WORKER_START_TIMEOUT_S
    worker_stop_grace_s: float = WORKER_STOP_GRACE_S
    orient_below_conf: float = DEFAULT_ORIENT_BELOW_CONF
    fallback_below_conf: float = DEFAULT_FALLBACK_BELOW_CONF
    # Read a page in pieces on workers that would otherwise wait (services/ocr/app/pieces.py).
    split_pages: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return cls(
            paths=DataPaths.from_env(environ),
            host=env_str(environ, "OCR_HOST", "0.0.0.0"),
            port=env_int(environ, "OCR_PORT", 8082, minimum=0),
            lang=env_str(environ, "OCR_LANG", "fra+eng"),
            workers=env_int(environ, "OCR_WORKERS", os.cpu_count() or 1, minimum=1),
            page_timeout_s=env_float(environ, "OCR_PAGE_TIMEOUT_S", 120.0, minimum=0.001),
            page_retries=env_int(environ, "OCR_PAGE_RETRIES", 1, minimum=0),
            tessdata_dir=env_path(environ, "OCR_TESSDATA_DIR", default_tessdata_dir(environ)),
            orient_below_conf=env_float(environ, "OCR_ORIENT_BELOW_CONF", DEFAULT_ORIENT_BELOW_CONF, minimum=0),
            fallback_below_conf=env_float(environ, "OCR_FALLBACK_BELOW_CONF", DEFAULT_FALLBACK_BELOW_CONF, minimum=0),
            split_pages=env_bool(environ, "OCR_SPLIT_PAGES", True),
        )

    @property
    def reading(self) -> ReadingPolicy:
        return ReadingPolicy(self.orient_below_conf, self.fallback_below_conf)

    def to_log(self) -> dict[str, Any]:
        """The effective settings as plain values, for the one start-up log line."""
        fields = asdict(self)
        fields["paths"] = {name: str(value) for name, value in fields["paths"].items()}
        fields["tessdata_dir"] = str(self.tessdata_dir)
        return fields
