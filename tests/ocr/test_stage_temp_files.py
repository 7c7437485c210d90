"""An OCR call removes the temp files of dead writers in its job, never those of a live one (another replica)."""

from services.common.atomic import temp_path_for
from services.common.stage_api import OCR_DIR
from tests.conftest import temp_of_a_finished_process
from tests.ocr.conftest import SAMPLE_FR


async def test_an_ocr_call_keeps_a_live_writers_temp_files_and_removes_a_dead_ones(ocr_client, make_job):
    job_dir = make_job(pages=[SAMPLE_FR])
    out_dir = job_dir / OCR_DIR
    out_dir.mkdir()
    # A retry on this replica while the call it replaces still runs elsewhere: that writer is alive (this process).
    live_page = temp_path_for(out_dir / "page-0001.pdf")
    live_document = temp_path_for(job_dir / "document.txt")
    dead_page = temp_of_a_finished_process(out_dir, "page-0001.txt")
    dead_document = temp_of_a_finished_process(job_dir, "document.pdf")
    for path in (live_page, live_document):
        path.write_bytes(b"being written")
    client = await ocr_client()
    resp = await client.post("/v1/ocr", json={"jobKey": "job1"})
    assert resp.status == 200
    assert live_page.read_bytes() == b"being written" and live_document.read_bytes() == b"being written"
    assert not dead_page.exists() and not dead_document.exists()
    assert "château" in (job_dir / "document.txt").read_text()
