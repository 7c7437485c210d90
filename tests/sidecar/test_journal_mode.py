"""Polling mode on a shared volume: the change journal names what changed; whenever it cannot be trusted, rescans.

Every test sets SIDECAR_RESCAN_S=600, so what shows within seconds came from the journal or from the rescan the
sidecar ran because the journal could not be trusted.
"""

import logging

import pytest

from services.common.journal import JournalWriter, journal_path
from sidecar.keys import STATUS

from .conftest import eventually

POLLING = {"force_polling": True, "poll_delay_ms": 50, "rescan_s": 600}


@pytest.fixture
def journal(jobs_dir):
    writer = JournalWriter(jobs_dir, max_bytes=1 << 20)
    yield writer
    writer.close()


@pytest.fixture
def orchestrator_write(write_job, journal):
    """What the orchestrator does: state.json first, then its journal line."""

    def write(key, state="QUEUED", **fields):
        data = write_job(key, state=state, **fields)
        journal.append(key, state)
        return data

    return write


async def test_changes_named_by_the_journal_show_within_a_few_polls(start_sidecar, orchestrator_write, jobs_dir):
    orchestrator_write("first")
    sidecar = await start_sidecar(**POLLING)
    assert (await sidecar.json("/readyz"))[1]["watchMode"] == "journal"
    rescans = sidecar.app[STATUS].rescans_total
    orchestrator_write("first", state="RUNNING")
    orchestrator_write("second")
    await eventually(lambda: _state(sidecar, "first", "RUNNING"), timeout_s=2)
    await eventually(lambda: _state(sidecar, "second", "QUEUED"), timeout_s=2)
    assert sidecar.app[STATUS].rescans_total == rescans  # the journal did it, not a rescan
    _, ready = await sidecar.json("/readyz")
    assert ready["degraded"] is None and ready["journal"] is None and ready["stalenessS"] < 1.0


async def test_without_a_journal_the_sidecar_rescans_and_says_so(start_sidecar, write_job, caplog):
    caplog.set_level(logging.INFO)
    sidecar = await start_sidecar(**POLLING)
    _, ready = await sidecar.json("/readyz")
    assert ready["watchMode"] == "polling"
    assert "no change journal" in ready["journal"] and "rescanning every" in ready["degraded"]
    write_job("unjournaled", state="DONE", stage="OCR")
    await eventually(lambda: _state(sidecar, "unjournaled", "DONE"), timeout_s=3)
    said = [r.message for r in caplog.records if "change journal" in r.message]
    assert len(said) == 1 and "falling back to rescans" in said[0]


async def test_a_journal_that_appears_later_is_followed(start_sidecar, orchestrator_write, caplog):
    caplog.set_level(logging.INFO)
    sidecar = await start_sidecar(**POLLING)
    orchestrator_write("early")  # creates the journal: the sidecar rescans once for what came before it
    await eventually(lambda: _mode(sidecar, "journal"), timeout_s=3)
    await eventually(lambda: _state(sidecar, "early", "QUEUED"), timeout_s=3)
    orchestrator_write("late")
    await eventually(lambda: _state(sidecar, "late", "QUEUED"), timeout_s=2)
    assert any("following the change journal" in r.message for r in caplog.records)


async def test_a_truncated_journal_means_a_rescan(start_sidecar, orchestrator_write, write_job, jobs_dir, caplog):
    orchestrator_write("a")
    sidecar = await start_sidecar(**POLLING)
    write_job("missed", state="ERROR")  # a change whose journal line is lost with the truncation
    with open(journal_path(jobs_dir), "r+b") as f:
        f.truncate(0)
    await eventually(lambda: _state(sidecar, "missed", "ERROR"), timeout_s=3)
    assert any("truncated" in r.message and "falling back to rescans" in r.message for r in caplog.records)
    orchestrator_write("after")
    await eventually(lambda: _state(sidecar, "after", "QUEUED"), timeout_s=2)
    assert (await sidecar.json("/readyz"))[1]["watchMode"] == "journal"


async def test_a_corrupt_journal_line_means_a_rescan(start_sidecar, orchestrator_write, write_job, jobs_dir, caplog):
    orchestrator_write("a")
    sidecar = await start_sidecar(**POLLING)
    write_job("missed", state="ERROR")
    with open(journal_path(jobs_dir), "ab") as f:
        f.write(b'{"v": 1, "jobKey": "../../etc/passwd"}\n')
    await eventually(lambda: _state(sidecar, "missed", "ERROR"), timeout_s=3)
    assert any("corrupt journal line" in r.message for r in caplog.records)


async def test_a_journal_rotated_past_what_was_read_means_a_rescan(start_sidecar, write_job, jobs_dir, caplog):
    small = JournalWriter(jobs_dir, max_bytes=500)
    small.append("a", "QUEUED")
    write_job("a")
    sidecar = await start_sidecar(**POLLING)
    for n in range(20):  # the event loop is held: several rotations before the sidecar reads again
        write_job(f"job-{n:02d}")
        small.append(f"job-{n:02d}", "QUEUED")
    await eventually(lambda: _state(sidecar, "job-00", "QUEUED"), timeout_s=3)
    assert any("rotated past" in r.message for r in caplog.records)
    small.close()


async def test_a_deleted_journal_falls_back_to_rescans(start_sidecar, orchestrator_write, write_job, jobs_dir):
    orchestrator_write("a")
    sidecar = await start_sidecar(**POLLING)
    journal_path(jobs_dir).unlink()
    await eventually(lambda: _mode(sidecar, "polling"), timeout_s=2)
    write_job("b", state="DONE", stage="OCR")
    await eventually(lambda: _state(sidecar, "b", "DONE"), timeout_s=3)


async def _state(sidecar, key, state):
    status, body = await sidecar.json(f"/jobs/{key}")
    return status == 200 and body["state"] == state


async def _mode(sidecar, mode):
    return (await sidecar.json("/readyz"))[1]["watchMode"] == mode
