import orjson

from services.common.atomic import atomic_write_bytes
from services.common.job import JobState, mark_running, new_job


def _info():
    return {"name": "a.pdf", "path": "source.pdf", "sha256": "0" * 64, "bytes": 3}


def test_a_running_job_found_at_start_is_queued_again(make_orchestrator, data_paths):
    job = new_job("k1", _info())
    mark_running(job)
    data_paths.job_dir("k1").mkdir(parents=True)
    atomic_write_bytes(data_paths.state_path("k1"), job.to_bytes())
    orch = make_orchestrator()
    assert orch.store.active["k1"].state is JobState.QUEUED
    on_disk = orjson.loads(data_paths.state_path("k1").read_bytes())
    assert on_disk["state"] == "QUEUED"
    assert on_disk["history"][-1]["note"] == "redispatched after orchestrator restart"


def test_a_job_folder_without_state_is_registered_at_start(make_orchestrator, data_paths, state_schema):
    folder = data_paths.job_dir("abc")
    folder.mkdir(parents=True)
    (folder / "source.png").write_bytes(b"png bytes")
    orch = make_orchestrator()
    assert "abc" in orch.store
    state_schema.validate(orjson.loads(data_paths.state_path("abc").read_bytes()))


def test_an_unreadable_state_is_skipped_and_kept(make_orchestrator, data_paths):
    folder = data_paths.job_dir("bad")
    folder.mkdir(parents=True)
    (folder / "state.json").write_bytes(b"{not json")
    orch = make_orchestrator()
    assert "bad" not in orch.store
    assert (folder / "state.json").read_bytes() == b"{not json"


def test_leftover_temp_files_of_state_are_removed_at_start(make_orchestrator, data_paths):
    job = new_job("k2", _info())
    data_paths.job_dir("k2").mkdir(parents=True)
    atomic_write_bytes(data_paths.state_path("k2"), job.to_bytes())
    (data_paths.job_dir("k2") / ".tmp-state.json.999").write_bytes(b"{")
    make_orchestrator()
    assert sorted(p.name for p in data_paths.job_dir("k2").iterdir()) == ["state.json"]


def test_finished_jobs_are_not_kept_in_the_active_set(make_orchestrator, data_paths):
    job = new_job("done1", _info())
    job.state = JobState.DONE
    job.result = {"pages": 4}
    data_paths.job_dir("done1").mkdir(parents=True)
    atomic_write_bytes(data_paths.state_path("done1"), job.to_bytes())
    orch = make_orchestrator()
    assert "done1" in orch.store and "done1" not in orch.store.active
    assert orch.metric_values()["jobs_done"] == 1
    assert orch.metric_values()["pages_done"] == 4, "pages_done is derived from the jobs, never lost by a kill"


def test_every_state_written_is_named_in_the_change_journal(make_orchestrator, data_paths):
    from services.common.journal import journal_path

    job = new_job("k2", _info())
    data_paths.job_dir("k2").mkdir(parents=True)
    orch = make_orchestrator()
    orch.store.save(job)
    mark_running(job)
    orch.store.save(job)
    lines = [orjson.loads(line) for line in journal_path(data_paths.jobs_dir).read_bytes().splitlines()]
    assert [(d["jobKey"], d["state"]) for d in lines][-2:] == [("k2", "QUEUED"), ("k2", "RUNNING")]
