"""The orchestrator's lease on the jobs volume, between real processes (a holder in a subprocess)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.orchestrator.app import Config
from services.orchestrator.app.lease import Lease, LeaseLost
from services.orchestrator.app.lease_files import generations, lease_dir_for, lease_path, read_holder
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
# A stand-in orchestrator: takes the lease, keeps it every 50 ms, releases it on SIGTERM, exits 3 when it is lost.
HOLDER = """
import signal, sys, threading, time
from pathlib import Path
from services.common.errors import ConfigError
from services.orchestrator.app import Config
from services.orchestrator.app.lease import Lease, LeaseLost
lease = Lease(Path(sys.argv[1]), float(sys.argv[2]))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
if not lease.acquire(stop):
    sys.exit(0)
print("held", lease.owner, flush=True)
try:
    while not stop.wait(0.05):
        lease.keep()
except LeaseLost as e:
    print("lost", e, flush=True)
    sys.exit(3)
lease.release()
"""


@pytest.fixture
def jobs_dir(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    return folder


class Holder:
    """A stand-in orchestrator in its own process; what it printed is in `output()`."""

    def __init__(self, jobs_dir, ttl_s, out: Path):
        self.out = out
        with open(out, "wb") as stdout:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", HOLDER, str(jobs_dir), str(ttl_s)],
                cwd=ROOT,
                stdout=stdout,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        self.pid = self.proc.pid

    def output(self) -> str:
        return self.out.read_text()

    def holds(self) -> bool:
        return self.output().startswith("held")

    def signal(self, signum):
        self.proc.send_signal(signum)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def holder(jobs_dir, tmp_path):
    """holder(ttl_s) -> a Holder that took the lease (or, with wait_held=False, may still be waiting for it)."""
    holders = []

    def start(ttl_s=60.0, wait_held=True):
        holders.append(Holder(jobs_dir, ttl_s, tmp_path / f"holder-{len(holders)}.out"))
        if wait_held:
            wait_for(holders[-1].holds, timeout_s=20, what="the holder to take the lease")
        return holders[-1]

    yield start
    for h in holders:
        if h.proc.poll() is None:
            h.signal(signal.SIGCONT)
            h.proc.kill()
        h.wait(timeout=10)


class Waiter:
    """An in-process Lease waiting in a thread, as the second orchestrator's process_loop does."""

    def __init__(self, jobs_dir, ttl_s=60.0):
        self.lease = Lease(jobs_dir, ttl_s)
        self.stop = threading.Event()
        self.result = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.result = self.lease.acquire(self.stop)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def waiter(jobs_dir):
    waiters = []

    def create(ttl_s=60.0):
        waiters.append(Waiter(jobs_dir, ttl_s))
        return waiters[-1]

    yield create
    for w in waiters:
        w.close()


def test_the_first_orchestrator_takes_the_lease_as_generation_one(jobs_dir):
    lease = Lease(jobs_dir, 30.0)
    assert lease.acquire(threading.Event())
    assert generations(lease_dir_for(jobs_dir)) == [1]
    assert read_holder(lease_dir_for(jobs_dir), 1).owner == lease.owner


def test_a_second_orchestrator_waits_and_logs_who_holds_the_lease(jobs_dir, holder, waiter, caplog):
    caplog.set_level(logging.WARNING, logger="services.orchestrator.app.lease")
    first = holder()
    second = waiter()
    wait_for(lambda: "another orchestrator holds the lease" in caplog.text, timeout_s=10, what="the waiting line")
    assert f"/{first.pid}/" in caplog.text  # the holder is named: host/pid/tag
    assert second.thread.is_alive() and not second.lease.held
    second.close()
    assert second.result is False


def test_a_clean_stop_hands_the_lease_over_at_once(jobs_dir, holder, waiter):
    first = holder(ttl_s=600.0)
    second = waiter(ttl_s=600.0)
    first.signal(signal.SIGTERM)
    assert first.wait(timeout=10) == 0
    # A TTL of 10 minutes: only the release can explain a takeover within the wait.
    wait_for(lambda: second.result, timeout_s=10, what="the waiter to take the released lease")


