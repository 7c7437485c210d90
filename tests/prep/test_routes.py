"""POST /v1/prep through a real aiohttp server and its real worker pool."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from services.common.deadline import TRANSFER_MARGIN_S
from services.common.stage_api import PAGES_DIR, PAGES_MANIFEST, PREP_PATH
from services.common.web import job_headers
from tests.factory import (
    SAMPLE_EN,
    SAMPLE_FR,
    page_image,
    write_encrypted_pdf,
    write_pdf,
    write_tiff,
    write_truncated_pdf,
)

from .conftest import SMALL_PAGE, write_empty_pdf


def pages(n):
    return [page_image((SAMPLE_FR, SAMPLE_EN)[i % 2], size=SMALL_PAGE) for i in range(n)]


async def post(client, key="job1", source="source.pdf"):
    return await client.post(PREP_PATH, json={"jobKey": key, "input": source}, headers=job_headers(key, "PREP", 1))


def listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_a_multi_page_pdf_gives_one_image_per_page_and_a_manifest(prep_client, make_job):
    source = make_job(lambda p: write_pdf(p, pages(3)))
    resp = await post(await prep_client())
    assert resp.status == 200
    body = await resp.json()
    assert (body["pages"], body["warnings"]) == (3, [])
    pages_dir = source.parent / PAGES_DIR
    images = [f"page-000{n}{suffix}" for n in (1, 2, 3) for suffix in (".png", ".raw.jpg")]
    assert listing(pages_dir) == ["manifest.json", *images]
    manifest = json.loads((pages_dir / PAGES_MANIFEST).read_text())
    assert manifest["version"] == 1
    assert manifest["source"] == {"file": "source.pdf", "format": "PDF", "pages": 3, "bytes": source.stat().st_size}
    first = manifest["pages"][0]
    with Image.open(pages_dir / "page-0001.png") as img:
        # 56 px type has a 32 px x-height: scaled to 26 px, its dpi with it (the page keeps its size on paper).
        assert first == {"page": 1, "file": "page-0001.png", "width": img.width, "height": img.height,
                         "dpi": first["dpi"], "skewDeg": first["skewDeg"], "text": "ocr", "textLayer": "none",
                         "scale": first["scale"], "linesVertical": False, "fallback": "page-0001.raw.jpg"}  # fmt: skip
        assert first["scale"] < 1 and first["dpi"] == pytest.approx(300 * first["scale"], abs=0.01)
        assert img.mode == "1"  # binarised (the default), so written 1-bit


async def test_a_multi_page_tiff_gives_one_image_per_frame(prep_client, make_job):
    make_job(lambda p: write_tiff(p, pages(2)), name="source.tif")
    resp = await post(await prep_client(), source="source.tif")
    assert (resp.status, (await resp.json())["pages"]) == (200, 2)


async def test_a_frame_too_large_to_read_fails_alone_and_the_others_are_prepared(prep_client, make_job):
    # 1 Mpx budget: the second frame (4 Mpx) is over twice the budget that is read scaled down.
    small, huge = Image.new("L", (800, 1000), 255), Image.new("L", (2000, 2000), 255)
    source = make_job(lambda p: small.save(p, "TIFF", save_all=True, append_images=[huge, small]), name="source.tif")
    resp = await post(await prep_client(PREP_MAX_PAGE_PIXELS="1000000"), source="source.tif")
    assert (resp.status, (await resp.json())["pages"]) == (200, 3)
    manifest = json.loads((source.parent / PAGES_DIR / PAGES_MANIFEST).read_text())
    assert [bool(p.get("error")) for p in manifest["pages"]] == [False, True, False]
    assert "over 2 times the limit" in manifest["pages"][1]["error"]


async def test_a_repeat_call_rewrites_nothing(prep_client, make_job):
    source = make_job(lambda p: write_pdf(p, pages(2)))
    client = await prep_client()
    assert (await post(client)).status == 200
    pages_dir = source.parent / PAGES_DIR
    before = {p.name: p.stat().st_mtime_ns for p in pages_dir.iterdir()}
    resp = await post(client)
    assert (resp.status, (await resp.json())["pages"]) == (200, 2)
    assert {p.name: p.stat().st_mtime_ns for p in pages_dir.iterdir()} == before


async def test_a_call_after_an_interrupted_run_keeps_the_finished_pages(prep_client, make_job):
    source = make_job(lambda p: write_pdf(p, pages(2)))
    client = await prep_client()
    assert (await post(client)).status == 200
    pages_dir = source.parent / PAGES_DIR
    (pages_dir / PAGES_MANIFEST).unlink()
    (pages_dir / "page-0002.png").unlink()
    kept = (pages_dir / "page-0001.png").stat().st_mtime_ns
    assert (await post(client)).status == 200
    assert (pages_dir / "page-0001.png").stat().st_mtime_ns == kept
    images = ["page-0001.png", "page-0001.raw.jpg", "page-0002.png", "page-0002.raw.jpg"]
    assert listing(pages_dir) == ["manifest.json", *images]


BAD_DOCUMENTS = {
    "empty": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "html": (lambda p: p.write_text("<html><body>404</body></html>"), "not a PDF or an image"),
    "truncated": (lambda p: write_truncated_pdf(p, pages(1)), "damaged or truncated"),
    "encrypted": (lambda p: write_encrypted_pdf(p, pages(1)), "is password-protected"),
    "no-pages": (write_empty_pdf, "has no pages"),
}


@pytest.mark.parametrize("kind", BAD_DOCUMENTS)
async def test_a_bad_document_gets_422_with_a_clear_message_and_stays_untouched(prep_client, make_job, kind):
    write, message = BAD_DOCUMENTS[kind]
    source = make_job(write)
    original = source.read_bytes()
    client = await prep_client()
    resp = await post(client)
    error = (await resp.json())["error"]
    assert (resp.status, error["type"], error["retryable"]) == (422, "BadDocument", False)
    assert message in error["message"]
    assert source.read_bytes() == original
    assert listing(source.parent / PAGES_DIR) == []
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("bomb", ["pixel_bomb", "frames_bomb"])
async def test_an_oversized_document_gets_422_naming_the_limit(prep_client, make_job, request, bomb):
    source = make_job(lambda p: shutil.copyfile(request.getfixturevalue(bomb), p), name="source.png")
    resp = await post(await prep_client(), source="source.png")
    assert resp.status == 422
    message = (await resp.json())["error"]["message"]
    assert "PREP_MAX_PAGE_PIXELS" in message or "PREP_MAX_PAGES" in message
    assert not (source.parent / PAGES_DIR / PAGES_MANIFEST).exists()


@pytest.mark.parametrize("key", ["..", "a/b", "../job1", ""])
async def test_an_invalid_job_key_gets_400_and_nothing_is_written(prep_client, make_job, tmp_path, key):
    make_job(lambda p: write_pdf(p, pages(1)))
    (tmp_path / "jobs" / "a" / "b").mkdir(parents=True)
    write_pdf(tmp_path / "jobs" / "a" / "b" / "source.pdf", pages(1))
    resp = await post(await prep_client(), key=key)
    assert resp.status == 400
    assert not list(tmp_path.rglob(PAGES_DIR))


@pytest.mark.parametrize("source", ["../job2/source.pdf", "/etc/passwd", "missing.pdf"])
async def test_an_input_outside_the_job_or_missing_gets_400(prep_client, make_job, source):
    make_job(lambda p: write_pdf(p, pages(1)), key="job2")
    make_job(lambda p: p.write_bytes(b"%PDF-"))
    resp = await post(await prep_client(), source=source)
    assert resp.status == 400


async def test_a_body_that_is_not_a_json_object_gets_400(prep_client):
    client = await prep_client()
    resp = await client.post(PREP_PATH, data=b"[1, 2]")
    assert resp.status == 400


async def test_a_call_past_the_callers_timeout_writes_no_manifest(prep_client, make_job):
    # A caller that waits no longer than the transfer margin has given up before any page is done.
    source = make_job(lambda p: write_pdf(p, pages(1)))
    client = await prep_client()
    headers = job_headers("job1", "PREP", 1, TRANSFER_MARGIN_S)
    resp = await client.post(PREP_PATH, json={"jobKey": "job1", "input": "source.pdf"}, headers=headers)
    assert resp.status == 504 and (await resp.json())["error"]["type"] == "CallAbandoned"
    assert not (source.parent / PAGES_DIR / PAGES_MANIFEST).exists()
    assert (await post(client)).status == 200  # the next attempt, in time, completes it
    assert (source.parent / PAGES_DIR / PAGES_MANIFEST).exists()
