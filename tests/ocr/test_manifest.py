"""Reading prep's pages manifest."""

from __future__ import annotations

import json

import pytest

from services.common.errors import BadRequest
from services.ocr.app.manifest import read_manifest


def write_manifest(job_dir, doc):
    (job_dir / "pages").mkdir(parents=True, exist_ok=True)
    (job_dir / "pages" / "manifest.json").write_text(json.dumps(doc))


def test_pages_come_back_in_page_order_with_their_image_paths(tmp_path):
    entries = [{"page": 2, "file": "page-0002.png"}, {"page": 1, "file": "page-0001.png", "width": 10, "height": 20}]
    write_manifest(tmp_path, {"version": 1, "pages": entries})
    specs = read_manifest(tmp_path)
    assert [(s.page, s.image, s.width, s.dpi) for s in specs] == [
        (1, tmp_path / "pages" / "page-0001.png", 10, 300.0),
        (2, tmp_path / "pages" / "page-0002.png", 0, 300.0),
    ]


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2, "pages": [{"page": 1, "file": "page-0001.png"}]},
        {"version": 1, "pages": []},
        {"version": 1, "pages": [{"file": "page-0001.png"}]},
        {"version": 1, "pages": [{"page": 1, "file": "../../state.json"}]},
        {"version": 1, "pages": [{"page": 1, "file": "a.png"}, {"page": 1, "file": "b.png"}]},
        ["not", "an", "object"],
    ],
    ids=["version", "no-pages", "no-page-number", "escapes-job", "page-twice", "not-object"],
)
def test_a_manifest_prep_would_not_write_is_a_bad_request(tmp_path, doc):
    write_manifest(tmp_path, doc)
    with pytest.raises(BadRequest):
        read_manifest(tmp_path)


def test_unreadable_manifest_is_a_bad_request(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "manifest.json").write_bytes(b'{"version": 1, "pag')
    with pytest.raises(BadRequest, match="cannot read"):
        read_manifest(tmp_path)
