import orjson

from services.common.journal import JournalReader, JournalWriter, journal_path, rotated_path


def key(n):
    return f"{n:032x}"


def follow(jobs_dir, max_bytes=1 << 20):
    writer, reader = JournalWriter(jobs_dir, max_bytes=max_bytes), JournalReader(jobs_dir)
    writer.append(key(0), "QUEUED")  # the orchestrator opens the journal with its first change
    assert reader.start() is None
    return writer, reader


def test_the_writer_appends_one_json_line_per_change(tmp_path):
    writer = JournalWriter(tmp_path)
    writer.append(key(1), "QUEUED")
    writer.append(key(1), "RUNNING")
    lines = journal_path(tmp_path).read_bytes().splitlines()
    assert [(d["v"], d["jobKey"], d["state"]) for d in map(orjson.loads, lines)] == [
        (1, key(1), "QUEUED"),
        (1, key(1), "RUNNING"),
    ]


def test_the_reader_returns_the_jobs_named_after_it_started(tmp_path):
    writer, reader = follow(tmp_path)
    writer.append(key(1), "RUNNING")
    writer.append(key(2), "DONE")
    batch = reader.read()
    assert (batch.keys, batch.problem, batch.lines) == ({key(1), key(2)}, None, 2)
    assert reader.read().keys == set()


def test_a_line_still_being_written_is_read_once_complete(tmp_path):
    _writer, reader = follow(tmp_path)
    line = orjson.dumps({"v": 1, "at": "x", "jobKey": key(3), "state": "DONE"}) + b"\n"
    with open(journal_path(tmp_path), "ab") as f:
        f.write(line[:10])
        f.flush()
        assert reader.read().keys == set()
        f.write(line[10:])
    assert reader.read().keys == {key(3)}


def test_the_journal_stays_bounded_and_the_reader_follows_a_rotation(tmp_path):
    writer, reader = follow(tmp_path, max_bytes=1000)
    for n in range(1, 13):  # past 1000 bytes: one rotation
        writer.append(key(n), "DONE")
    batch = reader.read()
    assert batch.problem is None
    assert batch.keys == {key(n) for n in range(1, 13)}
    assert rotated_path(journal_path(tmp_path)).exists()
    for n in range(13, 60):  # many rotations: never more than two files, each bounded
        writer.append(key(n), "DONE")
    files = sorted(p.name for p in journal_path(tmp_path).parent.iterdir())
    assert files == ["changes.jsonl", "changes.jsonl.1"]
    assert all(p.stat().st_size < 1200 for p in journal_path(tmp_path).parent.iterdir())


def test_a_reader_that_fell_two_rotations_behind_says_it_must_rescan(tmp_path):
    writer, reader = follow(tmp_path, max_bytes=1000)
    for n in range(1, 30):
        writer.append(key(n), "DONE")
    assert "rotated past" in reader.read().problem
    writer.append(key(99), "DONE")
    assert reader.read() == type(reader.read())({key(99)}, None, 1)


def test_a_truncated_journal_is_reported_and_then_followed_from_its_start(tmp_path):
    writer, reader = follow(tmp_path)
    writer.append(key(1), "DONE")
    writer.append(key(2), "DONE")
    reader.read()
    with open(journal_path(tmp_path), "r+b") as f:
        f.truncate(0)
    writer.append(key(3), "DONE")
    batch = reader.read()
    assert "truncated" in batch.problem
    assert batch.keys == {key(3)}


def test_a_corrupt_line_is_reported_and_the_lines_around_it_still_count(tmp_path):
    writer, reader = follow(tmp_path)
    writer.append(key(1), "DONE")
    with open(journal_path(tmp_path), "ab") as f:
        f.write(b"\x00garbage{\n" + orjson.dumps({"jobKey": "../etc"}) + b"\n")
    writer.append(key(2), "DONE")
    batch = reader.read()
    assert "corrupt journal line" in batch.problem
    assert batch.keys == {key(1), key(2)}


def test_a_missing_journal_is_reported_until_it_appears(tmp_path):
    reader = JournalReader(tmp_path)
    assert "no change journal" in reader.start()
    assert "no change journal" in reader.read().problem
    writer = JournalWriter(tmp_path)
    writer.append(key(1), "DONE")
    assert "appeared" in reader.read().problem  # what came before it is covered by a rescan
    writer.append(key(2), "DONE")
    assert reader.read().keys == {key(2)}


def test_a_journal_deleted_while_followed_is_reported(tmp_path):
    _writer, reader = follow(tmp_path)
    journal_path(tmp_path).unlink()
    assert "no change journal" in reader.read().problem


def test_the_writer_survives_a_journal_it_cannot_write_and_says_so_once(tmp_path, caplog):
    (tmp_path / ".journal").write_text("a file where the folder should be")
    writer = JournalWriter(tmp_path)
    writer.append(key(1), "DONE")
    writer.append(key(2), "DONE")
    assert [r.message for r in caplog.records if "cannot be written" in r.message] != []
    assert len([r for r in caplog.records if "cannot be written" in r.message]) == 1
