import hashlib
import logging
import os
import threading

import orjson
import pytest

from services.common.job import job_key_for
from services.orchestrator.app.arrivals import Arrivals
from services.orchestrator.app.wakeup import Wakeup


def _state(paths, key):
    return orjson.loads(paths.state_path(key).read_bytes())


def test_a_dropped_file_becomes_a_queued_prep_job_with_a_valid_state(make_orchestrator, data_paths, state_schema):
    orch = make_orchestrator(max_jobs_in_flight=1, prep_concurrency=1)
    content = b"%PDF-1.4 not really a pdf"
    (data_paths.inbox_dir / "Scan 2024.PDF").write_bytes(content)
    orch.inbox.ready_files()  # first sighting
    orch._take_inbox()
    key = job_key_for(hashlib.sha256(content).hexdigest())
    state = _state(data_paths, key)
    state_schema.validate(state)
    assert (state["state"], state["stage"], state["attempt"]) == ("QUEUED", "PREP", 1)
    assert state["input"]["name"] == "Scan 2024.PDF"
    assert (data_paths.job_dir(key) / "source.pdf").read_bytes() == content
    assert list(data_paths.inbox_dir.iterdir()) == []


def test_dropping_the_same_file_twice_makes_one_job_and_keeps_both_files(make_orchestrator, data_paths):
    orch = make_orchestrator()
    for name in ("a.png", "copy of a.png"):
        (data_paths.inbox_dir / name).write_bytes(b"same bytes")
        orch.inbox.ready_files()
        orch._take_inbox()
    assert len(orch.store) == 1
    key = job_key_for(hashlib.sha256(b"same bytes").hexdigest())
    [kept] = (data_paths.job_dir(key) / "duplicates").iterdir()
    assert kept.read_bytes() == b"same bytes"
    assert orch.counters.duplicates == 1


def test_dotfiles_and_temp_names_are_left_alone(make_orchestrator, data_paths):
    orch = make_orchestrator()
    for name in (".hidden.pdf", "upload.pdf.part", "x.tmp", "~$doc.pdf", "a.crdownload"):
        (data_paths.inbox_dir / name).write_bytes(b"x")
    orch.inbox.ready_files()
    orch._take_inbox()
    assert len(orch.store) == 0
    assert len(list(data_paths.inbox_dir.iterdir())) == 5


def test_a_symlink_and_a_folder_are_ignored_with_one_log_line_each(make_orchestrator, data_paths, tmp_path, caplog):
    orch = make_orchestrator()
    target = tmp_path / "secret.pdf"
    target.write_bytes(b"outside")
    (data_paths.inbox_dir / "link.pdf").symlink_to(target)
    (data_paths.inbox_dir / "folder").mkdir()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            orch.inbox.ready_files()
            orch._take_inbox()
    assert len(orch.store) == 0
    assert target.read_bytes() == b"outside"
    messages = [r.getMessage() for r in caplog.records if "ignoring inbox entry" in r.getMessage()]
    assert len(messages) == 2


def test_a_file_still_changing_is_not_taken(make_orchestrator, data_paths):
    orch = make_orchestrator(inbox_settle_s=3600)
    growing = data_paths.inbox_dir / "big.pdf"
    growing.write_bytes(b"part one")
    orch.inbox.ready_files()
    growing.write_bytes(b"part one and two")
    orch._take_inbox()
    assert len(orch.store) == 0 and growing.exists()


@pytest.fixture
def watched_inbox(make_orchestrator, data_paths):
    """An orchestrator that waits an hour for files to settle, its inbox watched for renames as the loop does."""
    orch = make_orchestrator(inbox_settle_s=3600)
    arrivals = Arrivals(data_paths.inbox_dir)
    orch.inbox.arrivals = arrivals
    yield orch
    arrivals.close()


def test_a_file_renamed_into_the_inbox_is_taken_at_once(watched_inbox, data_paths, tmp_path):
    staged = tmp_path / "scan.pdf.part"
    staged.write_bytes(b"%PDF-1.4 whole before it shows")
    staged.rename(data_paths.inbox_dir / "scan.pdf")
    watched_inbox._take_inbox()
    assert len(watched_inbox.store) == 1
    assert list(data_paths.inbox_dir.iterdir()) == []


def test_a_file_written_into_the_inbox_still_waits_to_settle(watched_inbox, data_paths):
    # Copied straight in (no rename): it may still be growing, whatever inotify could say about it.
    (data_paths.inbox_dir / "copy.pdf").write_bytes(b"%PDF-1.4 first part")
    for _ in range(3):
        watched_inbox._take_inbox()
    assert len(watched_inbox.store) == 0


def test_a_renamed_file_written_to_afterwards_waits_to_settle(watched_inbox, data_paths, tmp_path):
    staged = tmp_path / "scan.pdf.part"
    staged.write_bytes(b"%PDF-1.4 first part")
    staged.rename(data_paths.inbox_dir / "scan.pdf")
    watched_inbox.inbox.arrivals.refresh()  # the rename is seen ...
    with open(data_paths.inbox_dir / "scan.pdf", "ab") as fh:  # ... then the file grows: no longer known whole
        fh.write(b" and a second part")
        fh.flush()
        os.utime(fh.fileno(), ns=(0, 1))  # a different mtime, even on a coarse-clock filesystem
        watched_inbox._take_inbox()
    assert len(watched_inbox.store) == 0


def _sleeps_through(wakeup, arrivals, wake):
    """Whether a loop sleeping on `wakeup` (and the inbox's renames) for ten minutes stays asleep after `wake()`."""
    woken = threading.Event()
    thread = threading.Thread(target=lambda: (wakeup.wait(600, [arrivals.fileno()]), woken.set()), daemon=True)
    thread.start()
    wake()
    return not woken.wait(30)


def test_the_loop_wakes_when_a_call_ends_or_a_file_is_renamed_in(data_paths, tmp_path):
    arrivals, wakeup = Arrivals(data_paths.inbox_dir), Wakeup()
    staged = tmp_path / "a.pdf"
    staged.write_bytes(b"x")
    try:
        assert not _sleeps_through(wakeup, arrivals, wakeup.set)  # what the dispatcher calls when a call ends
        assert not _sleeps_through(wakeup, arrivals, lambda: staged.rename(data_paths.inbox_dir / "a.pdf"))
    finally:
        arrivals.close()
        wakeup.close()
