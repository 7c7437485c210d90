"""Two orchestrators on one data folder, as real processes: one works, the other waits, and takes over."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests import factory
from tests.conftest import wait_for

SECOND = "orchestrator-2"


def start_second(stack):
    """A second orchestrator on the same volume, with the same settings; its log is logs/orchestrator-2.jsonl."""
    log_file = open(stack.logs / f"{SECOND}.jsonl", "ab")  # noqa: SIM115 - closed with the process
    stack.procs[SECOND] = subprocess.Popen(
        [sys.executable, "-m", "services.orchestrator"], env=stack.env, stdout=log_file, stderr=subprocess.STDOUT
    )
    wait_for(lambda: events(stack, SECOND) & {"lease_wait"}, timeout_s=30, what="the second orchestrator to wait")
    return stack.procs[SECOND]


def events(stack, name):
    return {line.get("event") for line in stack.log_lines(name)}


def messages_before_the_lease(stack, name):
    lines = stack.log_lines(name)
    taken = next(i for i, line in enumerate(lines) if line.get("event") == "lease_acquired")
    return [line["message"] for line in lines[:taken]]


def document(tmp_path, name):
    pages = [factory.page_image(factory.SAMPLE_FR), factory.page_image(factory.SAMPLE_EN)]
    return factory.write_pdf(tmp_path / name, pages)


def assert_done_once(stack, name):
    state = stack.wait_terminal(name)
    assert state["state"] == "DONE", state.get("error")
    assert [h["state"] for h in state["history"]].count("DONE") == 1
    assert "château" in (stack.paths.job_dir(state["jobKey"]) / "document.txt").read_text()
    assert len(stack.states()) == 1


def test_a_second_orchestrator_waits_and_takes_over_when_the_first_is_killed(make_stack, tmp_path):
    stack = make_stack(ORCHESTRATOR_LEASE_TTL_S="60", OCR_WORKERS="1")
    second = start_second(stack)
    pdf = document(tmp_path, "killed-holder.pdf")
    stack.drop(pdf)
    wait_for(lambda: (s := stack.job_for(pdf.name)) and s["state"] == "RUNNING", timeout_s=60, what="a stage to run")
    assert second.poll() is None
    stack.kill("orchestrator", signal.SIGKILL)
    assert_done_once(stack, pdf.name)
    # Waiting, it wrote nothing: its lines before the takeover are its start and why it waits.
    before = messages_before_the_lease(stack, SECOND)
    assert before and all(m.startswith(("orchestrator starting", "another orchestrator holds")) for m in before)
    taken = next(line for line in stack.log_lines(SECOND) if line.get("event") == "lease_acquired")
    assert "no longer running on this machine" in taken["message"]  # a 60 s TTL: only that explains the takeover


def test_a_frozen_orchestrator_is_replaced_after_its_ttl_and_stops_when_it_wakes(make_stack, tmp_path):
    stack = make_stack(ORCHESTRATOR_LEASE_TTL_S="2", OCR_WORKERS="1")
    second = start_second(stack)
    pdf = document(tmp_path, "frozen-holder.pdf")
    stack.drop(pdf)
    wait_for(lambda: (s := stack.job_for(pdf.name)) and s["state"] == "RUNNING", timeout_s=60, what="a stage to run")
    first = stack.procs["orchestrator"]
    first.send_signal(signal.SIGSTOP)
    wait_for(lambda: "lease_acquired" in events(stack, SECOND), timeout_s=30, what="the takeover")
    assert_done_once(stack, pdf.name)
    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=30) == 3
    assert "lease_lost" in events(stack, "orchestrator")
    assert second.poll() is None
    assert_done_once(stack, pdf.name)  # and still so after the first one woke up
