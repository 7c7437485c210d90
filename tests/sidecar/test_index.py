import orjson

from sidecar.index import JobIndex
from sidecar.state_file import parse_state

from .conftest import state_doc


def entry(key, state="QUEUED", signature=(1, 2, 3, 4)):
    return parse_state(key, signature, orjson.dumps(state_doc(key, state=state)), 0.0)


def recording_index():
    index, seen = JobIndex(), []
    index.add_listener(lambda key, old, new: seen.append((key, old and old.state, new and new.state)))
    return index, seen


def test_a_listener_hears_a_new_job_with_no_old_entry():
    index, seen = recording_index()
    index.put(entry("a"))
    assert seen == [("a", None, "QUEUED")]


def test_a_listener_hears_a_rewrite_with_the_old_and_the_new_entry():
    index, seen = recording_index()
    index.put(entry("a"))
    index.put(entry("a", state="RUNNING", signature=(5, 6, 7, 8)))
    assert seen[-1] == ("a", "QUEUED", "RUNNING")


def test_a_listener_hears_a_removal_with_no_new_entry_and_nothing_for_an_unknown_job():
    index, seen = recording_index()
    index.put(entry("a"))
    index.remove("a")
    index.remove("never-there")
    assert seen == [("a", None, "QUEUED"), ("a", "QUEUED", None)]


def test_a_skipped_job_is_heard_as_removed():
    index, seen = recording_index()
    index.put(entry("a"))
    index.skip("a", "symlink")
    assert seen[-1] == ("a", "QUEUED", None)
    assert index.get("a") is None
