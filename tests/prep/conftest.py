"""Fixtures for the PREP service: job folders holding a source document, configs, and a service on a free port."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from PIL import Image

from services.prep.app import Config, create_app
from tests.factory import write_pixel_bomb

# Small pages keep the suite quick: A6 at 300 dpi, still real rendered text.
SMALL_PAGE = (1240, 1748)


def write_empty_pdf(path):
    """A well-formed PDF whose page tree is empty."""
    pdfium.PdfDocument.new().save(str(path))
    return path


def write_many_frames_tiff(path, frames):
    """A multi-page TIFF of `frames` tiny blank pages (a page-count bomb, not a pixel one)."""
    first = Image.new("L", (8, 8), 255)
    rest = [Image.new("L", (8, 8), 255) for _ in range(frames - 1)]
    first.save(path, "TIFF", save_all=True, append_images=rest)
    return path


@pytest.fixture(scope="session")
def pixel_bomb(tmp_path_factory):
    """A 30000 x 30000 PNG of a few kilobytes (built once: writing it takes seconds). Read-only."""
    return write_pixel_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")


@pytest.fixture(scope="session")
def frames_bomb(tmp_path_factory):
    """A TIFF of 2050 tiny frames, beyond the default PREP_MAX_PAGES of 2000 (built once). Read-only."""
    return write_many_frames_tiff(tmp_path_factory.mktemp("frames") / "frames.tif", 2050)


@pytest.fixture
def env(tmp_path):
    return {"DATA_DIR": str(tmp_path), "PREP_WORKERS": "1"}


@pytest.fixture
def config_for(env):
    """`create(**env)`: a Config read from an environment pointing at tmp_path, as the service reads it."""

    def create(**overrides: str) -> Config:
        return Config.from_env({**env, **overrides})

    return create


@pytest.fixture
def make_job(tmp_path):
    """`create(key, name, write)`: a job folder with its source written by `write(path)`; returns the source path."""

    def create(write, name="source.pdf", key="job1"):
        job_dir = tmp_path / "jobs" / key
        job_dir.mkdir(parents=True, exist_ok=True)
        write(job_dir / name)
        return job_dir / name

    return create


@pytest.fixture
def prep_client(aiohttp_client, config_for):
    """`await create(**env)`: a test client for the prep service on 127.0.0.1 with its worker pool."""

    async def create(**overrides: str):
        return await aiohttp_client(create_app(config_for(**overrides)))

    return create
