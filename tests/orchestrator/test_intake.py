import hashlib
import logging

import orjson

from services.common.job import job_key_for


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
