"""The PREP service's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from services.common.env import env_bool, env_int, env_str
from services.common.errors import ConfigError
from services.common.paths import DataPaths

from .normalise import Options
from .render import Limits
from .textlayer import TextMode

DEFAULT_DPI = 300
# A3 at 300 dpi is 3508 x 4961 = 17.4 Mpx and A2 34.8 Mpx: 40 Mpx lets both through (plus scanner margins)
# while bounding one page's memory (an 8-bit page and its few working copies stay well under 1 GB per worker).
DEFAULT_MAX_PAGE_PIXELS = 40_000_000
DEFAULT_MAX_PAGES = 2000
DEFAULT_PORT = 8081


def _text_mode(environ: Mapping[str, str]) -> TextMode:
    raw = env_str(environ, "PREP_EXISTING_TEXT", TextMode.SKIP.value).strip().lower()
    try:
        return TextMode(raw)
    except ValueError as e:
        choices = ", ".join(m.value for m in TextMode)
        raise ConfigError(f"PREP_EXISTING_TEXT={raw!r} is not one of {choices}") from e


@dataclass(frozen=True, slots=True)
class Config:
    paths: DataPaths
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    workers: int = 2
    dpi: int = DEFAULT_DPI
    max_page_pixels: int = DEFAULT_MAX_PAGE_PIXELS
    max_pages: int = DEFAULT_MAX_PAGES
    deskew: bool = True
    clean: bool = True
    denoise: bool = True
    binarize: bool = True
    text_scale: bool = True
    fallback: bool = True
    existing_text: TextMode = TextMode.SKIP

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return cls(
            paths=DataPaths.from_env(environ),
            host=env_str(environ, "PREP_HOST", "0.0.0.0"),
            port=env_int(environ, "PREP_PORT", DEFAULT_PORT, minimum=0),
            workers=env_int(environ, "PREP_WORKERS", os.cpu_count() or 1, minimum=1),
            dpi=env_int(environ, "PREP_DPI", DEFAULT_DPI, minimum=50),
            max_page_pixels=env_int(environ, "PREP_MAX_PAGE_PIXELS", DEFAULT_MAX_PAGE_PIXELS, minimum=1),
            max_pages=env_int(environ, "PREP_MAX_PAGES", DEFAULT_MAX_PAGES, minimum=1),
            deskew=env_bool(environ, "PREP_DESKEW", True),
            clean=env_bool(environ, "PREP_CLEAN", True),
            denoise=env_bool(environ, "PREP_DENOISE", True),
            binarize=env_bool(environ, "PREP_BINARIZE", True),
            text_scale=env_bool(environ, "PREP_TEXT_SCALE", True),
            fallback=env_bool(environ, "PREP_FALLBACK", True),
            existing_text=_text_mode(environ),
        )

    @property
    def limits(self) -> Limits:
        return Limits(dpi=self.dpi, max_page_pixels=self.max_page_pixels, max_pages=self.max_pages)

    @property
    def options(self) -> Options:
        return Options(
            deskew=self.deskew, clean=self.clean, denoise=self.denoise, binarize=self.binarize,
            text_scale=self.text_scale, fallback=self.fallback,
        )  # fmt: skip

    def to_log(self) -> dict[str, Any]:
        """The effective settings as plain values, for the one start-up log line."""
        fields = asdict(self)
        fields["paths"] = {name: str(value) for name, value in fields["paths"].items()}
        return fields
