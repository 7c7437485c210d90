"""Day-two operations on a real stack: start-up is not an outage, a call given up on lands no outputs, counters never
go back across a restart and a deletion, and `ocr-stack retry` runs a failed job again with its name and history.

One scenario, in order, because each step needs the state the previous one left (and a stack costs seconds).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import urllib.request

import orjson

from tests import factory
from tests.conftest import wait_for

# Long enough that OCR of these pages outlives a 1 s OCR_TIMEOUT_S on any machine: full pages of small text (about
# 2,000 characters each, 1-2 s of Tesseract a page), not the factory's three big lines, which prep now scales down to
# a few hundred milliseconds of OCR for all eight.
SLOW_PAGES = 8
DENSE_LINES = [f"{n:02d} {line} {line.lower()}" for n in range(36) for line in factory.SAMPLE_FR[n % 3 : n % 3 + 1]]
DENSE_FONT_PX = 30


def _metrics(stack):
    return orjson.loads(stack.paths.metrics_path.read_bytes())


def _sidecar(stack, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['sidecar']}{path}", timeout=5) as response:
        return orjson.loads(response.read())


def _events(stack, name):
    return [line.get("event") for line in stack.log_lines(name)]


def _abandoned_call_ended(stack, key):
    lines = stack.log_lines("ocr")
    return any(r.get("logger") == "access" and r.get("jobKey") == key and r.get("status") == 504 for r in lines)


def _restart_orchestrator(stack, **env):
    before = _metrics(stack)["startedAt"]
    stack.kill("orchestrator", signal.SIGTERM)
    stack.env.update({k: str(v) for k, v in env.items()})
    stack.start("orchestrator")
    wait_for(lambda: _metrics(stack)["startedAt"] != before, timeout_s=20, what="the new orchestrator's metrics")


def test_retry_after_a_timeout_with_counters_and_fencing_on_a_real_stack(make_stack, tmp_path, state_schema):
    stack = make_stack(services=("orchestrator",), METRICS_HEARTBEAT_S=0.5)
    quick = factory.write_image(tmp_path / "quick.png", factory.page_image(factory.SAMPLE_EN))
    stack.drop(quick)
    # The orchestrator runs before prep and ocr listen, as in every `make run`: "starting", not an outage.
    wait_for(lambda: "stage_starting" in _events(stack, "orchestrator"), timeout_s=20, what="a start-up wait")
    for name in ("prep", "ocr", "sidecar"):
        stack.start(name)
    quick_state = stack.wait_terminal(quick.name)
    assert quick_state["state"] == "DONE", quick_state.get("error")
    assert "outage_start" not in _events(stack, "orchestrator") and _metrics(stack)["stage_unavailable"] == 0

    # A document whose OCR outlives a 1 s timeout, with one attempt: ERROR, and the abandoned call lands nothing.
    _restart_orchestrator(stack, OCR_TIMEOUT_S=1, MAX_ATTEMPTS=1)
    slow = factory.write_pdf(
        tmp_path / "rapport lent.pdf", [factory.page_image(DENSE_LINES, font_size=DENSE_FONT_PX)] * SLOW_PAGES
    )
    stack.drop(slow)
    failed = stack.wait_terminal(slow.name)
    assert (failed["state"], failed["stage"], failed["error"]["type"]) == ("ERROR", "OCR", "StageTimeout")
    key, job_dir = failed["jobKey"], stack.paths.job_dir(failed["jobKey"])
    wait_for(lambda: _abandoned_call_ended(stack, key), timeout_s=120, interval_s=0.5, what="the abandoned call")
    assert not (job_dir / "document.txt").exists() and not (job_dir / "document.pdf").exists()
    before = _metrics(stack)

    # Restart with a timeout that fits, after deleting the done job's folder: no counter goes back.
    shutil.rmtree(stack.paths.job_dir(quick_state["jobKey"]))
    _restart_orchestrator(stack, OCR_TIMEOUT_S=120)
    after = _metrics(stack)
    assert after["jobs_created"] == before["jobs_created"] == 2 and after["pages_done"] >= before["pages_done"] > 0
    env = {**stack.env, "SIDECAR_URL": f"http://127.0.0.1:{stack.ports['sidecar']}"}
    cli = subprocess.run(
        [sys.executable, "-m", "services.stack", "retry", key, "--wait", "20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0 and f"applied: {key}" in cli.stdout, cli.stdout + cli.stderr
    done = stack.wait_terminal(slow.name)
    state_schema.validate(done)
    assert done["state"] == "DONE" and done["input"]["name"] == "rapport lent.pdf"
    assert done["history"][: len(failed["history"])] == failed["history"]
    ocr_attempts = [(a["attempt"], a["outcome"]) for a in done["attempts"] if a["stage"] == "OCR"]
    assert ocr_attempts[0] == (1, "FAILED") and ocr_attempts[-1] == (1, "OK")
    assert done["result"]["durationsS"]["ocr"] >= 1.0  # both OCR attempts, not the last one alone
    assert [p.name for p in stack.paths.jobs_dir.iterdir() if not p.name.startswith(".")] == [key]  # no orphan
    wait_for(lambda: _sidecar(stack, f"/jobs/{key}")["state"] == "DONE", timeout_s=10, what="the sidecar's view")
    metrics = _sidecar(stack, "/metrics")
    assert (metrics["jobs_error"], metrics["jobs_done"], metrics["retries_requested"]) == (0, 1, 1)
    assert metrics["jobs_created"] == 2
