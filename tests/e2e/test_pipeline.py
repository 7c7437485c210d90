"""Inbox -> DONE with real Tesseract, and bad documents -> ERROR with a clear message and the input kept."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from tests import factory


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _document_text(stack, state) -> str:
    return (stack.paths.job_dir(state["jobKey"]) / state["result"]["outputs"]["text"]).read_text()


def test_a_multipage_french_and_english_pdf_with_a_skewed_page_is_recognised(shared_stack, tmp_path, state_schema):
    pages = [
        factory.page_image(factory.SAMPLE_FR),
        factory.page_image(factory.SAMPLE_EN, rotate=3),
        factory.page_image(["Dernière page", "Fin du document"]),
    ]
    pdf = factory.write_pdf(tmp_path / "lettre accentuée.pdf", pages)
    shared_stack.drop(pdf)
    state = shared_stack.wait_terminal(pdf.name)
    state_schema.validate(state)
    assert state["state"] == "DONE", state.get("error")
    assert state["result"]["pages"] == 3 and state["input"]["pages"] == 3
    assert state["result"]["meanConfidence"] > 60
    text = _document_text(shared_stack, state)
    assert text.count("\f") >= 2
    for word in ("château", "forêt", "Élève", "quick", "lazy", "Invoice", "Dernière"):
        assert word in text, word
    assert (shared_stack.paths.job_dir(state["jobKey"]) / "document.pdf").stat().st_size > 0
    assert state["result"]["durationsS"]["prep"] > 0 and state["result"]["durationsS"]["ocr"] > 0


def test_a_born_digital_pdf_keeps_its_text_and_says_so_per_page(shared_stack, tmp_path, state_schema):
    pdf = factory.write_text_pdf(tmp_path / "rapport.pdf", [factory.SAMPLE_FR, factory.SAMPLE_EN])
    shared_stack.drop(pdf)
    state = shared_stack.wait_terminal(pdf.name)
    state_schema.validate(state)
    assert state["state"] == "DONE", state.get("error")
    assert [(r["text"], r["textLayer"]) for r in state["result"]["pageResults"]] == [("existing", "visible")] * 2
    assert [page.splitlines() for page in _document_text(shared_stack, state).split("\f")] == [
        factory.SAMPLE_FR,
        factory.SAMPLE_EN,
    ]
    assert state["result"]["meanConfidence"] is None  # nothing was recognised


def test_png_jpeg_and_multipage_tiff_are_recognised(shared_stack, tmp_path):
    page = factory.page_image(factory.SAMPLE_EN)
    files = [
        factory.write_image(tmp_path / "scan.png", page),
        factory.write_image(tmp_path / "photo.jpg", page, quality=90),
        factory.write_tiff(tmp_path / "fax.tiff", [page, factory.page_image(factory.SAMPLE_FR)]),
    ]
    for f in files:
        shared_stack.drop(f)
    for f in files:
        state = shared_stack.wait_terminal(f.name)
        assert state["state"] == "DONE", (f.name, state.get("error"))
        assert "quick" in _document_text(shared_stack, state)
    assert shared_stack.job_for("fax.tiff")["result"]["pages"] == 2


def test_an_image_turned_by_its_exif_orientation_is_read_upright(shared_stack, tmp_path):
    upright = factory.page_image(factory.SAMPLE_EN).convert("RGB")
    turned = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": undoes the turn above
    path = tmp_path / "phone.jpg"
    turned.save(path, exif=exif, quality=92, dpi=(300, 300))
    shared_stack.drop(path)
    state = shared_stack.wait_terminal(path.name)
    assert state["state"] == "DONE", state.get("error")
    assert "quick" in _document_text(shared_stack, state)


BAD_INPUTS = {
    "empty.pdf": lambda p: p.write_bytes(b""),
    "truncated.pdf": lambda p: factory.write_truncated_pdf(p, [factory.page_image(["x"])]),
    "notes.pdf": lambda p: p.write_text("just some text, not a PDF\n" * 20),
    "locked.pdf": lambda p: factory.write_encrypted_pdf(p, [factory.page_image(["secret"])]),
    "bomb.png": lambda p: factory.write_pixel_bomb(p),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_a_bad_document_ends_in_error_with_a_clear_message_and_is_kept(shared_stack, tmp_path, name):
    bad = tmp_path / name
    BAD_INPUTS[name](bad)
    original_sha = _sha(bad)
    shared_stack.drop(bad)
    state = shared_stack.wait_terminal(name, timeout_s=90)
    assert state["state"] == "ERROR"
    assert state["error"]["retryable"] is False
    assert len(state["error"]["message"]) > 10
    kept = shared_stack.paths.job_dir(state["jobKey"]) / state["input"]["path"]
    assert _sha(kept) == original_sha
    assert shared_stack.healthy("prep") and shared_stack.healthy("ocr")


def test_dropping_the_same_document_twice_creates_one_job(shared_stack, tmp_path):
    pdf = factory.write_pdf(tmp_path / "twice.pdf", [factory.page_image(["Bonjour deux fois"])])
    shared_stack.drop(pdf)
    shared_stack.wait_terminal("twice.pdf")
    shared_stack.drop(pdf, name="twice (copy).pdf")
    from tests.conftest import wait_for

    wait_for(lambda: not (shared_stack.paths.inbox_dir / "twice (copy).pdf").exists(), what="the copy to be taken")
    keys = [k for k, s in shared_stack.states().items() if s["input"]["sha256"] == _sha(pdf)]
    assert len(keys) == 1
    assert len(list((shared_stack.paths.job_dir(keys[0]) / "duplicates").iterdir())) == 1


def test_one_jobkey_follows_the_job_through_every_service_log(shared_stack, tmp_path):
    pdf = factory.write_pdf(tmp_path / "traced.pdf", [factory.page_image(["Trace me"])])
    shared_stack.drop(pdf)
    state = shared_stack.wait_terminal(pdf.name)
    for service in ("orchestrator", "prep", "ocr"):
        lines = shared_stack.log_lines(service)
        assert all({"timestamp", "level", "logger", "service", "message"} <= line.keys() for line in lines)
        mine = [line for line in lines if line.get("jobKey") == state["jobKey"]]
        assert mine, f"no {service} log line carries the jobKey"
        assert all(line["service"] == service for line in mine)
        assert any("stage" in line and "attempt" in line for line in mine)
