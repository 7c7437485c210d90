"""POST /v1/ocr and /healthz against real Tesseract workers and real job folders."""

from __future__ import annotations

import asyncio
import json

import pypdfium2 as pdfium

from services.common.deadline import TRANSFER_MARGIN_S
from services.common.web import job_headers
from tests.factory import SAMPLE_FR


def page_json(job_dir, number):
    return json.loads((job_dir / "ocr" / f"page-{number:04d}.json").read_text())


async def post_ocr(client, key="job1", **kwargs):
    return await client.post("/v1/ocr", json={"jobKey": key}, **kwargs)


async def test_two_page_job_gives_document_text_with_french_accents_and_english(ocr_client, make_job):
    job_dir = make_job()
    client = await ocr_client()
    resp = await post_ocr(client)
    assert resp.status == 200
    text = (job_dir / "document.txt").read_text("utf-8")
    french, english = text.split("\f")
    for word in ("château", "forêt", "Élève"):
        assert word in french
    for word in ("quick", "brown", "Invoice"):
        assert word in english


async def test_each_page_gets_a_json_with_a_good_confidence(ocr_client, make_job):
    job_dir = make_job()
    client = await ocr_client()
    body = await (await post_ocr(client)).json()
    pages = [page_json(job_dir, number) for number in (1, 2)]
    assert [(p["page"], p["ok"], p["words"] > 5, p["confidence"] > 50) for p in pages] == [
        (1, True, True, True),
        (2, True, True, True),
    ]
    assert body["meanConfidence"] > 50
    assert body["pageResults"] == [
        {"page": p["page"], "confidence": p["confidence"], "ok": True, "text": "ocr", "textLayer": "none"}
        for p in pages
    ]
    assert body["outputs"] == {"text": "document.txt", "pdf": "document.pdf", "pages": "ocr/"}
    assert (body["pages"], body["failedPages"], body["warnings"]) == (2, [], [])


async def test_document_pdf_has_both_pages_with_a_text_layer(ocr_client, make_job):
    job_dir = make_job()
    client = await ocr_client()
    assert (await post_ocr(client)).status == 200
    pdf = pdfium.PdfDocument(job_dir / "document.pdf")
    try:
        texts = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()
    assert len(texts) == 2
    assert "château" in texts[0]
    assert "quick" in texts[1]


async def test_repeat_call_skips_pages_already_done(ocr_client, make_job):
    job_dir = make_job()
    client = await ocr_client()
    assert (await post_ocr(client)).status == 200
    before = [(job_dir / "ocr" / f"page-000{n}.json").stat().st_mtime_ns for n in (1, 2)]
    resp = await post_ocr(client)
    assert resp.status == 200
    assert [(job_dir / "ocr" / f"page-000{n}.json").stat().st_mtime_ns for n in (1, 2)] == before
    assert (await resp.json())["failedPages"] == []


async def test_deleting_one_page_json_redoes_only_that_page(ocr_client, make_job):
    job_dir = make_job()
    client = await ocr_client()
    assert (await post_ocr(client)).status == 200
    kept = (job_dir / "ocr" / "page-0001.json").stat().st_mtime_ns
    (job_dir / "ocr" / "page-0002.json").unlink()
    assert (await post_ocr(client)).status == 200
    assert (job_dir / "ocr" / "page-0001.json").stat().st_mtime_ns == kept
    assert page_json(job_dir, 2)["ok"] is True
    assert "quick" in (job_dir / "document.txt").read_text("utf-8").split("\f")[1]


async def test_corrupt_page_is_marked_not_recognised_while_the_other_page_is_kept(ocr_client, make_job, tmp_path):
    good = make_job(pages=[["unused"]], key="donor")
    truncated = (good / "pages" / "page-0001.png").read_bytes()[:2000]
    job_dir = make_job(pages=[["Le château de la forêt"], truncated])
    client = await ocr_client()
    resp = await post_ocr(client)
    assert resp.status == 200
    body = await resp.json()
    assert body["failedPages"] == [2]
    assert body["pageResults"][1] == {"page": 2, "confidence": 0.0, "ok": False, "text": "ocr", "textLayer": "none"}
    assert "page 2" in body["warnings"][0]
    assert page_json(job_dir, 2)["ok"] is False
    assert page_json(job_dir, 2)["error"]
    assert (job_dir / "document.txt").read_text("utf-8").split("\f")[1] == ""
    pdf = pdfium.PdfDocument(job_dir / "document.pdf")
    assert len(pdf) == 2
    pdf.close()


