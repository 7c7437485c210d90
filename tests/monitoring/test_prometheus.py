"""A real Prometheus (Debian's) scraping a real sidecar with the scrape config of docs/api.md and the shipped rules:
the target is up, PromQL over the new histograms returns the expected series, and a change on disk reaches it."""

import re
import subprocess
import urllib.parse
from pathlib import Path

import orjson
import pytest
import yaml

from tests.conftest import free_port, wait_for
from tests.sidecar.jobs import done

from .conftest import MONITORING, get, tool, write_job

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# The docs say 15 s; a test cannot wait for that many scrapes.
TEST_SCRAPE_INTERVAL = "1s"


def scrape_config_from_docs(target):
    blocks = re.findall(r"```yaml\n(.*?)```", API_DOC.read_text(), flags=re.S)
    config = yaml.safe_load(next(b for b in blocks if "scrape_configs" in b))
    job = config["scrape_configs"][0]
    job["static_configs"] = [{"targets": [target]}]
    job["scrape_interval"] = TEST_SCRAPE_INTERVAL
    config["rule_files"] = [str(MONITORING / "alerts.yml")]
    config["global"] = {"evaluation_interval": TEST_SCRAPE_INTERVAL}
    return config


@pytest.fixture(scope="module")
def prometheus(sidecar, tmp_path_factory):
    url, _jobs_dir = sidecar
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config_from_docs(url.removeprefix("http://"))))
    port = free_port()
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "prometheus.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/-/ready"), timeout_s=30, what="prometheus ready")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(url):
    try:
        get(url)
        return True
    except OSError:
        return False


def query(base, promql):
    answer = orjson.loads(get(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}"))
    assert answer["status"] == "success", answer
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in answer["data"]["result"]}


def _target_up(base):
    targets = orjson.loads(get(base + "/api/v1/targets"))["data"]["activeTargets"]
    return targets and all(t["health"] == "up" for t in targets) and targets


def test_prometheus_scrapes_the_sidecar_and_queries_the_histograms(prometheus, sidecar):
    targets = wait_for(lambda: _target_up(prometheus), timeout_s=30, what="the sidecar target up")
    assert targets[0]["labels"]["job"] == "ocr-sidecar"
    wait_for(lambda: query(prometheus, "ocr_stage_duration_seconds_count"), timeout_s=20, what="a first scrape")
    counts = query(prometheus, 'sum by (stage, outcome) (ocr_stage_duration_seconds_count{job="ocr-sidecar"})')
    assert counts[("outcome", "ok"), ("stage", "ocr")] == 2
    assert counts[("outcome", "ok"), ("stage", "prep")] == 2
    assert counts[("outcome", "error"), ("stage", "prep")] == 1
    assert counts[("outcome", "retry"), ("stage", "prep")] == 1
    p95 = query(
        prometheus, 'histogram_quantile(0.95, sum by (le, stage) (ocr_stage_duration_seconds_bucket{outcome="ok"}))'
    )
    assert set(p95) == {(("stage", "ocr"),), (("stage", "prep"),)}
    assert 30 < p95[(("stage", "ocr"),)] <= 60  # both OCR attempts (40 s, 50 s) are in the (30, 60] bucket
    failures = query(prometheus, "sum by (reason) (ocr_job_failures_total)")
    assert failures[(("reason", "BadDocument"),)] == 1 and failures[(("reason", "other"),)] == 0
    assert query(prometheus, "ocr_queue_depth")  # a gauge per stage
    rules = orjson.loads(get(prometheus + "/api/v1/rules"))["data"]["groups"]
    assert sum(len(g["rules"]) for g in rules) == 7 and all(r["health"] != "err" for g in rules for r in g["rules"])


def test_a_job_finishing_on_disk_reaches_prometheus(prometheus, sidecar):
    _url, jobs_dir = sidecar
    wait_for(lambda: _target_up(prometheus), timeout_s=30, what="the sidecar target up")
    before = query(prometheus, "sum(ocr_pages_processed_total)").get((), 0.0)
    write_job(jobs_dir, done("m6" * 16, pages=7))
    wait_for(
        lambda: query(prometheus, "sum(ocr_pages_processed_total)").get(()) == before + 7,
        timeout_s=20,
        what="the new pages in prometheus",
    )
    wait_for(
        lambda: query(prometheus, "sum(increase(ocr_job_duration_seconds_count[1m])) > 0"),
        timeout_s=20,
        what="increase() to see the job",
    )
