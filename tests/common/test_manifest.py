"""`pages/manifest.json`: what prep writes is what OCR reads; anything else is a clear BadRequest."""

from __future__ import annotations

import json

import pytest

from services.common.errors import BadRequest
from services.common.manifest import (
    MANIFEST_VERSION,
    ManifestPage,
    PagesManifest,
    SourceInfo,
    read_complete_manifest,
    read_manifest,
    write_manifest,
)


def write_doc(pages_dir, doc):
    pages_dir.mkdir(parents=True, exist_ok=True)
    (pages_dir / "manifest.json").write_text(json.dumps(doc))


def two_page_manifest():
    pages = (
        ManifestPage(1, "page-0001.png", 10, 20, 300, 0.5, cut_rows=(9,)),
        ManifestPage(2, "page-0002.png", 10, 20, 150.5, turn=270),
    )
    return PagesManifest(pages, SourceInfo("source.pdf", "PDF", 2, 1234), ("page 2: no text layer",))


def test_a_written_manifest_reads_back_equal(tmp_path):
    write_manifest(tmp_path, two_page_manifest())
    assert read_manifest(tmp_path) == two_page_manifest()
    assert json.loads((tmp_path / "manifest.json").read_text())["version"] == MANIFEST_VERSION


def test_pages_come_back_in_page_order_with_defaults_for_missing_sizes(tmp_path):
    entries = [{"page": 2, "file": "page-0002.png"}, {"page": 1, "file": "page-0001.png", "width": 10, "height": 20}]
    write_doc(tmp_path, {"version": 1, "pages": entries})
    assert read_manifest(tmp_path).pages == (
        ManifestPage(1, "page-0001.png", 10, 20, 300.0),
        ManifestPage(2, "page-0002.png", 0, 0, 300.0),
    )


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2, "pages": [{"page": 1, "file": "page-0001.png"}]},
        {"version": 1, "pages": []},
        {"version": 1, "pages": [{"file": "page-0001.png"}]},
        {"version": 1, "pages": [{"page": 0, "file": "page-0001.png"}]},
        {"version": 1, "pages": [{"page": 1, "file": "a.png"}, {"page": 1, "file": "b.png"}]},
        {"version": 1, "pages": [{"page": 1, "file": "a.png"}], "source": {"file": "s.pdf"}},
        {"version": 1, "pages": [{"page": 1, "file": "a.png", "height": 100, "cutRows": [100]}]},
        {"version": 1, "pages": [{"page": 1, "file": "a.png", "height": 100, "cutRows": [60, 40]}]},
        {"version": 1, "pages": [{"page": 1, "file": "a.png", "turn": 45}]},
        ["not", "an", "object"],
    ],
    ids=[
        "version",
        "no-pages",
        "no-page-number",
        "page-zero",
        "page-twice",
        "bad-source",
        "cut-off-page",
        "cuts-unordered",
        "turn-not-right-angle",
        "not-object",
    ],  # fmt: skip
)
def test_a_manifest_prep_would_not_write_is_a_bad_request(tmp_path, doc):
    write_doc(tmp_path, doc)
    with pytest.raises(BadRequest):
        read_manifest(tmp_path)


def test_unreadable_manifest_is_a_bad_request(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b'{"version": 1, "pag')
    with pytest.raises(BadRequest, match="cannot read"):
        read_manifest(tmp_path)


def test_missing_manifest_is_a_bad_request_naming_prep(tmp_path):
    with pytest.raises(BadRequest, match="run prep first"):
        read_manifest(tmp_path)


def test_a_manifest_is_complete_once_every_page_it_lists_is_on_disk(tmp_path):
    write_manifest(tmp_path, two_page_manifest())
    (tmp_path / "page-0001.png").write_bytes(b"png")
    assert read_complete_manifest(tmp_path) is None
    (tmp_path / "page-0002.png").write_bytes(b"png")
    assert read_complete_manifest(tmp_path) == two_page_manifest()


def test_a_manifest_short_of_its_source_pages_is_not_complete(tmp_path):
    manifest = two_page_manifest()
    write_manifest(tmp_path, PagesManifest(manifest.pages[:1], manifest.source))
    (tmp_path / "page-0001.png").write_bytes(b"png")
    assert read_complete_manifest(tmp_path) is None


def test_a_page_file_outside_the_pages_folder_is_not_complete(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "x.png").write_bytes(b"png")
    write_doc(
        tmp_path,
        {
            "version": 1,
            "pages": [{"page": 1, "file": "pages/x.png"}],
            "source": two_page_manifest().source.to_json() | {"pages": 1},
        },
    )
    assert read_complete_manifest(tmp_path) is None
