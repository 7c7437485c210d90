"""What counts as a page's own text, what each PREP_EXISTING_TEXT mode does with it, and the pages prep writes."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from services.common.errors import ConfigError
from services.prep.app import Config
from services.prep.app.normalise import Options
from services.prep.app.render import Limits
from services.prep.app.sniff import Format
from services.prep.app.textlayer import LayerKind, TextLayer, TextMode, read_source_layer, reuses_text
from services.prep.app.worker import PageTask, prep_page
from tests.factory import SAMPLE_EN, page_image, write_ocr_layer_pdf, write_pdf, write_text_pdf

from .conftest import SMALL_PAGE

STALE_LAYER = ["Stale layer words", "zebra quartz 777"]


@pytest.fixture
def documents(tmp_path):
    """One PDF per kind of page: born-digital, a scan with an OCR layer, a scan with a header stamp, a bare scan."""
    scan = page_image(SAMPLE_EN, size=SMALL_PAGE)
    return {
        "digital": write_text_pdf(tmp_path / "digital.pdf", [SAMPLE_EN]),
        "ocr-layer": write_ocr_layer_pdf(tmp_path / "ocr-layer.pdf", scan, STALE_LAYER),
        "stamp": write_ocr_layer_pdf(tmp_path / "stamp.pdf", scan, ["Scanned 2026-12-02 ACME page 1 of 1"], 20),
        "scan": write_pdf(tmp_path / "scan.pdf", [scan]),
    }


@pytest.mark.parametrize(
    ("name", "kind", "scanned"),
    [
        ("digital", LayerKind.VISIBLE, False),
        ("ocr-layer", LayerKind.INVISIBLE, True),
        # A stamp over a scan is not the page's text: skipping OCR there would lose the body.
        ("stamp", LayerKind.NONE, True),
        ("scan", LayerKind.NONE, True),
    ],
)
def test_text_layer_kind(documents, name, kind, scanned):
    layer = read_source_layer(documents[name], 0)
    assert (layer.kind, layer.scanned) == (kind, scanned)
    assert (layer.chars > 0) == (name != "scan")


@pytest.mark.parametrize(
    ("mode", "visible", "invisible", "none"),
    [(TextMode.SKIP, True, True, False), (TextMode.REDO, True, False, False), (TextMode.FORCE, False, False, False)],
)
def test_which_mode_keeps_which_text(mode, visible, invisible, none):
    layers = [TextLayer(kind, 50, False) for kind in (LayerKind.VISIBLE, LayerKind.INVISIBLE, LayerKind.NONE)]
    assert [reuses_text(layer, mode) for layer in layers] == [visible, invisible, none]


def prep(tmp_path, source, mode):
    out_dir = tmp_path / "pages"
    out_dir.mkdir(exist_ok=True)
    return prep_page(None, PageTask(source, Format.PDF, 0, out_dir, Limits(), Options(), mode))


def test_skip_renders_nothing_and_names_the_source_for_a_page_with_text(tmp_path, documents):
    result = prep(tmp_path, documents["digital"], TextMode.SKIP)
    entry = result.entry.to_json()
    assert (entry["file"], entry["text"], entry["textLayer"]) == ("digital.pdf", "existing", "visible")
    assert list((tmp_path / "pages").iterdir()) == []  # no copy of the page: see keep_page_text
    source = pdfium.PdfDocument(documents["digital"])
    try:
        # The page size in pixels at the render resolution, as for a rendered page.
        assert (entry["width"], entry["height"]) == tuple(round(v * 300 / 72) for v in source[0].get_size())
    finally:
        source.close()


def test_redo_renders_a_page_whose_text_is_an_ocr_layer_and_says_so(tmp_path, documents):
    entry = prep(tmp_path, documents["ocr-layer"], TextMode.REDO).entry.to_json()
    assert (entry["file"], entry["text"], entry["textLayer"]) == ("page-0001.png", "ocr", "invisible")


def test_redo_keeps_born_digital_text(tmp_path, documents):
    entry = prep(tmp_path, documents["digital"], TextMode.REDO).entry.to_json()
    assert (entry["file"], entry["text"]) == ("digital.pdf", "existing")


def test_force_renders_every_page_and_does_not_look_for_text(tmp_path, documents):
    entry = prep(tmp_path, documents["digital"], TextMode.FORCE).entry.to_json()
    assert (entry["file"], entry["text"], entry["textLayer"]) == ("page-0001.png", "ocr", "none")


def test_skip_renders_a_scan_with_only_a_stamp_of_text(tmp_path, documents):
    entry = prep(tmp_path, documents["stamp"], TextMode.SKIP).entry.to_json()
    assert (entry["file"], entry["text"], entry["textLayer"]) == ("page-0001.png", "ocr", "none")


def test_existing_text_mode_is_read_from_the_environment():
    assert Config.from_env({}).existing_text is TextMode.SKIP
    assert Config.from_env({"PREP_EXISTING_TEXT": " Redo "}).existing_text is TextMode.REDO
    with pytest.raises(ConfigError, match="PREP_EXISTING_TEXT='keep' is not one of skip, redo, force"):
        Config.from_env({"PREP_EXISTING_TEXT": "keep"})