def test_a_killed_holder_on_this_machine_is_provably_dead_and_replaced_at_once(jobs_dir, holder, waiter, caplog):
    caplog.set_level(logging.INFO, logger="services.orchestrator.app.lease")
    first = holder(ttl_s=600.0)
    second = waiter(ttl_s=600.0)
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    wait_for(lambda: second.result, timeout_s=10, what="the waiter to take the dead holder's lease")
    assert "is no longer running on this machine" in caplog.text


def test_a_frozen_holder_is_replaced_after_its_ttl_and_stops_when_it_wakes(jobs_dir, holder, waiter, caplog):
    caplog.set_level(logging.INFO, logger="services.orchestrator.app.lease")
    first = holder(ttl_s=1.0)
    second = waiter(ttl_s=1.0)
    first.signal(signal.SIGSTOP)
    wait_for(lambda: second.result, timeout_s=20, what="the waiter to take the silent lease")
    assert "stopped renewing it" in caplog.text
    first.signal(signal.SIGCONT)
    assert first.wait(timeout=10) == 3
    assert "lost" in first.output()
    newest = max(generations(lease_dir_for(jobs_dir)))
    assert read_holder(lease_dir_for(jobs_dir), newest).owner == second.lease.owner


def test_two_waiters_never_both_take_an_expired_lease(jobs_dir, holder):
    first = holder(ttl_s=1.0)
    waiters = [holder(ttl_s=1.0, wait_held=False) for _ in range(2)]
    time.sleep(0.5)  # both are waiting, watching the same generation
    first.signal(signal.SIGSTOP)
    wait_for(lambda: any(w.holds() for w in waiters), timeout_s=20, what="one waiter to take over")
    time.sleep(2.0)  # two more TTLs: the other must still be waiting on the winner's renewed lease
    assert sorted(w.holds() for w in waiters) == [False, True]


def test_keep_raises_when_another_orchestrator_created_the_next_generation(jobs_dir):
    lease = Lease(jobs_dir, 1.0)
    assert lease.acquire(threading.Event())
    lease_path(lease.folder, lease.generation + 1).write_bytes(b'{"owner": "elsewhere"}')
    time.sleep(0.4)  # past a third of the TTL: the next keep() renews, and finds its generation taken
    with pytest.raises(LeaseLost, match="another orchestrator took the lease"):
        lease.keep()
    assert not lease.held


def test_an_unreadable_lease_is_waited_out_then_taken(jobs_dir, waiter, caplog):
    caplog.set_level(logging.INFO, logger="services.orchestrator.app.lease")
    folder = lease_dir_for(jobs_dir)
    folder.mkdir()
    lease_path(folder, 7).write_bytes(b"\x00not json")
    second = waiter(ttl_s=1.0)
    wait_for(lambda: second.result, timeout_s=20, what="the waiter to take the unreadable lease")
    assert "generation 7 (unreadable)" in caplog.text
    assert second.lease.generation == 8


def test_the_liveness_probe_fails_only_for_a_holder_of_this_host_that_stopped_renewing(jobs_dir, holder):
    def probe():
        env = {**os.environ, "JOBS_DIR": str(jobs_dir), "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "services.orchestrator.probe"], cwd=ROOT, env=env).returncode

    assert probe() == 0  # no lease yet: starting
    first = holder(ttl_s=1.0)
    assert probe() == 0
    first.signal(signal.SIGSTOP)
    wait_for(lambda: probe() == 1, timeout_s=20, what="the probe to see the silent lease")


def test_a_lease_ttl_of_only_a_few_ticks_is_refused_at_start():
    with pytest.raises(ConfigError, match="ORCHESTRATOR_LEASE_TTL_S=2 must be at least 8 ticks"):
        Config.from_env({"ORCHESTRATOR_LEASE_TTL_S": "2", "TICK_INTERVAL_S": "0.5"})
    assert Config.from_env({"ORCHESTRATOR_LEASE_TTL_S": "2", "TICK_INTERVAL_S": "0.1"}).lease_ttl_s == 2.0
