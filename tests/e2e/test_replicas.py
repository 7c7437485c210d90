"""Many replicas on one data folder: 2 prep and 3 ocr processes on their own ports, the orchestrator spreading
its calls over the URL lists, and replicas killed (SIGKILL, with their worker processes) at random mid-job."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests import factory
from tests.conftest import free_port, is_healthy, wait_for

PREP_REPLICAS, OCR_REPLICAS = 2, 3
# `REPLICA_DOCUMENTS=20 REPLICA_KILLS=30` is the long variant (minutes); the default keeps CI under a minute.
DOCUMENTS = int(os.environ.get("REPLICA_DOCUMENTS", "4"))
KILLS = int(os.environ.get("REPLICA_KILLS", "5"))
SMALL_PAGE = (1240, 900)


class Replica:
    """One stage service process in its own session, so a kill takes its workers with it, as a container's would."""

    def __init__(self, stack, stage: str, index: int) -> None:
        self.stack, self.stage, self.port = stack, stage, free_port()
        self.name = f"{stage}-{index}"
        prefix = stage.upper()
        self.env = {**stack.env, f"{prefix}_PORT": str(self.port), f"{prefix}_WORKERS": "1"}
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        log = open(self.stack.logs / f"{self.name}.jsonl", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.stage}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.stack.procs[self.name] = self.proc
        if wait:
            self.wait_healthy()

    def wait_healthy(self) -> None:
        wait_for(lambda: is_healthy(self.port), timeout_s=60, what=f"{self.name} /healthz")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def answered(self) -> int:
        """OCR/prep calls this replica answered with 200, over all its lives."""
        return sum(1 for line in self.stack.log_lines(self.name) if line.get("status") == 200 and line.get("method"))


def documents(tmp_path):
    for i in range(DOCUMENTS):
        pages = [
            factory.page_image([f"Document {i}", *factory.SAMPLE_FR[:2]], size=SMALL_PAGE),
            factory.page_image([f"Page deux {i}", *factory.SAMPLE_EN[:2]], size=SMALL_PAGE),
        ]
        yield factory.write_pdf(tmp_path / f"replicated-{i}.pdf", pages)


def chaos(stack, replicas, rng, names) -> int:
    """Kill a random replica every 0.5-1.5 s while jobs run (one per stage stays up); restart it 0.5 s later."""
    kills = 0
    while kills < KILLS and not all_terminal(stack, names):
        time.sleep(rng.uniform(0.5, 1.5))
        victim = rng.choice(replicas)
        if sum(r.alive for r in replicas if r.stage == victim.stage) < 2 or not victim.alive:
            continue
        victim.kill()
        kills += 1
        time.sleep(0.5)
        victim.start(wait=False)  # the orchestrator finds it refusing meanwhile, and passes it over
    return kills


def all_terminal(stack, names) -> bool:
    states = [stack.job_for(name) for name in names]
    return all(s and s["state"] in ("DONE", "ERROR") for s in states)


def temp_files(stack):
    return [p for p in stack.paths.jobs_dir.rglob(".tmp-*")]


@pytest.mark.timeout(int(os.environ.get("REPLICA_TIMEOUT_S", "240")))
def test_replicas_killed_at_random_leave_every_document_done_once_and_nothing_behind(make_stack, tmp_path):
    seed = int(os.environ.get("REPLICA_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    stack = make_stack(services=(), MAX_ATTEMPTS="8", ORCHESTRATOR_LEASE_TTL_S="60")
    replicas = [Replica(stack, "prep", i) for i in range(PREP_REPLICAS)]
    replicas += [Replica(stack, "ocr", i) for i in range(OCR_REPLICAS)]
    for replica in replicas:
        replica.start(wait=False)
    for replica in replicas:
        replica.wait_healthy()
    stack.env["PREP_URL"] = ",".join(r.url for r in replicas if r.stage == "prep")
    stack.env["OCR_URL"] = ",".join(r.url for r in replicas if r.stage == "ocr")
    stack.env.update(PREP_CONCURRENCY="4", OCR_CONCURRENCY="6")
    stack.start("orchestrator")
    dropped = {pdf.name: hashlib.sha256(pdf.read_bytes()).hexdigest() for pdf in documents(tmp_path)}
    for name in dropped:
        stack.drop(tmp_path / name)

    kills = chaos(stack, replicas, rng, list(dropped))

    states = {name: stack.wait_terminal(name, timeout_s=150) for name in dropped}
    context = f"seed {seed}, {kills} kills"
    print(context)
    for name, state in states.items():
        assert state["state"] == "DONE", (context, name, state.get("error"))
        assert [h["state"] for h in state["history"]].count("DONE") == 1, (context, name)
        job_dir = stack.paths.job_dir(state["jobKey"])
        (source,) = job_dir.glob("source.*")
        assert hashlib.sha256(source.read_bytes()).hexdigest() == dropped[name] == state["input"]["sha256"]
        text = (job_dir / "document.txt").read_text()
        index = name.removeprefix("replicated-").removesuffix(".pdf")
        assert f"Document {index}" in text and f"deux {index}" in text, (context, name, text)
    assert len(stack.states()) == DOCUMENTS
    assert temp_files(stack) == [], context
    assert kills >= 1, context
    # The orchestrator spread its calls: more than one OCR replica answered.
    assert sum(1 for r in replicas if r.stage == "ocr" and r.answered()) >= 2, context
