"""The real process: `python -m services.prep` starts, answers, logs its config once, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from services.common.stage_api import PREP_PATH
from tests.conftest import free_port, is_healthy, wait_for
from tests.factory import SAMPLE_EN, page_image, write_pdf

from .conftest import SMALL_PAGE


def test_the_service_prepares_a_document_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PREP_HOST": "127.0.0.1", "PREP_PORT": str(port)}
    env |= {"PREP_WORKERS": "1", "LOG_JSON": "true"}
    (tmp_path / "jobs" / "k1").mkdir(parents=True)
    write_pdf(tmp_path / "jobs" / "k1" / "source.pdf", [page_image(SAMPLE_EN, size=SMALL_PAGE)])
    proc = subprocess.Popen([sys.executable, "-m", "services.prep"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: is_healthy(port), what="prep /healthz")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{PREP_PATH}",
            data=json.dumps({"jobKey": "k1", "input": "source.pdf"}).encode(),
            headers={"Content-Type": "application/json", "X-Job-Key": "k1", "X-Job-Stage": "PREP"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert json.loads(resp.read())["pages"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [line["config"]["port"] for line in lines if "config" in line] == [port]
    worker_lines = [line for line in lines if line["logger"] == "services.prep.app.worker"]
    assert worker_lines and all(line["jobKey"] == "k1" and line["stage"] == "PREP" for line in worker_lines)
    assert any(line["message"] == "prep worker pool stopped" for line in lines)
