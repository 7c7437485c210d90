"""Real processes killed with real signals: the job still finishes."""

from __future__ import annotations

import signal

from tests import factory
from tests.conftest import wait_for


def _three_pages(tmp_path, name):
    pages = [
        factory.page_image(factory.SAMPLE_FR),
        factory.page_image(factory.SAMPLE_EN),
        factory.page_image(["Troisième page"]),
    ]
    return factory.write_pdf(tmp_path / name, pages)


def test_a_job_survives_its_ocr_service_being_killed_mid_job(make_stack, tmp_path):
    stack = make_stack()
    pdf = _three_pages(tmp_path, "ocr-killed.pdf")
    stack.drop(pdf)
    wait_for(
        lambda: (s := stack.job_for(pdf.name)) and s["stage"] == "OCR" and s["state"] == "RUNNING",
        timeout_s=120,
        what="OCR to start",
    )
    stack.kill("ocr")
    # The call fails (connection lost): a retry is scheduled with backoff, then the service is simply down.
    wait_for(lambda: stack.job_for(pdf.name)["history"][-1]["state"] == "QUEUED", what="the job to be requeued")
    stack.start("ocr")
    state = stack.wait_terminal(pdf.name)
    assert state["state"] == "DONE", state.get("error")
    assert "château" in (stack.paths.job_dir(state["jobKey"]) / "document.txt").read_text()
    assert state["attempt"] <= 2


def test_a_job_survives_the_orchestrator_being_killed_and_restarted(make_stack, tmp_path):
    stack = make_stack()
    pdf = _three_pages(tmp_path, "orch-killed.pdf")
    stack.drop(pdf)
    wait_for(lambda: (s := stack.job_for(pdf.name)) and s["state"] == "RUNNING", timeout_s=60, what="a stage to run")
    stack.kill("orchestrator", signal.SIGKILL)
    stack.start("orchestrator")
    state = stack.wait_terminal(pdf.name)
    assert state["state"] == "DONE", state.get("error")
    assert any(h.get("note") == "redispatched after orchestrator restart" for h in state["history"])


def test_jobs_wait_while_prep_is_down_and_finish_when_it_is_back(make_stack, tmp_path):
    # No start-up grace: prep is down, not still starting (tests/e2e/test_day_two.py covers the start-up).
    stack = make_stack(services=("ocr", "orchestrator"), MAX_ATTEMPTS="1", STAGE_STARTUP_GRACE_S="0")
    pdf = factory.write_pdf(tmp_path / "waiting.pdf", [factory.page_image(["Patience"])])
    stack.drop(pdf)
    wait_for(
        lambda: (s := stack.job_for(pdf.name)) and (s.get("error") or {}).get("type") == "ServiceUnavailable",
        timeout_s=30,
        what="the job to see prep down",
    )
    stack.start("prep")
    state = stack.wait_terminal(pdf.name)
    assert state["state"] == "DONE", "with MAX_ATTEMPTS=1, an outage must not have used the only attempt"
    outage = [line for line in stack.log_lines("orchestrator") if line.get("event") == "outage_start"]
    assert len(outage) == 1


def test_sigterm_stops_the_orchestrator_cleanly(make_stack):
    stack = make_stack(services=("orchestrator",))
    stack.kill("orchestrator", signal.SIGTERM)
    assert stack.procs["orchestrator"].returncode == 0
    assert any(line["message"] == "orchestrator stopped" for line in stack.log_lines("orchestrator"))
