"""Fixtures for the OCR service: job folders as prep leaves them, and a running service on a free port."""

from __future__ import annotations

import json

import pytest

from services.common.stage_api import PAGES_DIR, PAGES_MANIFEST, page_name
from services.ocr.app import Config, create_app
from tests.factory import SAMPLE_EN, SAMPLE_FR, page_image, write_image

TWO_PAGES = [SAMPLE_FR, SAMPLE_EN]


@pytest.fixture
def config_for(tmp_path):
    """`create(**env)`: a Config read from an environment pointing at tmp_path, as the service reads it."""

    def create(**env: str) -> Config:
        return Config.from_env({"DATA_DIR": str(tmp_path), "OCR_WORKERS": "2", **env})

    return create


@pytest.fixture
def make_job(tmp_path):
    """`create(pages, key=..., size=...)`: a job folder with pages/*.png and manifest.json, written last like prep.

    Each item of `pages` is a list of text lines, or bytes written as the page file as they are (a corrupt page).
    """

    def create(pages=TWO_PAGES, key="job1", size=(1748, 2480)):
        job_dir = tmp_path / "jobs" / key
        pages_dir = job_dir / PAGES_DIR
        pages_dir.mkdir(parents=True)
        entries = []
        for number, content in enumerate(pages, start=1):
            path = pages_dir / page_name(number, ".png")
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                write_image(path, page_image(content, size=size))
            entries.append({"page": number, "file": path.name, "width": size[0], "height": size[1], "dpi": 300})
        (pages_dir / PAGES_MANIFEST).write_text(json.dumps({"version": 1, "pages": entries}))
        return job_dir

    return create


@pytest.fixture
def ocr_client(aiohttp_client, config_for):
    """`await create(**env)`: a test client for the OCR service running on 127.0.0.1 with its worker pool."""

    async def create(**env: str):
        return await aiohttp_client(create_app(config_for(**env)))

    return create
