"""The sidecar as a client sees it, compared with the disk it indexes."""

from __future__ import annotations

import http.client
from pathlib import Path

import orjson

from tests.conftest import wait_for

PAGE_LIMIT = 1000


def get(port: int, path: str, timeout_s: float = 5) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def all_jobs(port: int) -> dict[str, str]:
    """jobKey -> state, walking every page of /jobs with its cursor."""
    found: dict[str, str] = {}
    cursor = ""
    for _ in range(10_000):  # bounded: a page per thousand jobs
        status, body = get(port, f"/jobs?limit={PAGE_LIMIT}" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        page = orjson.loads(body)
        found.update({job["jobKey"]: job["state"] for job in page["jobs"]})
        cursor = page["nextCursor"]
        if not cursor:
            return found
    raise AssertionError("the /jobs cursor never ended")


def disk_view(jobs_dir: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in jobs_dir.glob("*/state.json")}


def differences(port: int, jobs_dir: Path) -> list[str]:
    """What the sidecar says that the disk does not: listing, each job's bytes, and the metrics gauges."""
    disk = disk_view(jobs_dir)
    listed = all_jobs(port)
    problems = []
    expected = {key: orjson.loads(raw)["state"] for key, raw in disk.items()}
    if listed != expected:
        problems.append(f"/jobs differs from the disk on {len(set(listed.items()) ^ set(expected.items()))} entries")
    for key, raw in disk.items():
        status, body = get(port, f"/jobs/{key}")
        if (status, body) != (200, raw):
            problems.append(f"/jobs/{key} answered {status} with other bytes than the disk")
            break
    status, body = get(port, "/metrics")
    metrics = orjson.loads(body)
    for state in ("DONE", "ERROR", "QUEUED", "RUNNING"):
        want = sum(1 for s in expected.values() if s == state)
        if metrics[f"jobs_{state.lower()}"] != want:
            problems.append(f"/metrics jobs_{state.lower()}={metrics[f'jobs_{state.lower()}']}, disk {want}")
    return problems


def wait_equal_to_disk(port: int, jobs_dir: Path, timeout_s: float) -> None:
    last: list[list[str]] = [[]]

    def equal():
        last[0] = differences(port, jobs_dir)
        return not last[0]

    try:
        wait_for(equal, timeout_s=timeout_s, interval_s=0.5, what="the sidecar to equal the disk")
    except AssertionError as e:
        raise AssertionError(f"{e}: {last[0]}") from None