async def test_missing_manifest_gives_400(ocr_client, make_job):
    job_dir = make_job()
    (job_dir / "pages" / "manifest.json").unlink()
    client = await ocr_client()
    resp = await post_ocr(client)
    assert resp.status == 400
    assert (await resp.json())["error"]["type"] == "BadRequest"


async def test_invalid_job_key_gives_400(ocr_client):
    client = await ocr_client()
    resp = await post_ocr(client, key="../etc")
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error == {"type": "BadRequest", "message": "invalid jobKey '../etc'", "retryable": False}


async def test_healthz_answers_ok(ocr_client):
    client = await ocr_client()
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_worker_log_lines_carry_the_job_context(ocr_client, make_job, capfd, monkeypatch):
    monkeypatch.setenv("LOG_JSON", "true")  # read by the workers, which inherit the environment
    make_job(pages=[["Bonjour"]])
    client = await ocr_client(OCR_WORKERS="1")
    assert (await post_ocr(client, headers=job_headers("job1", "OCR", 3))).status == 200
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    recognised = [line for line in lines if line["message"].startswith("page 1 recognised")]
    assert recognised[0] | {"jobKey": "job1", "stage": "OCR", "attempt": 3} == recognised[0]


async def test_two_calls_for_one_job_at_once_recognise_each_page_once(ocr_client, make_job, capfd):
    job_dir = make_job()
    client = await ocr_client()
    first, second = await asyncio.gather(post_ocr(client), post_ocr(client))
    assert (first.status, second.status) == (200, 200)
    assert (await first.json())["pageResults"] == (await second.json())["pageResults"]
    out = capfd.readouterr().out
    assert (out.count("page 1 recognised"), out.count("page 2 recognised")) == (1, 1)
    assert "château" in (job_dir / "document.txt").read_text("utf-8")


async def test_a_call_that_outlives_the_callers_timeout_writes_no_document(ocr_client, make_job):
    # A caller that waits no longer than the transfer margin has given up by the time the page is recognised,
    # however fast this machine is (the end-to-end test in tests/e2e uses a real slow document instead).
    job_dir = make_job(pages=[SAMPLE_FR])
    client = await ocr_client()
    waits_s = str(TRANSFER_MARGIN_S)
    resp = await post_ocr(client, headers={"X-Job-Key": "job1", "X-Job-Stage": "OCR", "X-Job-Timeout-S": waits_s})
    assert resp.status == 504
    error = (await resp.json())["error"]
    assert error["type"] == "CallAbandoned" and "not writing" in error["message"]
    assert not (job_dir / "document.txt").exists() and not (job_dir / "document.pdf").exists()
    assert not list(job_dir.glob(".tmp-*"))  # nothing half-written left beside them
    # The page itself is cache for the next attempt, which then commits in time.
    resp = await post_ocr(client, headers={"X-Job-Key": "job1", "X-Job-Stage": "OCR", "X-Job-Timeout-S": "60"})
    assert resp.status == 200 and (job_dir / "document.txt").exists()


async def test_a_page_prep_could_not_read_fails_alone_and_the_document_completes(ocr_client, make_job):
    job_dir = make_job(pages=[["Le château de la forêt"], ["blank stand-in"]])
    manifest_path = job_dir / "pages" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["pages"][1]["error"] = "page 2 is 40000 x 40000 pixels, over 2 times the limit"
    manifest_path.write_text(json.dumps(manifest))
    resp = await post_ocr(await ocr_client())
    assert resp.status == 200
    body = await resp.json()
    assert body["failedPages"] == [2]
    assert "prep could not read the page: page 2 is 40000 x 40000 pixels" in body["warnings"][0]
    assert "château" in (job_dir / "document.txt").read_text("utf-8")
    pdf = pdfium.PdfDocument(job_dir / "document.pdf")
    assert len(pdf) == 2
    pdf.close()
