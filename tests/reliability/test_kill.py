"""1. Kill at any moment: SIGKILL the orchestrator, prep, ocr and the sidecar at random moments while documents flow.

A driver drops documents in waves and, between waves, kills one service (a shuffled schedule that kills each
several times) and restarts it. The seed is printed and recorded, so a failing order can be replayed with
RELIABILITY_SEED=<seed>.
"""

from __future__ import annotations

import contextlib
import os
import random
import time

import orjson

from .invariants import Dropped, check_lossless, check_metrics_agree, wait_all_terminal
from .profile import PROFILE
from .sidecar_view import wait_equal_to_disk

STAGE_SERVICES = ("orchestrator", "prep", "ocr")
# Enough attempts that the kills alone (each stage service killed a few times) never exhaust a job.
MAX_ATTEMPTS = 4 + 2 * PROFILE.kills_per_service
# Bounds of the whole run: generous for 2 busy cores, still ending by itself.
TERMINAL_TIMEOUT_S = 120 + 3 * PROFILE.documents


def seed() -> int:
    value = int(os.environ.get("RELIABILITY_SEED", random.randrange(1 << 30)))
    print(f"RELIABILITY_SEED={value}")
    return value


def running_jobs(stack) -> int:
    count = 0
    for path in stack.paths.jobs_dir.glob("*/state.json"):
        with contextlib.suppress(OSError, ValueError):  # a job being written: counted by the next look
            count += orjson.loads(path.read_bytes())["state"] == "RUNNING"
    return count


def wait_until_busy(stack, within_s: float = 1.0) -> None:
    """Give a kill a fair chance to land mid-job; after `within_s` it lands wherever it is."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not running_jobs(stack):
        time.sleep(0.02)


def drop_all(stack, sources, dropped: Dropped) -> None:
    for source in sources:
        stack.drop(source)
        dropped.add(source.name, source)


def test_every_document_ends_done_with_its_original_intact_whatever_is_killed(
    tmp_path, stack_at, documents, record, state_schema, metrics_schema
):
    row = record(
        "1. Kill at any moment",
        "SIGKILL of orchestrator, prep and ocr at random moments, each restarted",
        "all DONE; one job per distinct input; sha256 of originals and duplicates; state.json valid; "
        "metrics.json gauges, pages_done and jobs_created = job states; no temp files",
    )
    rng = random.Random(row_seed := seed())
    row.counts["seed"] = row_seed
    stack = stack_at(tmp_path, MAX_ATTEMPTS=MAX_ATTEMPTS, RETRY_BASE_S=0.2, RETRY_MAX_S=1)
    sources = documents(PROFILE.documents)
    schedule = [name for name in STAGE_SERVICES for _ in range(PROFILE.kills_per_service)]
    rng.shuffle(schedule)
    dropped = Dropped()
    wave = -(-len(sources) // (len(schedule) + 1))
    for round_number, victim in enumerate(schedule):
        drop_all(stack, sources[round_number * wave : (round_number + 1) * wave], dropped)
        if round_number == len(schedule) // 2:  # the same bytes again, under other names, mid-run
            for copy in sources[:2]:
                stack.drop(copy, name=f"copy of {copy.name}")
                dropped.add(f"copy of {copy.name}", copy)
        time.sleep(rng.uniform(0.05, 1.2))
        wait_until_busy(stack)
        row.count("kills_mid_job", running_jobs(stack) > 0)
        stack.kill(victim)
        row.count(f"kills_{victim}")
        time.sleep(rng.uniform(0.0, 0.6))
        stack.start(victim)
    drop_all(stack, sources[len(schedule) * wave :], dropped)

    wait_all_terminal(stack.paths.jobs_dir, len(dropped.distinct), TERMINAL_TIMEOUT_S)
    states = check_lossless(stack.paths.data_dir, dropped, state_schema)
    metrics = check_metrics_agree(stack.paths.data_dir, states, metrics_schema)
    row.counts |= {"documents": len(dropped.files), "jobs": len(states), "retries": metrics["retries"]}
    assert {key: s["state"] for key, s in states.items() if s["state"] != "DONE"} == {}


def test_a_sidecar_killed_during_a_burst_serves_the_disk_after_restart(
    tmp_path, stack_at, documents, record, state_schema
):
    row = record(
        "1. Kill at any moment",
        "SIGKILL of the sidecar during a burst of documents, restarted",
        "after restart /jobs (all pages), /jobs/{key} bytes and /metrics gauges equal the disk",
    )
    rng = random.Random(seed())
    stack = stack_at(tmp_path, services=("prep", "ocr", "orchestrator", "sidecar"))
    sources = documents(PROFILE.sidecar_burst)
    dropped = Dropped()
    waves = PROFILE.kills_per_service + 1
    wave = -(-len(sources) // waves)
    for number in range(waves):
        drop_all(stack, sources[number * wave : (number + 1) * wave], dropped)
        if number == waves - 1:
            break
        time.sleep(rng.uniform(0.2, 1.5))
        stack.kill("sidecar")
        row.count("kills_sidecar")
        time.sleep(rng.uniform(0.0, 0.5))  # changes made while it is down must show after the restart
        stack.start("sidecar")
    wait_all_terminal(stack.paths.jobs_dir, len(dropped.distinct), TERMINAL_TIMEOUT_S)
    check_lossless(stack.paths.data_dir, dropped, state_schema)
    wait_equal_to_disk(stack.ports["sidecar"], stack.paths.jobs_dir, timeout_s=10)
    row.counts["documents"] = len(dropped.files)
