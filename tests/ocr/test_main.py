"""`python -m services.ocr` as a real process: serves on its port, stops its workers on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, is_healthy, wait_for


def test_service_answers_healthz_and_stops_its_workers_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path), "OCR_HOST": "127.0.0.1", "OCR_PORT": str(port)}
    env |= {"OCR_WORKERS": "1", "LOG_JSON": "true"}
    log_path = tmp_path / "ocr.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "services.ocr"], env=env, stdout=log_file, stderr=log_file)
    try:
        wait_for(lambda: is_healthy(port), timeout_s=60, what="the OCR service to answer /healthz")
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        [ready] = [line for line in lines if line["message"].startswith("ocr worker pool ready")]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in ready["pids"]:
        assert not Path(f"/proc/{pid}").exists()
    assert "ocr worker pool stopped" in log_path.read_text()
