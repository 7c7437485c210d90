"""Progress of RUNNING jobs, counted from their page outputs on disk on request."""

import orjson

from sidecar.progress import ProgressReader
from sidecar.state_file import parse_state

from .conftest import state_doc


def running_job(write_job, jobs_dir, key, stage="OCR", pages=4, outputs=()):
    doc_input = {"name": "a.pdf", "sha256": "0" * 64, "bytes": 1, "path": "source.pdf", "pages": pages}
    write_job(key, state="RUNNING", stage=stage, input=doc_input)
    for relative in outputs:
        path = jobs_dir / key / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"{}")


async def test_a_running_ocr_job_shows_pages_done_of_total_in_a_header_and_its_progress(
    start_sidecar, write_job, jobs_dir
):
    outputs = ["ocr/page-0001.json", "ocr/page-0001.txt", "ocr/page-0002.json", "ocr/.tmp-page-0003.json.12"]
    running_job(write_job, jobs_dir, "r", outputs=outputs)
    sidecar = await start_sidecar()
    status, headers, body = await sidecar.get("/jobs/r")
    assert status == 200 and headers["Job-Progress"] == "stage=OCR; done=2; total=4"
    assert orjson.loads(body)["state"] == "RUNNING"  # the body stays state.json, byte for byte
    status, progress = await sidecar.json("/jobs/r/progress")
    assert (status, progress) == (
        200,
        {"jobKey": "r", "state": "RUNNING", "stage": "OCR", "pagesDone": 2, "pagesTotal": 4},
    )


async def test_prep_counts_page_images_and_a_total_not_known_yet(start_sidecar, write_job, jobs_dir):
    running_job(write_job, jobs_dir, "p", stage="PREP", outputs=["pages/page-0001.png", "pages/page-0002.png"])
    sidecar = await start_sidecar()
    _, progress = await sidecar.json("/jobs/p/progress")
    assert (progress["pagesDone"], progress["pagesTotal"]) == (2, None)


async def test_other_states_answer_from_state_json_and_unknown_jobs_get_404(start_sidecar, write_job):
    write_job("q")
    write_job(
        "d", state="DONE", stage="OCR", input={"name": "a", "sha256": "0" * 64, "bytes": 1, "path": "s", "pages": 9}
    )
    sidecar = await start_sidecar()
    status, headers, _ = await sidecar.get("/jobs/q")
    assert status == 200 and "Job-Progress" not in headers
    assert (await sidecar.json("/jobs/q/progress"))[1]["pagesDone"] is None
    assert (await sidecar.json("/jobs/d/progress"))[1] == {
        "jobKey": "d",
        "state": "DONE",
        "stage": "OCR",
        "pagesDone": 9,
        "pagesTotal": 9,
    }
    status, body = await sidecar.json("/jobs/nope/progress")
    assert status == 404 and body["error"]["type"] == "NotFound"


def test_a_symlinked_output_folder_is_not_followed(tmp_path):
    jobs = tmp_path / "jobs"
    (jobs / "s").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "page-0001.json").write_bytes(b"{}")
    (jobs / "s" / "ocr").symlink_to(elsewhere)
    entry = parse_state("s", (1, 1, 1, 1), orjson.dumps(state_doc("s", state="RUNNING", stage="OCR")), 0.0)
    assert ProgressReader(jobs).progress(entry)["pagesDone"] is None


def test_the_count_follows_the_disk(tmp_path):
    jobs = tmp_path / "jobs"
    (jobs / "k" / "ocr").mkdir(parents=True)
    entry = parse_state("k", (1, 1, 1, 1), orjson.dumps(state_doc("k", state="RUNNING", stage="OCR")), 0.0)
    assert ProgressReader(jobs).progress(entry)["pagesDone"] == 0
    (jobs / "k" / "ocr" / "page-0001.json").write_bytes(b"{}")
    assert ProgressReader(jobs).progress(entry)["pagesDone"] == 1
