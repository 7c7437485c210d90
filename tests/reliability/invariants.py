"""What "loses nothing" means, checked against the disk: the promises every scenario ends with."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from services.common.atomic import TEMP_PREFIX
from tests.conftest import wait_for

TERMINAL = ("DONE", "ERROR")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Dropped:
    """Everything put into the inbox: name -> sha256 of the bytes."""

    files: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, source: Path) -> None:
        self.files[name] = sha256(source)

    @property
    def distinct(self) -> set[str]:
        return set(self.files.values())


def read_states(jobs_dir: Path, state_schema) -> dict[str, dict]:
    """Every state.json, each parsed and validated against the schema (a truncated one fails here)."""
    states = {}
    for path in sorted(jobs_dir.glob("*/state.json")):
        doc = orjson.loads(path.read_bytes())
        errors = [e.message for e in state_schema.iter_errors(doc)]
        assert not errors, f"{path} breaks the schema: {errors[:3]}"
        states[path.parent.name] = doc
    return states


def wait_all_terminal(jobs_dir: Path, expected_jobs: int, timeout_s: float) -> dict[str, dict]:
    def done():
        found = {}
        for path in jobs_dir.glob("*/state.json"):
            try:
                found[path.parent.name] = orjson.loads(path.read_bytes())
            except (OSError, ValueError):
                return None
        finished = len(found) == expected_jobs and all(s["state"] in TERMINAL for s in found.values())
        return found if finished else None

    return wait_for(done, timeout_s=timeout_s, interval_s=0.25, what=f"{expected_jobs} jobs to be DONE or ERROR")


def temp_leftovers(data_dir: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(data_dir):
        found += [Path(root) / name for name in files + dirs if name.startswith(TEMP_PREFIX)]
    return found


def check_lossless(data_dir: Path, dropped: Dropped, state_schema) -> dict[str, dict]:
    """Every input ends DONE or ERROR in exactly one job, its original intact; nothing else is left behind."""
    jobs_dir = data_dir / "jobs"
    states = read_states(jobs_dir, state_schema)
    assert {s["input"]["sha256"] for s in states.values()} == dropped.distinct, "one job per distinct input"
    assert len(states) == len(dropped.distinct)
    for key, state in states.items():
        assert state["state"] in TERMINAL, f"{key} ended {state['state']}"
        assert key == state["input"]["sha256"][:32] == state["jobKey"]
        assert sha256(jobs_dir / key / state["input"]["path"]) == state["input"]["sha256"], f"{key}: original altered"
    kept = Counter(sha for sha in dropped.files.values())
    for key, state in states.items():
        duplicates = list((jobs_dir / key / "duplicates").glob("*"))
        assert all(sha256(d) == state["input"]["sha256"] for d in duplicates)
        assert 1 + len(duplicates) == kept[state["input"]["sha256"]], f"{key}: every copy dropped is kept"
    inbox = [p.name for p in (data_dir / "inbox").iterdir() if not p.is_symlink()]
    assert inbox == [], f"left in the inbox: {inbox}"
    assert temp_leftovers(data_dir) == []
    return states


def pages_of_done_jobs(states: dict[str, dict]) -> int:
    return sum(s["result"]["pages"] for s in states.values() if s["state"] == "DONE")


def check_metrics_agree(data_dir: Path, states: dict[str, dict], metrics_schema, timeout_s: float = 10) -> dict:
    """metrics.json validates and its gauges and job-derived counters equal the job states (waiting one heartbeat
    for the last write)."""
    by_state = Counter(s["state"] for s in states.values())
    expected = {
        "jobs_done": by_state["DONE"],
        "jobs_error": by_state["ERROR"],
        "jobs_running": 0,
        "jobs_queued": 0,
    }

    def agrees():
        doc = orjson.loads((data_dir / "metrics.json").read_bytes())
        return doc if {k: doc[k] for k in expected} == expected else None

    doc = wait_for(agrees, timeout_s=timeout_s, interval_s=0.2, what=f"metrics.json to say {expected}")
    assert list(metrics_schema.iter_errors(doc)) == []
    assert (doc["pages_done"], doc["jobs_created"]) == (pages_of_done_jobs(states), len(states))
    return doc
