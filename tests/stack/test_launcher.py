"""`ocr-stack up`, the command behind `make run`: real child processes, real samples, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import free_port, wait_for


def _metrics(data: Path) -> dict:
    try:
        return orjson.loads((data / "metrics.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}


def test_up_processes_the_samples_keeps_stdout_pure_json_and_stops_cleanly_on_sigterm(tmp_path):
    data = tmp_path / "data"
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "LOG_JSON": "true",
        "PREP_PORT": str(free_port()),
        "OCR_PORT": str(free_port()),
        "ORCHESTRATOR_PORT": str(free_port()),
        "OCR_WORKERS": "2",
        "PREP_WORKERS": "1",
        "TICK_INTERVAL_S": "0.2",
        "MIN_FREE_DISK_MB": "0",
    }
    env["PREP_URL"] = f"http://127.0.0.1:{env['PREP_PORT']}"
    env["OCR_URL"] = f"http://127.0.0.1:{env['OCR_PORT']}"
    stdout, stderr = tmp_path / "stdout.jsonl", tmp_path / "stderr.txt"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        launcher = subprocess.Popen([sys.executable, "-m", "services.stack", "up"], env=env, stdout=out, stderr=err)
        try:
            wait_for(
                lambda: _metrics(data).get("jobs_done") == 3,
                timeout_s=180,
                interval_s=0.5,
                what="the three sample documents to be done",
            )
            wait_for(lambda: b"documents 3/3 done" in stderr.read_bytes(), timeout_s=10, what="the progress line")
        finally:
            launcher.send_signal(signal.SIGTERM)
            code = launcher.wait(timeout=60)
    assert code == 0
    lines = stdout.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]  # every stdout line is one JSON object
    assert {"orchestrator", "prep", "ocr"} <= {r["service"] for r in records}
    assert b"[ocr-stack]" not in stdout.read_bytes()
    texts = [p.read_text() for p in (data / "jobs").glob("*/document.txt")]
    assert len(texts) == 3 and any("château" in t for t in texts)
    assert any(r["message"] == "orchestrator stopped" for r in records)
