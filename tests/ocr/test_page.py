"""The pages OCR reads from prep's manifest: image paths inside the job folder, never outside it."""

from __future__ import annotations

import json

import pytest

from services.common.errors import BadRequest
from services.ocr.app.page import page_specs


def write_manifest(job_dir, entries):
    (job_dir / "pages").mkdir(parents=True, exist_ok=True)
    (job_dir / "pages" / "manifest.json").write_text(json.dumps({"version": 1, "pages": entries}))


def test_page_specs_point_at_the_images_in_the_pages_folder(tmp_path):
    write_manifest(tmp_path, [{"page": 2, "file": "page-0002.png"}, {"page": 1, "file": "page-0001.png", "width": 10}])
    specs = page_specs(tmp_path)
    assert [(s.page, s.image, s.entry.width, s.entry.dpi) for s in specs] == [
        (1, tmp_path / "pages" / "page-0001.png", 10, 300.0),
        (2, tmp_path / "pages" / "page-0002.png", 0, 300.0),
    ]


def test_a_page_file_escaping_the_job_folder_is_a_bad_request(tmp_path):
    write_manifest(tmp_path, [{"page": 1, "file": "../../state.json"}])
    with pytest.raises(BadRequest, match="not inside the job folder"):
        page_specs(tmp_path)
