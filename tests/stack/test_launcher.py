"""`make run` as the docs show it: real child processes, ports set once, pure JSON on stdout, a hung orchestrator seen.

One run serves several checks (each needs the stack up for tens of seconds): the samples are processed with only
PREP_PORT/OCR_PORT set, a SIGSTOPped orchestrator is flagged by the launcher and the sidecar within its staleness
bound, and docs/logs.md's jq recipes run as written on the captured stdout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.conftest import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
LOGS_DOC = REPO / "docs" / "logs.md"
DOC_JOB_KEY = "3f0c9a3c6f1d4b0e8e7a2c51d9b6f0aa"
HEARTBEAT_S = 0.5

# make and jq are installed by `make test` (services/stack/ensure_jq.sh); run alone, the test says what is missing.
pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("jq") is None, reason="needs make and jq")


def _metrics(data: Path) -> dict:
    try:
        return orjson.loads((data / "metrics.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}


def _get_json(port: int, path: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as e:
        return orjson.loads(e.read())
    except OSError:
        return {}


def _jq_recipes() -> list[str]:
    """The jq commands of docs/logs.md's "Reading them with jq" block, as written."""
    text = LOGS_DOC.read_text()
    block = text.split("## Reading them with jq", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("jq ")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`LOG_JSON=true make run > stack.jsonl` with only the ports set; yields once the samples are done."""
    root = tmp_path_factory.mktemp("make-run")
    data = root / "data"
    ports = {"PREP_PORT": free_port(), "OCR_PORT": free_port(), "ORCHESTRATOR_PORT": free_port()}
    # As at a terminal: inside `make test` the MAKE* variables would make this a sub-make, whose "Entering directory"
    # lines go to stdout.
    env = {k: v for k, v in os.environ.items() if k not in {"PREP_URL", "OCR_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(DATA_DIR=str(data), LOG_JSON="true", OCR_WORKERS="2", PREP_WORKERS="1", TICK_INTERVAL_S="0.2")
    env.update(MIN_FREE_DISK_MB="0", METRICS_HEARTBEAT_S=str(HEARTBEAT_S))
    stdout, stderr = root / "stack.jsonl", root / "stderr.txt"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        # VENV: the interpreter under test (make test-python runs this suite in another venv).
        argv = ["make", "run", f"VENV={sys.prefix}"]
        make = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            wait_for(lambda: _metrics(data).get("jobs_done") == 3, timeout_s=180, interval_s=0.5, what="3 samples")
            yield {"root": root, "data": data, "stdout": stdout, "stderr": stderr, "ports": ports, "make": make}
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C does
            make.wait(timeout=60)


def _orchestrator_pid(stderr: Path) -> int:
    found = re.findall(rb"started orchestrator \(pid (\d+)\)", stderr.read_bytes())
    assert found, stderr.read_text()
    return int(found[-1])


def test_a_sigstopped_orchestrator_is_seen_by_the_launcher_and_the_sidecar(run):
    pid, sidecar_port = _orchestrator_pid(run["stderr"]), run["ports"]["ORCHESTRATOR_PORT"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: b"has not ticked for" in run["stderr"].read_bytes(), timeout_s=15, what="the launcher")
        assert _get_json(sidecar_port, "/readyz")["orchestrator"] == "stale"
        assert _get_json(sidecar_port, "/metrics")["orchestrator"]["stale"] is True
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: b"the orchestrator ticks again" in run["stderr"].read_bytes(), timeout_s=15, what="resumed")
    wait_for(lambda: _get_json(sidecar_port, "/readyz").get("orchestrator") == "ok", timeout_s=10, what="ok again")


def test_stdout_is_pure_json_and_the_docs_jq_recipes_run_on_it(run):
    # Runs last in this module (tests run in file order): the stop below ends the shared run.
    os.killpg(run["make"].pid, signal.SIGINT)
    run["make"].wait(timeout=60)  # make itself dies of the SIGINT, as at a terminal; the launcher stops the rest
    wait_for(lambda: b"[ocr-stack] stopped" in run["stderr"].read_bytes(), timeout_s=30, what="a clean stop")
    raw = run["stdout"].read_bytes()
    records = [orjson.loads(line) for line in raw.splitlines()]  # every stdout line is one JSON object
    assert {"orchestrator", "prep", "ocr", "sidecar"} <= {r["service"] for r in records}
    assert b"[ocr-stack]" not in raw
    assert any(r["message"] == "orchestrator stopped" for r in records)
    texts = [p.read_text() for p in (run["data"] / "jobs").glob("*/document.txt")]
    assert len(texts) == 3 and any("château" in t for t in texts)
    key = next(r["jobKey"] for r in records if r.get("logger") == "access" and r.get("service") == "ocr")
    outputs = {}
    for recipe in _jq_recipes():
        result = subprocess.run(
            ["bash", "-c", recipe.replace(DOC_JOB_KEY, key)], cwd=run["root"], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{recipe}\n{result.stderr}"
        outputs[recipe] = result.stdout
    assert len(outputs) >= 6
    one_job = next(out for recipe, out in outputs.items() if "select(.jobKey==" in recipe)
    assert {orjson.loads(line)["service"] for line in one_job.splitlines()} >= {"orchestrator", "prep", "ocr"}
    slowest = next(out for recipe, out in outputs.items() if '.logger=="access"' in recipe)
    assert key in slowest  # the stage services' access lines carry the jobKey
    assert not any(r["logger"].startswith("watchfiles") for r in records)
